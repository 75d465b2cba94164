/* The ticket page's small map: the place, over the street boundaries (no tiles needed). */
(function () {
  "use strict";
  var el = document.getElementById("ticket-map");
  if (!el || !window.L || !window.SuishoupaiMap) { return; }
  var lon = parseFloat(el.getAttribute("data-lon")), lat = parseFloat(el.getAttribute("data-lat"));
  var map = window.SuishoupaiMap.create(el, { center: [lat, lon], zoom: 16 }).map;
  window.L.circleMarker([lat, lon], { radius: 8, color: "#b91c1c", fillColor: "#b91c1c", fillOpacity: 0.9 }).addTo(map);
})();
