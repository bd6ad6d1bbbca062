// Site power chart (smart charging): the limit, and per connector the allocated
// (dashed) and measured (solid) power. History comes from series.json; new plans
// ("smart.plan") and meter readings ("session.updated") arrive live over /ws/live/,
// either through the page's own live socket ("cms:live" events) or a socket of ours.
(function () {
  "use strict";
  var box = document.querySelector("[data-smart-chart]");
  var canvas = document.getElementById("smart-chart");
  if (!box || !canvas || !window.Chart) { return; }
  var COLORS = ["#0b5cad", "#1a7f37", "#8250df", "#bf8700", "#cf222e", "#0a7b83", "#953800", "#57606a"];
  var minutes = 60;
  var connectors = {};   // connector id -> {label, index}
  var byCharger = {};    // "cp:number" -> connector id
  var chart = null;
  var zone = box.dataset.timeZone || "";
  function at(value) { return window.cms.wallClock(value, zone); }

  function kw(w) { return w === null || w === undefined ? null : w / 1000; }

  function limitDataset() {
    return { label: "Site limit", borderColor: "#cf222e", borderWidth: 2, pointRadius: 0,
             stepped: true, data: [] };
  }

  function addConnector(info) {
    if (connectors[info.id]) { return connectors[info.id]; }
    var index = Object.keys(connectors).length;
    var color = COLORS[index % COLORS.length];
    var entry = { label: info.label, allocated: chart.data.datasets.length,
                  measured: chart.data.datasets.length + 1 };
    chart.data.datasets.push(
      { label: info.label + " allocated", borderColor: color, borderDash: [6, 4],
        pointRadius: 0, stepped: true, data: [] },
      { label: info.label + " measured", borderColor: color, pointRadius: 0, data: [] }
    );
    connectors[info.id] = entry;
    if (info.charge_point_pk !== undefined) {
      byCharger[info.charge_point_pk + ":" + info.connector_number] = info.id;
    }
    return entry;
  }

  function addPoint(point) {
    var t = at(point.t || point.at);
    chart.data.datasets[0].data.push({ x: t, y: kw(point.limit_w) });
    var shares = point.connectors || {};
    Object.keys(shares).forEach(function (id) {
      var entry = connectors[id];
      if (!entry) { return; }
      chart.data.datasets[entry.allocated].data.push({ x: t, y: kw(shares[id].allocated_w) });
      if (shares[id].measured_w !== null && shares[id].measured_w !== undefined) {
        chart.data.datasets[entry.measured].data.push({ x: t, y: kw(shares[id].measured_w) });
      }
    });
  }

  function trim() {
    var cutoff = at(Date.now() - minutes * 60000).getTime();
    chart.data.datasets.forEach(function (dataset) {
      while (dataset.data.length && dataset.data[0].x.getTime() < cutoff) {
        dataset.data.shift();
      }
    });
  }

  function build() {
    chart = new window.Chart(canvas, {
      type: "line",
      data: { datasets: [limitDataset()] },
      options: {
        animation: false, spanGaps: true, parsing: true,
        responsive: true, maintainAspectRatio: false,  // the box sets the height (280 px)
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "time", title: { display: true, text: window.cms.timeAxisTitle(zone) },
               time: { tooltipFormat: "yyyy-MM-dd HH:mm:ss", displayFormats: { second: "HH:mm:ss", minute: "HH:mm", hour: "HH:mm" } },
               ticks: { maxTicksLimit: 10 } },
          y: { beginAtZero: true, title: { display: true, text: "kW" } }
        }
      }
    });
  }

  function load() {
    fetch(box.dataset.seriesUrl + "?minutes=" + minutes, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (series) {
        if (!series) { return; }
        if (chart) { chart.destroy(); }
        connectors = {}; byCharger = {};
        build();
        series.connectors.forEach(addConnector);
        series.points.forEach(addPoint);
        chart.update();
      });
  }

  function onEvent(event) {
    if (!chart || !event) { return; }
    if (event.kind === "smart.plan") {
      var shares = {};
      (event.connectors || []).forEach(function (row) {
        addConnector({ id: row.connector_pk, label: row.label });
        shares[row.connector_pk] = row;
      });
      addPoint({ at: event.at, limit_w: event.limit_w, connectors: shares });
    } else if (event.kind === "session.updated" && event.power_w !== undefined) {
      var id = byCharger[event.charge_point_pk + ":" + event.connector_number];
      if (!id || !connectors[id]) { return; }
      chart.data.datasets[connectors[id].measured].data.push(
        { x: at(Date.now()), y: kw(event.power_w) });
    } else {
      return;
    }
    trim();
    chart.update("none");
  }

  box.querySelectorAll("button[data-minutes]").forEach(function (button) {
    button.addEventListener("click", function () {
      minutes = parseInt(button.dataset.minutes, 10) || 60;
      load();
    });
  });

  load();
  if (document.getElementById("live-root")) {
    // The station page already holds a live socket; listen to what it receives.
    document.addEventListener("cms:live", function (e) { onEvent((e.detail || {}).event); });
  } else if (window.cms && window.cms.connectLive) {
    window.cms.connectLive(box.dataset.livePath.replace(/&amp;/g, "&"), function (message) {
      onEvent(message.event);
    });
  }
}());
