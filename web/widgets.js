// Tally web UI: controls and tables several pages share.
import { el, tenantLink, hashFor, usd, int } from "./dom.js";
import { api } from "./api.js";

export function rangeControls(page, params, ...extra) {
  const range = el("select", { id: "range", "aria-label": "Time range" }, ["7d", "30d", "90d", "all"].map((r) => el("option", { value: r, text: r, selected: (params.range || "30d") === r })));
  range.addEventListener("change", () => { location.hash = hashFor(page, Object.assign({}, params, { range: range.value })); });
  const env = el("input", { id: "env", value: params.environment || "", placeholder: "all" });
  env.addEventListener("change", () => { location.hash = hashFor(page, Object.assign({}, params, { environment: env.value.trim() })); });
  return el("div", { class: "card filters" }, el("label", {}, "Time range", range), el("label", {}, "Environment", env), extra);
}

/** Tenants with cost, tokens and observation count (breakdown rows grouped by tenant), each linking to its page. */
export function tenantSpendTable(id, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, el("th", { text: "Tenant" }), el("th", { class: "num", text: "Cost" }), el("th", { class: "num", text: "Tokens" }), el("th", { class: "num", text: "Observations" }))),
    el("tbody", {}, rows.map((t) => el("tr", {}, el("td", {}, tenantLink(t.tenant, "(none)")),
      el("td", { class: "num", text: usd(t.totalCost) }), el("td", { class: "num", text: int(t.totalTokens) }), el("td", { class: "num", text: int(t.count) })))));
}

/** True when the project has stored no trace yet (one unfiltered list read, remembered once it has data). */
let hasData = false;
/** Forgets what `projectIsEmpty` learnt (a new sign-in may be another project). */
export function forgetProjectData() { hasData = false; }
export async function projectIsEmpty() {
  if (hasData) return false;
  const r = await api("/api/tally/v1/traces?limit=1");
  hasData = r.data.length > 0;
  return !hasData;
}

/** A code block with a button that copies its text. */
function copyable(id, text) {
  const pre = el("pre", { id, text });
  const button = el("button", { type: "button", class: "copy", "data-copy": id, text: "Copy" });
  button.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
    catch { getSelection().selectAllChildren(pre); button.textContent = "Selected: press Ctrl+C"; }
  });
  return el("div", { class: "code" }, button, pre);
}

/**
 * How to send this project its first traces, shown instead of empty tables: the host, the project's public key,
 * the environment variables for the Langfuse SDKs and OTLP exporters, and a Python snippet. Secrets are never shown
 * (the server does not keep them); the reader pastes their own.
 */
export async function connectGuide() {
  const host = location.origin;
  let publicKey = "pk-lf-…";
  try {
    const keys = await api("/api/tally/v1/keys");
    const usable = keys.data.find((k) => !k.revokedAt && !k.tenantId && !k.readOnly) || keys.data.find((k) => !k.revokedAt);
    if (usable) publicKey = usable.publicKey;
  } catch { /* a read-only or tenant session cannot list keys: the placeholder stays */ }
  const env = [
    "# Langfuse SDKs (Python 2.x–5.x, JS): only the host changes",
    `export LANGFUSE_HOST=${host}`,
    `export LANGFUSE_BASE_URL=${host}`,
    `export LANGFUSE_PUBLIC_KEY=${publicKey}`,
    "export LANGFUSE_SECRET_KEY=sk-lf-…   # the secret printed with this key",
  ].join("\n");
  const otlp = [
    "# Any OpenTelemetry exporter (OTLP over HTTP, protobuf or JSON)",
    `export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${host}/api/public/otel/v1/traces`,
    "export OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Basic $(printf '%s' \"$LANGFUSE_PUBLIC_KEY:$LANGFUSE_SECRET_KEY\" | base64 -w0)\"",
  ].join("\n");
  const python = [
    "# pip install 'langfuse<3'   (the v3+ SDKs work too, over OTLP)",
    "from langfuse import Langfuse",
    "",
    `lf = Langfuse(host="${host}", public_key="${publicKey}", secret_key="sk-lf-…")`,
    "trace = lf.trace(name=\"hello-tally\", user_id=\"user-1\",",
    "                 metadata={\"tenantId\": \"acme\", \"feature\": \"chat\"})",
    "gen = trace.generation(name=\"chat\", model=\"gpt-4o-mini\", input=\"Hi!\")",
    "gen.end(output=\"Hello!\", usage={\"input\": 12, \"output\": 3})",
    "lf.flush()",
  ].join("\n");
  return el("section", { class: "card connect", id: "connect", "aria-label": "Connect" },
    el("h2", { text: "No traces yet: connect your app" }),
    el("p", { class: "muted", text: "Point a Langfuse SDK or an OpenTelemetry exporter at this server. Traces show up here within a second of being sent; cost is computed for every generation." }),
    el("dl", { class: "kv" },
      el("dt", { text: "Host" }), el("dd", { id: "connect-host", text: host }),
      el("dt", { text: "Public key" }), el("dd", { id: "connect-key", text: publicKey })),
    el("h3", { text: "Environment" }), copyable("connect-env", env),
    el("h3", { text: "OpenTelemetry" }), copyable("connect-otlp", otlp),
    el("h3", { text: "Python" }), copyable("connect-python", python),
    el("p", { class: "muted", text: "Name each trace's tenant and feature in its metadata (tenantId, feature): every view here breaks spend down by them." }));
}

/** A relative range ("7d", "30d", "90d", "all") as whole UTC days ending with today: {from, to} as ISO strings
 * (undefined for "all"), so reads of per-day rollups never scan a partial day. */
export function dayRange(range) {
  const m = /^(\d+)d$/.exec(range || "");
  if (!m) return { from: undefined, to: undefined };
  const today = new Date(); today.setUTCHours(0, 0, 0, 0);
  const to = new Date(today.getTime() + 86400e3);
  return { from: new Date(to.getTime() - Number(m[1]) * 86400e3).toISOString(), to: to.toISOString() };
}
