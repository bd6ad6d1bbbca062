// Live updates for the overview, live board, station and charge point pages.
// The server pushes {"event": {...}, "html": "<tr id=...>"} over /ws/live/; rows and
// panels are swapped by id (cms.applyFragments), the session chart gets a new point,
// and other scripts (e.g. the command console) can listen for "cms:live" events.
(function () {
  "use strict";
  var root = document.getElementById("live-root");
  if (!root || !window.cms) { return; }
  var chart = null;
  var canvas = document.getElementById("session-chart");
  var zone = canvas ? canvas.dataset.timeZone : "";
  function at(value) { return window.cms.wallClock(value, zone); }

  function setupChart() {
    var source = document.getElementById("session-chart-data");
    if (!canvas || !source || !window.Chart || canvas.hidden) { return; }
    var points = JSON.parse(source.textContent);
    chart = new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          { label: "Power (kW)", yAxisID: "power", borderColor: "#0b5cad", pointRadius: 0,
            data: points.map(function (p) { return { x: at(p.t), y: p.power_kw }; }) },
          { label: "Energy (kWh)", yAxisID: "energy", borderColor: "#1a7f37", pointRadius: 0,
            data: points.map(function (p) { return { x: at(p.t), y: p.energy_kwh }; }) }
        ]
      },
      options: {
        animation: false, spanGaps: true,
        responsive: true, maintainAspectRatio: false,  // the box sets the height (280 px)
        scales: {
          x: { type: "time", title: { display: true, text: window.cms.timeAxisTitle(zone) },
               time: { tooltipFormat: "yyyy-MM-dd HH:mm:ss", displayFormats: { minute: "HH:mm", hour: "HH:mm" } },
               ticks: { maxTicksLimit: 12 } },
          power: { position: "left", beginAtZero: true, title: { display: true, text: "kW" } },
          energy: { position: "right", beginAtZero: true, title: { display: true, text: "kWh" },
                    grid: { drawOnChartArea: false } }
        }
      }
    });
  }

  var chartedEnded = false;

  function followNewSession(event) {
    var id = String(event.session_id);
    if (id === canvas.dataset.session) {
      chartedEnded = event.status !== "active";
      return;
    }
    // A session that starts while the page is open gets the chart, unless the
    // charted one is still running (then the page keeps following that one).
    if (event.status !== "active") { return; }
    if (canvas.dataset.session && !chartedEnded) { return; }
    chartedEnded = false;
    canvas.dataset.session = String(event.session_id);
    canvas.hidden = false;
    var empty = document.getElementById("session-chart-empty");
    if (empty) { empty.hidden = true; }
    if (chart) {
      chart.data.datasets.forEach(function (dataset) { dataset.data = []; });
    } else {
      setupChart();
    }
  }

  function addChartPoint(event) {
    if (!canvas || event.kind !== "session.updated") { return; }
    followNewSession(event);
    if (!chart || String(event.session_id) !== canvas.dataset.session) { return; }
    var when = at(event.last_meter_at || event.at || new Date().toISOString());
    if (event.power_w !== null && event.power_w !== undefined) {
      chart.data.datasets[0].data.push({ x: when, y: event.power_w / 1000 });
    }
    if (event.energy_wh !== null && event.energy_wh !== undefined) {
      chart.data.datasets[1].data.push({ x: when, y: event.energy_wh / 1000 });
    }
    chart.update("none");
  }

  function onMessage(message) {
    window.cms.applyFragments(message);
    var event = message.event;
    if (event) {
      addChartPoint(event);
      root.dataset.lastEvent = event.kind || "";
      document.dispatchEvent(new CustomEvent("cms:live", { detail: message }));
    }
  }

  setupChart();
  window.cms.connectLive(root.dataset.livePath, onMessage);
})();
