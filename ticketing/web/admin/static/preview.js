/* The boundary preview: the generation's polygons (blue) from the admin-only GeoJSON endpoint,
   over the active generation (red, drawn by SuishoupaiMap), zoomed to the generation. */
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("preview-map");
    if (!el || !window.L || !window.SuishoupaiMap) { return; }
    var made = SuishoupaiMap.create(el, { center: [30.29, 120.17], zoom: 12 });
    fetch(el.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { features: [] }; })
      .then(function (data) {
        var layer = L.geoJSON(data, {
          style: { color: "#1d4ed8", weight: 2, fillColor: "#93c5fd", fillOpacity: 0.3, dashArray: "4 3" },
          onEachFeature: function (f, l) { l.bindTooltip(f.properties.name + " (" + f.properties.code + ")", { sticky: true }); }
        }).addTo(made.map);
        if (data.features.length) { made.map.fitBounds(layer.getBounds(), { padding: [8, 8] }); }
        el.setAttribute("data-features", String(data.features.length));
        made.ready.then(function () { layer.bringToFront(); el.setAttribute("data-ready", "true"); });
      });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
