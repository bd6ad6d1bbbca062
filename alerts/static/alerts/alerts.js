// Live alert inbox: the badge and the table follow /ws/alerts/ pushes (no polling).
(function () {
  "use strict";
  function start() {
    if (!window.cms || !window.cms.connectLive) { return; }
    // Loaded once per page (base.html); updates the top-bar badge and the inbox's.
    if (window.cms.alertsLive) { return; }
    window.cms.alertsLive = true;
    window.cms.connectLive("/ws/alerts/", function (message) {
      if (typeof message.badge === "number") {
        document.querySelectorAll("[data-alert-badge], #alert-badge").forEach(function (badge) {
          badge.textContent = String(message.badge);
          badge.classList.toggle("has-alerts", message.badge > 0);
        });
      }
      if (message.kind === "alert.changed") {
        document.body.dispatchEvent(new CustomEvent("alerts-changed"));
      }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
