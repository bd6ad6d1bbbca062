// Session page, live: energy, power, state of charge, duration and cost so far
// follow the charger. Each pushed event of this session (over /ws/live/) re-reads
// the session's figures from live.json; while the session runs they are also
// re-read every 15 s, so duration and idle cost tick without meter values.
(function () {
  "use strict";
  var root = document.querySelector("[data-session-live]");
  if (!root || !window.cms) { return; }
  var sessionId = root.dataset.sessionId;
  var url = root.dataset.liveUrl;
  var pending = false;

  function apply(figures) {
    Object.keys(figures).forEach(function (name) {
      root.querySelectorAll('[data-live-field="' + name + '"]').forEach(function (node) {
        node.textContent = figures[name];
      });
    });
    root.dataset.status = figures.status;
    if (!figures.is_open) {
      root.querySelectorAll("[data-while-open]").forEach(function (node) { node.hidden = true; });
    }
  }

  function refresh() {
    if (pending) { return; }
    pending = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (figures) { if (figures) { apply(figures); } })
      .catch(function () { /* the next event or tick tries again */ })
      .finally(function () { pending = false; });
  }

  window.cms.connectLive(root.dataset.livePath, function (message) {
    var event = message.event;
    if (!event) { return; }
    if (String(event.session_id) === sessionId || event.kind === "command.finished") {
      refresh();
    }
  });
  window.setInterval(function () {
    if (root.dataset.status === "active") { refresh(); }
  }, 15000);
})();
