// The incident feed: the list from /api/v1/incidents, kept current by the live feed (server-sent events).
import { api } from "./api.js";
import { debounce, el, fill } from "./dom.js";
import { label, t, when } from "./i18n.js";

const STREAM = "/api/v1/feed/stream";
// Every kind of timeline line the server publishes as `incident.<kind>`; an EventSource hears only named kinds.
const KINDS = ["created", "report_added", "report_rejected", "status", "priority", "merged", "split",
  "escalation_started", "notified", "held", "hold_expired", "stood_down", "verification_requested", "verified",
  "stable", "cla", "abuse_flagged"];
const WARNINGS = ["warning.sender_flood", "warning.unknown_burst"]; // published when a warning opens
const STATUSES = { active: [], resolved: ["resolved"], false_alarm: ["false_alarm"] };
const SAFETY_RELOAD_MS = 60_000; // a kind this page does not know yet still shows up within a minute
const RECONNECT_MS = 3000;

/** The feed table; `onSelect(incident)` when a row is chosen, `onList(items)` after each load,
 *  `onEvent(ref)` for every live event. */
export function createFeed({ onSelect, onList, onEvent, onLive, onWarning = () => {} }) {
  const body = document.querySelector("#feed-table tbody");
  const empty = document.getElementById("feed-empty");
  const count = document.getElementById("feed-count");
  const filter = document.getElementById("feed-filter");
  let items = [];
  let selected = null;
  let knownP1 = null; // refs that were P1 at the last load; null before the first load (no beep then)
  let known = new Set();
  let source = null;
  let lastEventId = null;
  let timer = null;
  let stopped = false;

  async function load() {
    const query = new URLSearchParams({ limit: "200" });
    for (const status of STATUSES[filter.value] || []) query.append("status", status);
    const page = await api(`/api/v1/incidents?${query}`);
    const fresh = new Set(page.items.map((i) => i.ref).filter((ref) => knownP1 !== null && !known.has(ref)));
    const p1 = new Set(page.items.filter((i) => i.priority === "P1").map((i) => i.ref));
    if (knownP1 !== null && [...p1].some((ref) => !knownP1.has(ref))) beep();
    knownP1 = p1;
    known = new Set(page.items.map((i) => i.ref));
    items = page.items; // already most urgent first: priority, then the latest report
    render(fresh);
    onList(items);
  }
  const reload = debounce(() => load().catch(() => {}), 250);

  function render(fresh = new Set()) {
    fill(body, ...items.map((incident) => row(incident, fresh.has(incident.ref))));
    empty.hidden = items.length > 0;
    count.textContent = t("feed.count", { n: items.length });
    const urgent = items.filter((i) => i.priority === "P1" && ["open", "escalated"].includes(i.status)).length;
    document.title = urgent ? `(${urgent} P1) ${t("title")}` : t("title");
  }

  function row(incident, fresh) {
    const classes = [incident.ref === selected ? "selected" : "", fresh ? "fresh" : ""].join(" ").trim();
    return el("tr", {
      class: classes, tabIndex: 0, dataset: { ref: incident.ref },
      on: {
        click: () => choose(incident),
        keydown: (event) => event.key === "Enter" && choose(incident),
      },
    },
    el("td", {}, el("strong", { text: incident.ref })),
    el("td", {}, el("span", { class: `badge ${incident.priority || ""}`, text: incident.priority || "—" })),
    el("td", { text: label("category", incident.category) }),
    el("td", { text: incident.place || t("place.unlocated") }),
    el("td", {}, el("span", { class: `state ${incident.status}`, text: label("status", incident.status) })),
    el("td", {}, el("span", { class: `state ${incident.verification}`,
      text: label("verification", incident.verification) })),
    el("td", { class: "num", text: incident.reporter_count }),
    el("td", { text: when(incident.last_report_at) }));
  }

  function choose(incident) {
    selected = incident.ref;
    for (const tr of body.rows) tr.classList.toggle("selected", tr.dataset.ref === selected);
    onSelect(incident);
  }

  function connect() {
    // On a dropped connection the browser reconnects by itself, sending Last-Event-ID; the server replays what
    // was missed. Only when it gives up (a 401, the server away for long) do we open a new one ourselves.
    const url = lastEventId ? `${STREAM}?last_event_id=${encodeURIComponent(lastEventId)}` : STREAM;
    source = new EventSource(url);
    source.onopen = () => onLive("on");
    source.onerror = () => {
      onLive(source.readyState === EventSource.CLOSED ? "off" : "reconnecting");
      if (source.readyState === EventSource.CLOSED && !stopped) {
        // The session may have ended: asking the API fires "kengele:signed-out" on a 401.
        setTimeout(() => api("/api/v1/auth/me").then(() => !stopped && connect(), () => {}), RECONNECT_MS);
      }
    };
    const heard = (event) => {
      lastEventId = event.lastEventId || lastEventId;
      reload();
      try {
        onEvent(JSON.parse(event.data).ref);
      } catch {
        /* a resync carries no ref */
      }
    };
    for (const kind of KINDS) source.addEventListener(`incident.${kind}`, heard);
    for (const kind of WARNINGS) {
      source.addEventListener(kind, (event) => {
        lastEventId = event.lastEventId || lastEventId;
        onWarning();
      });
    }
    source.addEventListener("resync", heard);
  }

  filter.addEventListener("change", () => {
    knownP1 = null; // another list: nothing in it is news
    load().catch(() => {});
  });
  window.addEventListener("kengele:language", () => render());

  return {
    async start() {
      stopped = false;
      await load();
      connect();
      timer = setInterval(reload, SAFETY_RELOAD_MS);
    },
    stop() {
      stopped = true;
      source?.close();
      clearInterval(timer);
      onLive("off");
    },
    select(ref) {
      const incident = items.find((i) => i.ref === ref);
      if (incident) choose(incident);
    },
    reload,
  };
}

let audio = null;
/** Browsers start sound only after a user gesture: call this from one (the sign-in click, any click). */
export function unlockSound() {
  try {
    audio ??= new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch {
    audio = null; // no sound on this machine: the title and the red row still say it
  }
}

/** Two short tones for a new P1: generated here, nothing to download. */
export function beep() {
  if (!audio) return;
  const start = audio.currentTime;
  for (const offset of [0, 0.25]) {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.001, start + offset + 0.18);
    tone.connect(gain).connect(audio.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.2);
  }
}
