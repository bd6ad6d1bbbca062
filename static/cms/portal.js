// Small helpers shared by portal pages. Live updates open a WebSocket to /ws/live/
// and apply out-of-band HTML fragments pushed by the server (no polling).
(function () {
  "use strict";
  function connectLive(path, onMessage) {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var delay = 500;
    function open() {
      var socket = new WebSocket(scheme + window.location.host + path);
      socket.onopen = function () { delay = 500; document.documentElement.dataset.live = "connected"; };
      socket.onmessage = function (event) { onMessage(JSON.parse(event.data), socket); };
      socket.onclose = function () {
        document.documentElement.dataset.live = "disconnected";
        setTimeout(open, delay); delay = Math.min(delay * 2, 10000);
      };
      return socket;
    }
    return open();
  }
  function applyFragments(message) {
    if (!message.html) { return; }
    var template = document.createElement("template");
    template.innerHTML = message.html.trim();
    // A copy: children is live and replaceWith() moves each node out of it, so
    // walking it directly skips every other fragment (a pushed pair of rows
    // applied only its first).
    Array.from(template.content.children).forEach(function (node) {
      if (!node.id) { return; }
      var target = document.getElementById(node.id);
      if (target) { target.replaceWith(node); if (window.htmx) { window.htmx.process(node); } }
    });
  }
  // Chart time axes show a station's times in the station's zone, whatever the
  // browser's zone: Chart.js' date adapter formats in the browser's zone, so each
  // instant becomes the Date whose local wall clock reads the station's (a time
  // inside the browser's own DST gap shows an hour off; the zone is named on the axis).
  var zoneFormats = {};
  function wallClock(value, zone) {
    var instant = new Date(value);
    if (!zone || isNaN(instant.getTime())) { return instant; }
    var format = zoneFormats[zone];
    if (!format) {
      format = zoneFormats[zone] = new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
    }
    var parts = {};
    format.formatToParts(instant).forEach(function (part) { parts[part.type] = part.value; });
    return new Date(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24,
                    +parts.minute, +parts.second, instant.getMilliseconds());
  }
  function timeAxisTitle(zone) { return "Time (" + (zone || "UTC") + ")"; }
  window.cms = { connectLive: connectLive, applyFragments: applyFragments,
                 wallClock: wallClock, timeAxisTitle: timeAxisTitle };
})();

// Behaviour declared with data-* attributes instead of inline handlers (the
// Content-Security-Policy allows no inline script): data-confirm on a form asks
// before it is submitted, data-autosubmit on a field submits its form on change,
// data-heat on a heatmap cell sets its shade.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.requestSubmit();
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-heat]").forEach(function (cell) {
      cell.style.backgroundColor = "rgba(43, 108, 176, " + Number(cell.dataset.heat) + ")";
    });
  });
})();

// Narrow screens: the navigation folds behind a Menu button (data-nav-toggle names
// the list it opens with aria-controls).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-nav-toggle]") : null;
    if (!button) { return; }
    var nav = document.getElementById(button.getAttribute("aria-controls"));
    if (!nav) { return; }
    var open = nav.classList.toggle("nav-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
