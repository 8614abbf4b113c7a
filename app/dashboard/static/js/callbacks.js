// The call-back queue: missed calls ("beeps") waiting for someone to call back; callers are shown masked.
import { api, can, polled } from "./api.js";
import { el, fill, toast } from "./dom.js";
import { label, t, when } from "./i18n.js";

const NEXT = { claim: ["open"], done: ["open", "claimed"], unreachable: ["open", "claimed"] };
const REFRESH_MS = 30_000; // call-back tasks are not on the live feed: the queue is read again this often

/** The queue view, and the count of open tasks in the tab. */
export function createCallbacks({ user }) {
  const body = document.querySelector("#callback-table tbody");
  const empty = document.getElementById("callback-empty");
  const filter = document.getElementById("callback-filter");
  const badge = document.getElementById("callback-count");
  let tasks = [];

  async function load() {
    tasks = await api(`/api/v1/callbacks?status=${encodeURIComponent(filter.value)}`);
    if (filter.value === "open") badge.textContent = tasks.length ? String(tasks.length) : "";
    render();
  }

  function render() {
    fill(body, ...tasks.map(row));
    empty.hidden = tasks.length > 0;
  }

  function row(task) {
    const buttons = can(user, "callback")
      ? Object.entries(NEXT).filter(([, from]) => from.includes(task.status)).map(([action]) =>
        el("button", { type: "button", text: t(`task.${action}Action`), dataset: { action },
          on: { click: (event) => act(task, action, event.target) } }))
      : [];
    return el("tr", { dataset: { task: task.id } },
      el("td", { class: "num", text: task.id }),
      el("td", { text: task.caller || "—" }),
      el("td", { text: task.caller_home || "—" }),
      el("td", { class: "num", text: task.caller_trust === null ? "—" : `${Math.round(task.caller_trust * 100)} %` }),
      el("td", { text: task.cla || t("callbacks.unassigned") }),
      el("td", { class: "num", text: task.beeps }),
      el("td", { text: label("task", task.status) }),
      el("td", { text: task.claimed_by || "—" }),
      el("td", { text: when(task.last_beep_at) }),
      el("td", {}, el("div", { class: "actions" }, ...buttons)));
  }

  async function act(task, action, button) {
    button.disabled = true;
    try {
      const updated = await api(`/api/v1/callbacks/${task.id}/${action}`, { method: "POST", json: {} });
      // The answer is the task as changed; a queue read at once might not show the change yet (it commits last).
      tasks = tasks.flatMap((x) => (x.id !== updated.id ? [x] : updated.status === filter.value ? [updated] : []));
      if (filter.value === "open") badge.textContent = tasks.length ? String(tasks.length) : "";
      toast(t(`done.task.${action}`, { id: task.id }));
      render();
    } catch (error) {
      toast(t("error.action", { detail: error.message }), true);
      await load().catch(() => {});
    }
  }

  filter.addEventListener("change", () => load().catch(() => {}));
  window.addEventListener("kengele:language", render);

  return { ...polled(load, REFRESH_MS), load };
}
