/* The dashboard's map: open tickets of the view, coloured by urgency, from /supervision/map.geojson.
   Each popup says in words what the colour says, and links to the ticket. */
(function () {
  "use strict";
  var COLOURS = { overdue: "#b91c1c", due_soon: "#d97706", returned: "#7c3aed", resolved: "#15803d", open: "#1d4ed8" };
  function kind(p) {
    if (p.deadline === "overdue" || p.deadline === "due_soon") { return p.deadline; }
    if (p.state === "returned" || p.state === "resolved") { return p.state; }
    return "open";
  }
  function line(text, strong) {
    var el = document.createElement("p");
    if (strong) { var b = document.createElement("strong"); b.textContent = text; el.appendChild(b); }
    else { el.textContent = text; }
    return el;
  }
  function popup(feature) {
    var p = feature.properties, box = document.createElement("div"), a = document.createElement("a");
    a.href = p.url; a.textContent = p.number;
    var head = document.createElement("p"); head.appendChild(a); box.appendChild(head);
    box.appendChild(line(p.category + " · " + p.unit));
    box.appendChild(line(p.state_label));
    if (p.deadline) { box.appendChild(line(p.deadline_label, true)); }
    return box;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("ticket-map");
    if (!el || !window.SuishoupaiMap || !window.L) { return; }
    // The points first: with some, the map opens on them (the boundary layer then does not
    // refit the view); with none, it shows the whole area of the boundaries.
    fetch(el.getAttribute("data-src"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { type: "FeatureCollection", features: [] }; })
      .then(function (data) {
        var bounds = data.features.length ? L.geoJSON(data).getBounds() : null;
        var made = window.SuishoupaiMap.create(el, bounds ? { center: bounds.getCenter(), zoom: 13 } : {});
        var layer = window.SuishoupaiMap.points(made.map, data, {
          color: function (f) { return COLOURS[kind(f.properties)]; },
          popup: popup,
          radius: 7
        });
        // The boundary layer arrives later and would be drawn (and clicked) over the points.
        if (bounds) { made.map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15, animate: false }); }
        made.ready.then(function () {
          layer.bringToFront();
          el.setAttribute("data-points", String(data.features.length));  // drawn: tests wait for this
        });
      });
  });
})();
