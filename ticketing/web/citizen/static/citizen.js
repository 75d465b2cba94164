/* The citizen's report form: photo previews, the phone's position, a pin on the map; and the
   "copy the link" button of the answer. The form works without it (typed coordinates, or the
   photo's GPS position). */
(function () {
  "use strict";
  var i18nEl = document.getElementById("citizen-i18n");
  var t = i18nEl ? JSON.parse(i18nEl.textContent) : {};
  function say(key, n) { return (t[key] || "").replace("{n}", n); }
  function show(el) { if (el) { el.hidden = false; } }

  // ---- the answer: copy the tracking link
  var copy = document.getElementById("copy-link");
  if (copy && navigator.clipboard) {
    show(copy);
    copy.addEventListener("click", function () {
      var link = document.getElementById("tracking-link").value;
      navigator.clipboard.writeText(link).then(function () {
        document.getElementById("copy-status").textContent = t.copied || "";
      });
    });
  }

  // ---- the deputy's QR card: print it
  var print = document.getElementById("print-card");
  if (print) {
    show(print);
    print.addEventListener("click", function () { window.print(); });
  }

  var form = document.getElementById("citizen-form");
  if (!form) { return; }
  Array.prototype.forEach.call(form.querySelectorAll(".js-only"), show);

  // ---- photos: a preview of each chosen photo
  var input = document.getElementById("photos");
  var previews = document.getElementById("previews");
  var urls = [];
  input.addEventListener("change", function () {
    urls.forEach(function (u) { URL.revokeObjectURL(u); });
    urls = [];
    previews.textContent = "";
    var max = parseInt(input.getAttribute("data-max") || "9", 10);
    Array.prototype.forEach.call(input.files, function (file, i) {
      var li = document.createElement("li");
      var img = document.createElement("img");
      var url = URL.createObjectURL(file);
      urls.push(url);
      img.src = url;
      img.alt = say("photo_n", i + 1);
      li.appendChild(img);
      previews.appendChild(li);
    });
    input.setCustomValidity(input.files.length > max ? say("too_many") : "");
  });

  // ---- where: the phone's position, corrected by a pin on the map
  var lon = document.getElementById("lon");
  var lat = document.getElementById("lat");
  var status = document.getElementById("loc-status");
  var mapEl = document.getElementById("pin-map");
  var map = null;
  var pin = null;

  function setPoint(latlng, text) {
    lon.value = latlng.lng.toFixed(7);
    lat.value = latlng.lat.toFixed(7);
    if (map) {
      if (!pin) {
        pin = L.marker(latlng, { draggable: true, keyboard: true }).addTo(map);
        pin.on("dragend", function () { setPoint(pin.getLatLng(), say("pinned")); });
      } else {
        pin.setLatLng(latlng);
      }
    }
    status.textContent = text;
  }

  function initMap() {
    if (!window.SuishoupaiMap || !window.L || map) { return; }
    var made = window.SuishoupaiMap.create(mapEl, {});
    map = made.map;
    map.on("click", function (e) { setPoint(e.latlng, say("pinned")); });
    if (lon.value && lat.value) {
      var here = L.latLng(parseFloat(lat.value), parseFloat(lon.value));
      setPoint(here, say("pinned"));
      map.setView(here, 17);
    }
  }

  function locate() {
    if (!navigator.geolocation) { status.textContent = say("no_device"); return; }
    status.textContent = say("locating");
    navigator.geolocation.getCurrentPosition(function (pos) {
      var here = L.latLng(pos.coords.latitude, pos.coords.longitude);
      initMap();
      setPoint(here, say("located", Math.round(pos.coords.accuracy)));
      if (map) { map.setView(here, 17); }
    }, function () {
      status.textContent = say("no_device");
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  document.getElementById("locate").addEventListener("click", locate);
  window.addEventListener("load", function () {
    initMap();
    if (!lon.value) { locate(); }
  });
})();
