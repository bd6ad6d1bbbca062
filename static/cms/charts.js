// Charts of the session, report and availability-day pages. Each canvas names its
// kind (data-chart) and the json_script element holding its data (data-chart-data);
// no inline script, so the Content-Security-Policy allows only the portal's files.
(function () {
  "use strict";
  function readData(canvas) {
    return JSON.parse(document.getElementById(canvas.dataset.chartData).textContent);
  }
  var builders = {
    session: function (canvas, data) {
      var hasSoc = data.soc.some(function (v) { return v !== null; });
      var datasets = [
        { label: "Energy (kWh)", data: data.energy_kwh, yAxisID: "energy", borderColor: "#0b5cad", backgroundColor: "#0b5cad", spanGaps: true, pointRadius: 0 },
        { label: "Power (kW)", data: data.power_kw, yAxisID: "power", borderColor: "#1a7f37", backgroundColor: "#1a7f37", spanGaps: true, pointRadius: 0 }
      ];
      if (hasSoc) {
        datasets.push({ label: "SoC (%)", data: data.soc, yAxisID: "soc", borderColor: "#9a6700", backgroundColor: "#9a6700", spanGaps: true, pointRadius: 0 });
      }
      return {
        type: "line",
        data: { labels: data.labels, datasets: datasets },
        options: {
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            x: { title: { display: true, text: window.cms.timeAxisTitle(canvas.dataset.timeZone) }, ticks: { maxTicksLimit: 12 } },
            energy: { type: "linear", position: "left", title: { display: true, text: "kWh" }, beginAtZero: true },
            power: { type: "linear", position: "right", title: { display: true, text: "kW" }, beginAtZero: true, grid: { drawOnChartArea: false } },
            soc: { type: "linear", display: hasSoc, position: "right", min: 0, max: 100, title: { display: true, text: "%" }, grid: { drawOnChartArea: false } }
          }
        }
      };
    },
    report: function (canvas, data) {
      var colours = ["#2b6cb0", "#38a169", "#d69e2e"];
      return {
        type: data.type,
        data: {
          labels: data.labels,
          datasets: Object.keys(data.series).map(function (name, index) {
            return { label: name, data: data.series[name], backgroundColor: colours[index % colours.length] };
          })
        },
        options: { animation: false, scales: { y: { beginAtZero: true } } }
      };
    },
    windows: function (canvas, data) {
      return {
        type: "line",
        data: { labels: data.labels, datasets: [{ label: "Availability %", data: data.values, stepped: true, borderColor: "#2b6cb0", pointRadius: 0 }] },
        // Labels are the station's 5-minute windows, formatted in its zone.
        options: { animation: false, scales: {
          x: { title: { display: true, text: window.cms.timeAxisTitle(canvas.dataset.timeZone) } },
          y: { min: 0, max: 100 } } }
      };
    }
  };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var build = builders[canvas.dataset.chart];
      if (build && window.Chart) { new window.Chart(canvas, build(canvas, readData(canvas))); }
    });
  });
})();
