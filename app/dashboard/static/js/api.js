// Talking to Kengele: same origin, the session cookie, and the CSRF token sent back on every change.
const CSRF_COOKIE = "kengele_csrf";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

/** The double-submit CSRF token: the readable cookie set at sign-in. */
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return decodeURIComponent(value.join("="));
  }
  return "";
}

/** Call the API; JSON in and out. A 401 also fires "kengele:signed-out" so the page shows the sign-in form. */
export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  if (UNSAFE.has(method)) headers["X-CSRF-Token"] = csrfToken();
  const answer = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  if (answer.status === 401 && !path.endsWith("/auth/session")) {
    window.dispatchEvent(new CustomEvent("kengele:signed-out"));
  }
  if (!answer.ok) {
    let detail = "";
    try {
      const problem = await answer.json();
      detail = typeof problem.detail === "string" ? problem.detail : JSON.stringify(problem.detail);
    } catch {
      detail = answer.statusText;
    }
    throw new ApiError(answer.status, detail);
  }
  return answer.status === 204 ? null : answer.json();
}

/** Read at start and then every `ms` (errors are left to the next read): `{ start, stop }`. */
export function polled(load, ms) {
  let timer = null;
  return {
    start() {
      load().catch(() => {});
      timer = setInterval(() => load().catch(() => {}), ms);
    },
    stop: () => clearInterval(timer),
  };
}

export const signIn = (username, password) =>
  api("/api/v1/auth/session", { method: "POST", form: { username, password } });
export const signOut = () => api("/api/v1/auth/session", { method: "DELETE" });

/** Role ranks as the server has them: each includes the ones below. */
const RANKS = { viewer: 0, operator: 1, callback: 2, admin: 3 };
export const can = (user, role) => (RANKS[user?.role] ?? -1) >= RANKS[role];
