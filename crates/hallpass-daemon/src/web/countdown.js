// Live countdown for active access; the page works without it (the server renders the time left).
(function () {
  function fmt(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
  }
  function tick() {
    var els = document.querySelectorAll("[data-expires]");
    for (var i = 0; i < els.length; i++) {
      var left = Date.parse(els[i].getAttribute("data-expires")) - Date.now();
      els[i].textContent = fmt(left);
      // Reload once the time is up (not forever when the clocks disagree).
      if (left <= 0 && left > -10000) { window.location.reload(); return; }
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[data-expires]")) { tick(); setInterval(tick, 1000); }
  });
})();
