// The dashboard's entry point: sign-in, the views, and wiring the modules together.
import { api, ApiError, signIn, signOut } from "./api.js";
import { createCallbacks } from "./callbacks.js";
import { createDetail } from "./detail.js";
import { toast } from "./dom.js";
import { createFeed, unlockSound } from "./feed.js";
import { currentLanguage, initialLanguage, setLanguage, t } from "./i18n.js";
import { createMap } from "./map.js";
import { createUnits, createZones } from "./units.js";
import { createWarnings } from "./warnings.js";
import { createWorkerBanner } from "./workers.js";

const $ = (id) => document.getElementById(id);
let session = null; // what start() built, torn down by stop()

async function boot() {
  await setLanguage(initialLanguage());
  $("language").value = currentLanguage();
  $("language").addEventListener("change", (event) => setLanguage(event.target.value));
  $("sign-in-form").addEventListener("submit", submit);
  $("sign-out").addEventListener("click", leave);
  for (const tab of document.querySelectorAll("#tabs .tab")) tab.addEventListener("click", () => show(tab.dataset.view));
  // Sound may start only after a gesture; a page reloaded while signed in gets it at the first click.
  document.addEventListener("click", unlockSound, { once: true });
  // Only a session that was running can end; on the sign-in screen a 401 is expected (and must not reload).
  window.addEventListener("kengele:signed-out", () => session && stop(t("auth.expired")));
  try {
    await start(await api("/api/v1/auth/me"));
  } catch {
    signInScreen();
  }
}

async function submit(event) {
  event.preventDefault();
  unlockSound();
  const form = event.target;
  const error = $("sign-in-error");
  error.textContent = "";
  try {
    const user = await signIn(form.username.value, form.password.value);
    form.password.value = "";
    await start(user);
  } catch (problem) {
    const status = problem instanceof ApiError ? problem.status : 0;
    error.textContent = status === 401 ? t("auth.wrong") : status === 429 ? t("auth.throttled") : t("auth.failed");
  }
}

async function leave() {
  try {
    await signOut();
  } finally {
    stop();
  }
}

function signInScreen(message = "") {
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  $("tabs").hidden = $("sign-out").hidden = $("live").hidden = true;
  $("who").textContent = "";
  $("sign-in-error").textContent = message;
  $("sign-in").hidden = false;
  $("sign-in-form").username.focus();
}

async function start(user) {
  if (session) return;
  $("sign-in").hidden = true;
  $("tabs").hidden = $("sign-out").hidden = $("live").hidden = false;
  $("who").textContent = `${user.username} (${user.role})`;
  show("incidents");
  const config = await api("/api/v1/dashboard/config");
  const map = createMap($("map"), {
    tileUrl: config.tile_url, tileAttribution: config.tile_attribution, onSelect: (ref) => feed.select(ref),
  });
  const detail = createDetail({ user, onClose: () => map.resize(), onChanged: () => feed.reload() });
  const feed = createFeed({
    onSelect: (incident) => {
      map.focus(incident);
      detail.show(incident.ref).catch((error) => toast(t("error.action", { detail: error.message }), true));
    },
    onList: (items) => map.setIncidents(items),
    onEvent: (ref) => detail.changed(ref),
    onWarning: () => warnings.load().catch(() => {}),
    onLive: (state) => {
      $("live").dataset.state = state;
      $("live").dataset.i18n = `live.${state}`; // so that a change of language relabels it too
      $("live").textContent = t(`live.${state}`);
    },
  });
  const callbacks = createCallbacks({ user });
  const warnings = createWarnings({ user, onOpen: (ref) => { show("incidents"); feed.select(ref); } });
  const units = createUnits({ user, onUnits: (list) => map.setUnits(list) });
  const zones = createZones({ onZones: (collection) => map.setZones(collection) });
  const workers = createWorkerBanner();
  session = { feed, callbacks, warnings, detail, map, units, zones, workers };
  await Promise.all([
    feed.start(),
    units.load(),
    zones.load(),
    api("/api/v1/roads").then((roads) => map.setRoads(roads)),
  ]);
  callbacks.start();
  warnings.start();
  workers.start();
}

function stop(message = "") {
  if (session) {
    session.feed.stop();
    session.callbacks.stop();
    session.warnings.stop();
    session.workers.stop();
    session = null;
  }
  // The modules hold listeners on this page's elements: a fresh page is the simplest clean slate.
  if (message) sessionStorage.setItem("kengele.message", message);
  location.reload();
}

function show(name) {
  for (const tab of document.querySelectorAll("#tabs .tab")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  if (name === "incidents") session?.map.resize();
  if (name === "callbacks") session?.callbacks.load().catch(() => {});
  if (name === "units") session?.units.load().catch(() => {});
  if (name === "warnings") session?.warnings.load().catch(() => {});
}

const notice = sessionStorage.getItem("kengele.message");
sessionStorage.removeItem("kengele.message");
boot().then(() => notice && !session && signInScreen(notice));
