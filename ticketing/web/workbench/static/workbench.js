/* The workbench's ticket page: the map of the spot and earlier tickets, and photo inputs that
   collect several camera shots (a `capture` input replaces its file on each shot, so the files
   chosen so far are kept in a DataTransfer and shown as previews). Without JS the forms work too. */
(function () {
  "use strict";

  function drawMap() {
    var el = document.getElementById("ticket-map");
    var dataEl = document.getElementById("wb-map-data");
    if (!el || !dataEl || !window.SuishoupaiMap || !window.L) { return; }
    var data = JSON.parse(dataEl.textContent);
    var center = [parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)];
    var made = SuishoupaiMap.create(el, { center: center, zoom: 16 });
    SuishoupaiMap.points(made.map, data, {
      radius: 7,
      color: function (f) { return f.properties.current ? "#b91c1c" : "#1d4ed8"; },
      popup: function (f) {
        var box = document.createElement("span");
        box.textContent = f.properties.number + " · " + f.properties.state;
        return box;
      }
    });
  }

  function collectPhotos(input) {
    var list = document.querySelector('[data-previews-for="' + input.id + '"]');
    if (typeof DataTransfer === "undefined") { return; }
    var kept = new DataTransfer();

    function render() {
      if (!list) { return; }
      list.textContent = "";
      Array.prototype.forEach.call(kept.files, function (file, index) {
        var item = document.createElement("li");
        var img = document.createElement("img");
        img.alt = file.name;
        if (file.type.indexOf("image/") === 0) { img.src = URL.createObjectURL(file); }
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "secondary";
        remove.textContent = "×";
        remove.setAttribute("aria-label", (document.documentElement.lang === "en" ? "Remove " : "移除 ") + file.name);
        remove.addEventListener("click", function () {
          var next = new DataTransfer();
          Array.prototype.forEach.call(kept.files, function (f, i) { if (i !== index) { next.items.add(f); } });
          kept = next;
          input.files = kept.files;
          render();
        });
        item.appendChild(img);
        item.appendChild(remove);
        list.appendChild(item);
      });
    }

    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (f) {
        var dup = Array.prototype.some.call(kept.files, function (k) {
          return k.name === f.name && k.size === f.size && k.lastModified === f.lastModified;
        });
        if (!dup) { kept.items.add(f); }
      });
      input.files = kept.files;
      render();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawMap();
    Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-accumulate]"), collectPhotos);
  });
})();
