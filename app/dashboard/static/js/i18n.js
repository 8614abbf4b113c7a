// English and French: one small JSON dictionary per language; elements name their string with data-i18n.
const LANGUAGES = ["en", "fr"];
const STORE = "kengele.language";
let language = "en";
let strings = {};

/** The language to start with: the one chosen before, else the browser's if we have it, else English. */
export function initialLanguage() {
  const chosen = localStorage.getItem(STORE);
  if (LANGUAGES.includes(chosen)) return chosen;
  const browser = (navigator.language || "en").slice(0, 2);
  return LANGUAGES.includes(browser) ? browser : "en";
}

export function currentLanguage() {
  return language;
}

/** Load a language's dictionary, translate the page, and tell the modules (event "kengele:language"). */
export async function setLanguage(code) {
  if (!LANGUAGES.includes(code)) code = "en";
  const answer = await fetch(`/dashboard/static/i18n/${code}.json`, { credentials: "same-origin" });
  strings = await answer.json();
  language = code;
  localStorage.setItem(STORE, code);
  document.documentElement.lang = code;
  translatePage(document);
  window.dispatchEvent(new CustomEvent("kengele:language", { detail: code }));
}

/** The string for `key` with {name} placeholders filled; the key itself when missing (visible, never blank). */
export function t(key, params = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

/** A label for a value the server sends (a category, a status): translated when we know it, else as sent. */
export function label(group, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${group}.${value}`;
  return key in strings ? strings[key] : String(value);
}

export function translatePage(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-aria-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  }
  document.title = t("title");
}

const formats = new Map();
/** A date and time, short, in the browser's time zone and the current language. */
export function when(iso) {
  if (!iso) return "—";
  if (!formats.has(language)) {
    formats.set(language, new Intl.DateTimeFormat(language === "fr" ? "fr-FR" : "en-GB", {
      day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit",
    }));
  }
  return formats.get(language).format(new Date(iso));
}

/** A duration in seconds as "1 h 05 min" / "12 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t("unit.minutes", { n: minutes });
  return t("unit.hours", { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, "0") });
}
