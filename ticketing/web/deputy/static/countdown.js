/* Keeps the deadline countdowns of a page ticking, in the words the server used (countdown-config).
   Time runs from the server's clock at rendering, so a phone whose clock is off still counts right. */
(function () {
  "use strict";
  var config = document.getElementById("countdown-config");
  if (!config) { return; }
  var conf = JSON.parse(config.textContent);
  var f = conf.formats;
  var offset = Date.parse(conf.now) - Date.now();
  var soon = parseInt(f.soon_s, 10) * 1000;

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) { return f.dh.replace("{d}", days).replace("{h}", hours); }
    if (hours) { return f.hm.replace("{h}", hours).replace("{m}", mins); }
    return f.m.replace("{m}", mins);
  }

  function tick() {
    var now = Date.now() + offset;
    Array.prototype.forEach.call(document.querySelectorAll(".countdown[data-due]"), function (el) {
      var left = Date.parse(el.getAttribute("data-due")) - now;
      var text = el.querySelector(".text");
      if (!text) { return; }
      text.textContent = left < 0 ? f.over.replace("{s}", span(left)) : f.left.replace("{s}", span(left));
      /* Overdue turns red (and says so in words) without a reload. */
      if (left < 0 && !el.classList.contains("overdue")) { el.classList.remove("due-soon"); el.classList.add("overdue"); }
      else if (left >= 0 && left <= soon) { el.classList.add("due-soon"); }
    });
  }
  setInterval(tick, 30000);
})();
