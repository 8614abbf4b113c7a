// Operator warnings: one number flooding, or a burst of first-time numbers in one area (a possible decoy).
import { api, can, polled } from "./api.js";
import { el, fill, toast } from "./dom.js";
import { label, t, when } from "./i18n.js";

const REFRESH_MS = 30_000; // also read again at once when the live feed announces a new warning

/** The warnings view, and the count of unacknowledged warnings in its tab. */
export function createWarnings({ user, onOpen }) {
  const body = document.querySelector("#warning-table tbody");
  const empty = document.getElementById("warning-empty");
  const badge = document.getElementById("warning-count");
  let warnings = [];

  async function load() {
    warnings = await api("/api/v1/warnings");
    const open = warnings.filter((w) => !w.acknowledged_at).length;
    badge.textContent = open ? String(open) : "";
    render();
  }

  function render() {
    fill(body, ...warnings.map(row));
    empty.hidden = warnings.length > 0;
  }

  function row(warning) {
    const where = warning.kind === "sender_flood" ? warning.reporter || "—"
      : warning.lat === null ? "—" : `${warning.lat.toFixed(2)}, ${warning.lon.toFixed(2)}`;
    const incident = warning.incident_ref
      ? el("button", { type: "button", class: "link", text: warning.incident_ref,
        on: { click: () => onOpen(warning.incident_ref) } })
      : el("span", { text: "—" });
    const acknowledge = !warning.acknowledged_at && can(user, "operator")
      ? el("button", { type: "button", text: t("warnings.acknowledge"), dataset: { action: "acknowledge" },
        on: { click: (event) => acknowledgeWarning(warning, event.target) } })
      : el("span", { class: "muted", text: warning.acknowledged_by || "" });
    return el("tr", { dataset: { warning: warning.id }, class: warning.acknowledged_at ? "" : "fresh" },
      el("td", {}, el("span", { class: "badge warning", text: label("warning", warning.kind) })),
      el("td", { text: where }),
      el("td", {}, incident),
      el("td", { class: "num", text: warning.message_count }),
      el("td", { class: "num", text: warning.sender_count }),
      el("td", { text: when(warning.first_at) }),
      el("td", { text: when(warning.last_at) }),
      el("td", {}, acknowledge));
  }

  async function acknowledgeWarning(warning, button) {
    button.disabled = true;
    try {
      const updated = await api(`/api/v1/warnings/${warning.id}/acknowledge`, { method: "POST" });
      warnings = warnings.map((w) => (w.id === updated.id ? updated : w));
      const open = warnings.filter((w) => !w.acknowledged_at).length;
      badge.textContent = open ? String(open) : "";
      toast(t("done.warning"));
      render();
    } catch (error) {
      toast(t("error.action", { detail: error.message }), true);
      button.disabled = false;
    }
  }

  window.addEventListener("kengele:language", render);

  return { ...polled(load, REFRESH_MS), load };
}
