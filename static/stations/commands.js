// Command console: rows of pending commands are re-fetched when the charger's
// "command.finished" live event arrives; 422 form answers are swapped in (they
// carry the form with its errors); the composite schedule becomes a step chart.
(function () {
  "use strict";
  if (window.cmsCommandsLoaded) { return; }
  window.cmsCommandsLoaded = true;

  function refreshRow(commandId) {
    var row = document.getElementById("command-" + commandId);
    if (!row || !window.htmx) { return; }
    window.htmx.ajax("GET", row.dataset.rowUrl, { target: row, swap: "outerHTML" });
  }

  function onEvent(event) {
    if (event && event.kind === "command.finished") { refreshRow(event.command_id); }
  }

  // On the charge point page live.js owns the socket and re-dispatches events.
  document.addEventListener("cms:live", function (e) { onEvent(e.detail && e.detail.event); });

  // Pages without live.js (history, configuration) open their own socket.
  document.addEventListener("DOMContentLoaded", function () {
    var own = document.getElementById("live-commands");
    if (own && window.cms && !document.getElementById("live-root")) {
      window.cms.connectLive(own.dataset.livePath, function (message) { onEvent(message.event); });
    }
    drawComposite();
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status === 422) { e.detail.shouldSwap = true; e.detail.isError = false; }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var empty = document.getElementById("command-none");
    if (empty && e.detail.target && e.detail.target.id === "command-rows") { empty.remove(); }
  });

  function drawComposite() {
    var source = document.getElementById("composite-data");
    var canvas = document.getElementById("composite-chart");
    if (!source || !canvas || !window.Chart) { return; }
    var schedule = JSON.parse(source.textContent);
    var periods = schedule.periods || [];
    var points = periods.map(function (p) { return { x: p.start_s / 60, y: p.limit }; });
    if (points.length && schedule.duration_s) {
      points.push({ x: schedule.duration_s / 60, y: periods[periods.length - 1].limit });
    }
    new window.Chart(canvas, {
      type: "line",
      data: { datasets: [{ label: "Limit (" + schedule.rate_unit + ")", data: points,
                           stepped: "after", borderColor: "#0b5cad", pointRadius: 2 }] },
      options: { animation: false, scales: {
        x: { type: "linear", title: { display: true, text: "Minutes from schedule start" } },
        y: { beginAtZero: true, title: { display: true, text: schedule.rate_unit } } } }
    });
  }
})();
