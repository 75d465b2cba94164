/* Suishoupai maps: Leaflet with optional tiles, the boundary layer from /api/v1/boundaries,
   and GeoJSON point layers from the project's own endpoints. No tiles configured (or no
   network) still gives a useful map: street polygons with their names, and the points. */
(function () {
  "use strict";
  function config() {
    var el = document.getElementById("map-config");
    return el ? JSON.parse(el.textContent) : { tiles: "", attribution: "" };
  }
  function create(element, options) {
    options = options || {};
    var conf = config();
    var map = L.map(element, { zoomControl: true, attributionControl: !!conf.tiles });
    if (conf.tiles) {
      L.tileLayer(conf.tiles, { maxZoom: 19, attribution: conf.attribution }).addTo(map);
    }
    map.setView(options.center || [30.29, 120.17], options.zoom || 13);
    var boundaries = L.geoJSON(null, {
      style: { color: "#b91c1c", weight: 1.5, fillColor: "#fecaca", fillOpacity: conf.tiles ? 0.08 : 0.35 },
      onEachFeature: function (feature, layer) {
        layer.bindTooltip(feature.properties.name, { sticky: true });
      }
    }).addTo(map);
    var ready = fetch("/api/v1/boundaries", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { features: [] }; })
      .then(function (data) {
        boundaries.addData(data);
        if (!options.center && data.features && data.features.length) {
          map.fitBounds(boundaries.getBounds(), { padding: [8, 8] });
        }
        return map;
      });
    return { map: map, boundaries: boundaries, ready: ready };
  }
  /* Points (GeoJSON FeatureCollection) as circle markers; `popup(feature)` returns an element or text. */
  function points(map, data, options) {
    options = options || {};
    return L.geoJSON(data, {
      pointToLayer: function (feature, latlng) {
        var color = (options.color && options.color(feature)) || "#1d4ed8";
        return L.circleMarker(latlng, { radius: options.radius || 6, color: color, fillColor: color, fillOpacity: 0.8, weight: 1 });
      },
      onEachFeature: function (feature, layer) {
        if (options.popup) { layer.bindPopup(options.popup(feature)); }
      }
    }).addTo(map);
  }
  /* The page's CSRF token, for fetch() calls that change something through the API with the session. */
  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }
  window.SuishoupaiMap = { create: create, points: points, csrfToken: csrfToken };
})();
