/* The cockpit's heat map: square cells with report counts from /cockpit/heat.json, drawn over the
   street boundaries. The server has already withheld sparse cells; nothing here sees a ticket. */
(function () {
  "use strict";
  var COLOURS = ["#fde68a", "#f59e0b", "#dc2626", "#7f1d1d"];
  function colour(count, max) {
    var share = max > 0 ? count / max : 0;
    return COLOURS[Math.min(COLOURS.length - 1, Math.floor(share * COLOURS.length))];
  }
  function draw() {
    var el = document.getElementById("heat-map");
    if (!el || !window.L || !window.SuishoupaiMap) { return; }
    var label = el.getAttribute("data-label") || "{n}";
    fetch(el.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { features: [] }; })
      .then(function (data) {
        var max = 0;
        data.features.forEach(function (f) { max = Math.max(max, f.properties.count); });
        var layer = L.geoJSON(data, {
          style: function (f) {
            var c = colour(f.properties.count, max);
            return { color: c, weight: 1, fillColor: c, fillOpacity: 0.75 };
          },
          onEachFeature: function (f, l) { l.bindTooltip(label.replace("{n}", f.properties.count)); }
        });
        // With cells, the map opens on them (reports gather in a few streets: the whole city would
        // make them specks); giving a centre also keeps the map helper from fitting the boundaries.
        var bounds = data.features.length ? layer.getBounds() : null;
        var made = SuishoupaiMap.create(el, bounds ? { center: bounds.getCenter(), zoom: 14 } : {});
        if (bounds) { made.map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15, animate: false }); }
        layer.addTo(made.map);
        el.setAttribute("data-cells", String(data.features.length));
        // The boundaries arrive later and would cover the cells: bring the cells back on top.
        made.ready.then(function () { layer.bringToFront(); el.setAttribute("data-ready", "true"); });
      });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
