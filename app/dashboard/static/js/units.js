// Units (status changes for operators on duty) and the protection matrix (read-only).
import { api, can } from "./api.js";
import { el, fill, toast } from "./dom.js";
import { label, t, when } from "./i18n.js";

const STATUSES = ["available", "committed", "offline"];

/** The units view; `onUnits(units)` after every load (the map shows them). */
export function createUnits({ user, onUnits }) {
  const body = document.querySelector("#unit-table tbody");
  let units = [];

  async function load() {
    units = await api("/api/v1/units");
    render();
    onUnits(units);
  }

  function render() {
    fill(body, ...units.map((unit) => el("tr", { dataset: { unit: unit.id } },
      el("td", { text: unit.name }),
      el("td", { text: label("kind", unit.kind) }),
      el("td", { text: unit.sector || "—" }),
      el("td", { text: unit.place || "—" }),
      el("td", { text: label("mobility", unit.mobility) }),
      el("td", {}, status(unit)),
      el("td", { text: when(unit.position_at) }))));
  }

  function status(unit) {
    const select = el("select", { disabled: !can(user, "operator"), attrs: { "aria-label": t("col.status") },
      on: { change: () => change(unit, select) } },
    ...STATUSES.map((s) => el("option", { value: s, text: label("unitStatus", s), selected: s === unit.status })));
    return select;
  }

  async function change(unit, select) {
    select.disabled = true;
    try {
      const updated = await api(`/api/v1/units/${unit.id}`, { method: "PATCH", json: { status: select.value } });
      // The answer is the unit as changed; a list read at once might not show the change yet (it commits last).
      units = units.map((u) => (u.id === updated.id ? updated : u));
      toast(t("done.unit", { name: updated.name, status: label("unitStatus", updated.status) }));
      render();
      onUnits(units);
    } catch (error) {
      toast(t("error.action", { detail: error.message }), true);
      await load().catch(() => {});
    }
  }

  window.addEventListener("kengele:language", render);
  return { load };
}

/** The zones view; `onZones(collection)` after loading (the map shows them). */
export function createZones({ onZones }) {
  const body = document.querySelector("#zone-table tbody");
  let features = [];

  async function load() {
    const collection = await api("/api/v1/zones");
    features = collection.features;
    render();
    onZones(collection);
  }

  function render() {
    fill(body, ...features.map((f) => el("tr", {},
      el("td", { text: f.properties.name || String(f.id) }),
      el("td", { text: f.properties.protection ? t("zones.zone") : t("zones.site") }),
      el("td", { text: f.properties.protection ? label("protection", f.properties.protection)
        : label("site", f.properties.site) }))));
  }

  window.addEventListener("kengele:language", render);
  return { load };
}
