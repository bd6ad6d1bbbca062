// The station map: markers coloured by live availability (stations.live.map).
// Reads the stations from data-data-url, draws them with Leaflet, and reads them
// again when the overview's live socket reports a connector or connection
// change. Without data-tile-url the map has no background tiles.
(function () {
  "use strict";
  var element = document.getElementById("station-map");
  if (!element || !window.L) { return; }
  var map = window.L.map(element, { zoomControl: true, attributionControl: !!element.dataset.tileUrl });
  if (element.dataset.tileUrl) {
    window.L.tileLayer(element.dataset.tileUrl, {
      maxZoom: 19, attribution: element.dataset.tileAttribution || ""
    }).addTo(map);
  }
  var layer = window.L.layerGroup().addTo(map);
  var fitted = false;
  var COLOURS = {
    available: "#2f855a", occupied: "#2b6cb0", out_of_order: "#c53030",
    offline: "#4a5568", unknown: "#a0aec0"
  };

  function text(tag, value) {
    var node = document.createElement(tag);
    node.textContent = value;
    return node;
  }

  function popup(station) {
    var box = document.createElement("div");
    var link = document.createElement("a");
    link.href = station.url;
    link.textContent = station.name;
    box.appendChild(link);
    box.appendChild(text("div", station.network + (station.address ? " · " + station.address : "")));
    box.appendChild(text("div", station.available + " available, " + station.occupied + " in use, " +
      station.out_of_order + " out of order, " + station.offline + " offline (of " + station.connectors + ")"));
    return box;
  }

  function draw(stations) {
    layer.clearLayers();
    element.dataset.markers = String(stations.length);
    var bounds = [];
    stations.forEach(function (station) {
      var marker = window.L.circleMarker([station.latitude, station.longitude], {
        radius: 9, weight: 2, color: "#fff", fillOpacity: 0.9,
        fillColor: COLOURS[station.state] || COLOURS.unknown,
        className: "station-marker station-" + station.id + " state-" + station.state
      });
      marker.bindPopup(popup(station));
      marker.bindTooltip(station.name + ": " + station.available + " of " + station.connectors + " available");
      marker.addTo(layer);
      bounds.push([station.latitude, station.longitude]);
    });
    if (!fitted) {
      if (bounds.length) { map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14 }); }
      else { map.setView([50, 10], 4); }
      fitted = true;
    }
  }

  var loading = null;
  var again = false;
  function load() {
    if (loading) { again = true; return; }
    loading = fetch(element.dataset.dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { stations: [] }; })
      .then(function (data) {
        draw(data.stations || []);
        element.dataset.loads = String(Number(element.dataset.loads || 0) + 1);
      })
      .catch(function () {})
      .then(function () {
        loading = null;
        if (again) { again = false; load(); }
      });
  }

  var timer = null;
  function soon() {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; load(); }, 300);
  }

  load();
  if (window.cms && element.dataset.livePath) {
    window.cms.connectLive(element.dataset.livePath, function (message) {
      var kind = message.event && message.event.kind;
      element.dataset.lastEvent = kind || "";
      if (kind === "connector.status" || kind === "charge_point.connection") { soon(); }
    });
  }
})();
