// Tally web UI: calls to the server.
/** Called when a request answers 401 (the session ended): the app shows the sign-in form. */
let signedOut = () => {};
export function onSignedOut(fn) { signedOut = fn; }

export class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path, options) {
  // Writes carry X-Tally-UI: the server accepts a session's write only with it (no cross-site form can send it).
  const write = options && options.method && options.method !== "GET";
  const headers = write ? { Accept: "application/json", "X-Tally-UI": "1" } : { Accept: "application/json" };
  const response = await fetch(path, Object.assign({ credentials: "same-origin", headers }, options));
  if (response.status === 401) { signedOut(); throw new HttpError(401, "signed out"); }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new HttpError(response.status, (body && (body.error || body.message)) || "HTTP " + response.status);
  }
  return body;
}


/** ISO start of a relative range ("24h", "7d", "30d", "90d"); undefined for "all". */
export function rangeStart(range) {
  const m = /^(\d+)([hd])$/.exec(range || "");
  if (!m) return undefined;
  const hours = Number(m[1]) * (m[2] === "d" ? 24 : 1);
  return new Date(Date.now() - hours * 3600e3).toISOString();
}
