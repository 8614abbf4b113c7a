// One incident in full: facts, actions, reports (their text as text, never markup), escalation, timeline.
import { api, can } from "./api.js";
import { el, fill, toast } from "./dom.js";
import { duration, label, t, when } from "./i18n.js";

const ACKNOWLEDGEABLE = ["open", "escalated"];
const CLOSED = ["resolved", "false_alarm", "merged"];
const ARM_MS = 4000; // a second click within this time carries out an action that cannot be undone

/** The detail panel; `user` decides which actions show (the server refuses the rest anyway). */
export function createDetail({ user, onClose, onChanged }) {
  const panel = document.getElementById("detail");
  let current = null; // the incident shown, as last loaded
  let loading = null;

  async function show(ref) {
    loading = ref;
    const incident = await api(`/api/v1/incidents/${encodeURIComponent(ref)}`);
    if (loading !== ref) return; // another incident was chosen meanwhile
    current = incident;
    render();
    panel.hidden = false;
  }

  function close() {
    current = null;
    loading = null;
    panel.hidden = true;
    onClose();
  }

  function render() {
    if (!current) return;
    const d = current;
    fill(panel,
      el("header", {},
        el("h2", { text: d.ref }),
        el("span", { class: `badge ${d.priority || ""}`, text: d.priority || "—" }),
        el("span", { class: `state ${d.status}`, text: label("status", d.status) }),
        el("span", { class: `state ${d.verification}`, text: label("verification", d.verification) }),
        el("button", { type: "button", class: "close", text: t("detail.close"), on: { click: close } })),
      facts(d),
      d.priority_reasons.length ? el("ul", { class: "reasons" }, ...d.priority_reasons.map((r) => el("li", { text: r })))
        : null,
      actions(d),
      el("h3", { text: t("detail.reports", { n: d.reports.length }) }),
      ...d.reports.map(report),
      el("h3", { text: t("detail.escalation") }),
      escalation(d.escalation),
      el("h3", { text: t("detail.timeline") }),
      el("ol", { class: "timeline" }, ...[...d.timeline].reverse().map(line)));
  }

  function facts(d) {
    const dead = d.dead_min === null ? null : d.dead_min === d.dead_max ? d.dead_min : `${d.dead_min}–${d.dead_max}`;
    const rows = [
      ["col.category", label("category", d.category)],
      ["detail.severity", label("severity", d.severity)],
      ["col.place", d.place || t("place.unlocated")],
      ["detail.precision", d.precision_m ? t("unit.km", { n: (d.precision_m / 1000).toFixed(1) }) : "—"],
      ["detail.dead", dead ?? "—"],
      ["col.reporters", `${d.reporter_count} (${t("detail.reportCount", { n: d.report_count })})`],
      ["detail.confidence", `${Math.round(d.confidence * 100)} %`],
      ["detail.first", when(d.first_report_at)],
      ["col.latest", when(d.last_report_at)],
    ];
    return el("dl", {}, ...rows.flatMap(([key, value]) => [el("dt", { text: t(key) }), el("dd", { text: value })]));
  }

  function actions(d) {
    if (!can(user, "operator")) return null; // viewers get no buttons at all
    const closed = CLOSED.includes(d.status);
    const settled = ["confirmed", "false"].includes(d.verification);
    return el("div", { class: "actions" },
      button("acknowledge", "action.acknowledge", !ACKNOWLEDGEABLE.includes(d.status),
        () => act(`acknowledge`, {}), "primary"),
      button("resolve", "action.resolve", closed, () => act("resolve", {}), "", true),
      button("confirm", "action.confirm", closed || settled, () => act("verify", { answer: "confirmed" })),
      button("false", "action.false", closed || settled, () => act("verify", { answer: "false" }), "danger", true));
  }

  function button(name, key, disabled, run, style = "", irreversible = false) {
    const node = el("button", { type: "button", class: style, text: t(key), disabled, dataset: { action: name } });
    let armed = null;
    node.addEventListener("click", () => {
      if (irreversible && !armed) {
        // Asked on the page itself: a pop-up dialog would block the live feed and the sound.
        node.textContent = t("action.sure", { action: t(key) });
        node.classList.add("armed");
        armed = setTimeout(() => {
          armed = null;
          node.textContent = t(key);
          node.classList.remove("armed");
        }, ARM_MS);
        return;
      }
      clearTimeout(armed);
      node.disabled = true;
      run();
    });
    return node;
  }

  async function act(action, body) {
    const ref = current.ref;
    try {
      const updated = await api(`/api/v1/incidents/${encodeURIComponent(ref)}/${action}`, { method: "POST", json: body });
      // The answer is the incident as changed. Its timeline comes with the live event, sent once it has committed.
      if (current?.ref === ref) current = { ...current, ...updated };
      toast(t(`done.${action}`, { ref }));
    } catch (error) {
      toast(t("error.action", { detail: error.message }), true);
      if (current?.ref === ref) await show(ref).catch(() => {});
    }
    render();
    onChanged();
  }

  function report(r) {
    const meta = [
      when(r.received_at), label("channel", r.channel), r.reporter || t("detail.noReporter"),
      r.reporter_kind ? label("reporterKind", r.reporter_kind) : null,
      r.reporter_trust === null ? null : t("detail.trust", { n: Math.round(r.reporter_trust * 100) }),
      r.language, r.category ? label("category", r.category) : null,
      r.location_text ? `${r.location_text} (${label("method", r.location_method)})` : label("method", r.location_method),
      r.repeat ? t("detail.repeat") : null, r.rejected ? t("detail.rejected") : null,
    ].filter((x) => x !== null && x !== undefined && x !== "");
    return el("article", { class: r.rejected ? "report rejected" : "report", dataset: { report: r.id } },
      el("div", { class: "meta" }, ...meta.map((m) => el("span", { text: m }))),
      // The message as the reporter typed it: text, whatever it contains.
      el("p", { class: "body", text: r.body }));
  }

  function escalation(e) {
    if (!e) return el("p", { class: "muted", text: t("detail.noEscalation") });
    const state = [label("escalationState", e.state), e.priority, t("detail.level", { n: e.level + 1, round: e.round + 1 })];
    if (e.acknowledged_by) state.push(t("detail.acknowledgedBy", { who: e.acknowledged_by, at: when(e.acknowledged_at) }));
    return el("div", {},
      el("p", { text: state.join(" · ") }),
      e.ranking.length ? el("table", { class: "grid ranking" },
        el("thead", {}, el("tr", {}, ...["#", "col.unit", "detail.eta", "detail.distance", "detail.why"].map(
          (key) => el("th", { text: key === "#" ? "#" : t(key) })))),
        el("tbody", {}, ...e.ranking.map((r, i) => el("tr", {},
          el("td", { class: "num", text: i + 1 }),
          el("td", { text: r.name }),
          el("td", { text: duration(r.eta_s) }),
          el("td", { class: "num", text: r.distance_m === null ? "—" : t("unit.km", { n: (r.distance_m / 1000).toFixed(0) }) }),
          el("td", { class: "wrap", text: r.explanation })))))
        : el("p", { class: "muted", text: t("detail.noRanking") }));
  }

  function line(event) {
    return el("li", {},
      el("time", { text: when(event.at) }),
      el("strong", { text: label("event", event.kind) }),
      ` · ${event.actor}`,
      Object.keys(event.data).length ? el("span", { class: "data", text: summary(event.data) }) : null);
  }

  window.addEventListener("kengele:language", render);

  return {
    show,
    close,
    /** Reload the incident shown when the live feed says it changed. */
    changed(ref) {
      if (current && current.ref === ref) show(ref).catch(() => {});
    },
    get ref() {
      return current?.ref ?? null;
    },
  };
}

/** A timeline line's data as one line of text: "to: acknowledged · units: Bria COB, FPU Bria". */
function summary(data) {
  return Object.entries(data)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => `${key}: ${flat(value)}`)
    .join(" · ");
}

function flat(value) {
  if (Array.isArray(value)) return value.map(flat).join(", ");
  if (value && typeof value === "object") return Object.values(value).map(flat).join(" — ");
  return String(value);
}
