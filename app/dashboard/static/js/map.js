// The map: a bundled outline of the Central African Republic (no tile server needed), incidents by priority,
// units by status, protection zones by class, roads (closed ones dashed). Labels are DOM nodes, never HTML.
import { el } from "./dom.js";
import { label, t, when } from "./i18n.js";

const BASEMAP = "/dashboard/static/vendor/basemap/car.geojson";
const CAR_BOUNDS = [[2.2, 14.4], [11.1, 27.5]];
const PRIORITY = { P1: "#c62828", P2: "#e65100", P3: "#f9a825", P4: "#1565c0" };
const UNIT = { available: "#2e7d32", committed: "#e65100", offline: "#9e9e9e" };
const ZONE = { must: "#c62828", should: "#e65100", could: "#f9a825" };

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const tip = (...lines) => el("div", {}, ...lines.flatMap((line, i) => (i ? [el("br"), line] : [line])));

/** A Leaflet map in `container`; `onSelect(ref)` when an incident marker is clicked. */
export function createMap(container, { onSelect, tileUrl, tileAttribution }) {
  const L = window.L;
  const map = L.map(container, { zoomSnap: 0.5, minZoom: 5, maxZoom: 16 }).fitBounds(CAR_BOUNDS);
  map.attributionControl.setPrefix("Leaflet");
  // Incidents above everything else drawn, whatever order the data arrives in (Leaflet's overlays sit at 400).
  map.createPane("incidents").style.zIndex = 450;
  if (tileUrl) {
    // Leaflet puts attributions in as HTML: the configured text is escaped first.
    L.tileLayer(tileUrl, { attribution: escapeHtml(tileAttribution || ""), maxZoom: 16 }).addTo(map);
  }
  const layers = {
    zones: L.layerGroup().addTo(map),
    roads: L.layerGroup().addTo(map),
    units: L.layerGroup().addTo(map),
    incidents: L.layerGroup().addTo(map),
  };
  const focus = L.layerGroup().addTo(map);
  let control = null;
  let data = { incidents: [], units: [], zones: null, roads: null };

  fetch(BASEMAP, { credentials: "same-origin" }).then((r) => r.json()).then((outline) => {
    L.geoJSON(outline, {
      interactive: false,
      attribution: "Natural Earth",
      style: (f) => f.properties.role === "country"
        ? { color: "#37474f", weight: 2, fillColor: "#fbfaf5", fillOpacity: tileUrl ? 0 : 1 }
        : { color: "#90a4ae", weight: 1, fillColor: "#eceff1", fillOpacity: tileUrl ? 0 : 1 },
    }).addTo(map).bringToBack();
  });

  function drawControl() {
    control?.remove();
    // Layer names are this page's own dictionary strings (Leaflet shows them as HTML), never server data.
    control = L.control.layers(null, {
      [escapeHtml(t("map.incidents"))]: layers.incidents,
      [escapeHtml(t("map.units"))]: layers.units,
      [escapeHtml(t("map.zones"))]: layers.zones,
      [escapeHtml(t("map.roads"))]: layers.roads,
    }, { collapsed: true }).addTo(map);
  }

  function drawIncidents() {
    layers.incidents.clearLayers();
    // The least urgent first, so that P1 markers sit on top.
    for (const incident of [...data.incidents].reverse()) {
      if (incident.lat === null || incident.lon === null) continue;
      const colour = PRIORITY[incident.priority] || "#757575";
      L.circleMarker([incident.lat, incident.lon], {
        radius: incident.priority === "P1" ? 10 : 8, color: "#fff", weight: 2, fillColor: colour, fillOpacity: 0.95,
        pane: "incidents",
      })
        .bindTooltip(tip(`${incident.ref} · ${incident.priority || "—"}`, label("category", incident.category),
          incident.place || "", when(incident.last_report_at)))
        .on("click", () => onSelect(incident.ref))
        .addTo(layers.incidents);
    }
  }

  function drawUnits() {
    layers.units.clearLayers();
    for (const unit of data.units) {
      L.circleMarker([unit.lat, unit.lon], {
        radius: 5, color: "#263238", weight: 1, fillColor: UNIT[unit.status] || "#9e9e9e", fillOpacity: 1,
      })
        .bindTooltip(tip(unit.name, `${label("kind", unit.kind)} · ${label("unitStatus", unit.status)}`))
        .addTo(layers.units);
    }
  }

  function drawZones() {
    layers.zones.clearLayers();
    if (!data.zones) return;
    L.geoJSON(data.zones, {
      style: (f) => {
        const colour = ZONE[f.properties.protection] || "#6a1b9a";
        return { color: colour, weight: 1, fillColor: colour, fillOpacity: 0.12 };
      },
      pointToLayer: (f, latlng) => L.circle(latlng, { radius: f.properties.radius_m || 500 }),
      onEachFeature: (f, layer) => layer.bindTooltip(tip(f.properties.name || String(f.id),
        f.properties.protection ? label("protection", f.properties.protection) : label("site", f.properties.site))),
    }).addTo(layers.zones);
  }

  function drawRoads() {
    layers.roads.clearLayers();
    if (!data.roads) return;
    L.geoJSON(data.roads, {
      style: (f) => f.properties.closed
        ? { color: "#c62828", weight: 3, dashArray: "6 6" }
        : { color: "#8d6e63", weight: 2, opacity: 0.8 },
      onEachFeature: (f, layer) => layer.bindTooltip(tip(f.properties.name || f.properties.key,
        f.properties.closed ? t("map.closed") : label("highway", f.properties.highway))),
    }).addTo(layers.roads);
  }

  drawControl();
  window.addEventListener("kengele:language", () => {
    drawControl();
    drawIncidents();
    drawUnits();
    drawZones();
    drawRoads();
  });

  return {
    setIncidents(items) {
      data.incidents = items;
      drawIncidents();
    },
    setUnits(units) {
      data.units = units;
      drawUnits();
    },
    setZones(collection) {
      data.zones = collection;
      drawZones();
    },
    setRoads(collection) {
      data.roads = collection;
      drawRoads();
    },
    /** Centre on an incident and draw how precisely it is placed. */
    focus(incident) {
      focus.clearLayers();
      if (!incident || incident.lat === null || incident.lon === null) return;
      const radius = incident.ring_m || incident.precision_m;
      if (radius) {
        L.circle([incident.lat, incident.lon], { radius, color: "#0b5394", weight: 1, fillOpacity: 0.05,
          interactive: false }).addTo(focus);
      }
      map.setView([incident.lat, incident.lon], Math.max(map.getZoom(), 8));
    },
    resize: () => map.invalidateSize(),
  };
}
