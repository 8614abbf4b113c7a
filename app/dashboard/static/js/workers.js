// The banner that says a worker role runs nowhere or cannot keep up: deadlines not firing, alerts not leaving.
import { api, polled } from "./api.js";
import { t } from "./i18n.js";

const REFRESH_MS = 30_000;

/** The banner above the views; shown only while some role's due work is late. */
export function createWorkerBanner() {
  const banner = document.getElementById("worker-banner");
  let status = null;

  async function load() {
    status = await api("/api/v1/dashboard/workers");
    render();
  }

  function render() {
    const late = status ? status.late : [];
    banner.hidden = late.length === 0;
    banner.textContent = late
      .map((role) => t(`workers.${role}`, { minutes: Math.max(1, Math.round(status.overdue_seconds[role] / 60)) }))
      .join(" ");
  }

  window.addEventListener("kengele:language", render);

  return polled(load, REFRESH_MS);
}
