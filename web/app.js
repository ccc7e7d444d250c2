// Tally web UI. Plain JavaScript, no build step, no third-party code.
// Safety contract: trace content is untrusted. Every piece of data reaches the page through textContent or an
// attribute set to a value we build (hash links from encodeURIComponent); innerHTML is never used.
"use strict";

const main = document.getElementById("main");
const SVG = "http://www.w3.org/2000/svg";

// ---------- DOM helpers ----------

/** Creates an element; `props` sets properties (text → textContent), children are nodes or strings (as text). */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "href") node.setAttribute("href", safeHref(v));
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Only in-app hash links and same-origin API paths are ever used as hrefs. */
function safeHref(v) {
  const s = String(v);
  return s.startsWith("#/") || s.startsWith("/api/") ? s : "#/";
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function link(hash, text) { return el("a", { href: hash, text: text ?? "" }); }

/** A tenant's name linking to its page, or `none` when the row has no tenant. */
function tenantLink(tenant, none = "–") {
  return tenant ? link(hashFor("tenant/" + encodeURIComponent(tenant)), tenant) : none;
}

function hashFor(page, params) {
  const s = query(params || {});
  return "#/" + page + (s ? "?" + s : "");
}

/** USD: cents from $1 up, else four significant digits with trailing zeros dropped ($0.00518, $0.02). */
const usd = (v) => v === null || v === undefined ? "–" :
  "$" + (Math.abs(v) >= 1 ? v.toFixed(2) : String(Number(v.toPrecision(4))));
const int = (v) => v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US");
const ms = (v) => v === null || v === undefined ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms";
const when = (iso) => iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–";
const pct = (v) => v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%";

// ---------- API ----------

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const response = await fetch(path, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options));
  if (response.status === 401) { showSignIn(); throw new HttpError(401, "signed out"); }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new HttpError(response.status, (body && (body.error || body.message)) || "HTTP " + response.status);
  }
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q.toString();
}

/** ISO start of a relative range ("24h", "7d", "30d", "90d"); undefined for "all". */
function rangeStart(range) {
  const m = /^(\d+)([hd])$/.exec(range || "");
  if (!m) return undefined;
  const hours = Number(m[1]) * (m[2] === "d" ? 24 : 1);
  return new Date(Date.now() - hours * 3600e3).toISOString();
}

// ---------- session ----------

let project = null;

function showSignIn(message) {
  project = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("project").textContent = "";
  const error = el("p", { class: "error", role: "alert", text: message || "" });
  const publicKey = el("input", { id: "publicKey", name: "publicKey", autocomplete: "username", required: true });
  const secretKey = el("input", { id: "secretKey", name: "secretKey", type: "password", autocomplete: "current-password", required: true });
  const form = el("form", { class: "card signin", id: "signin" },
    el("h1", { text: "Sign in to Tally" }),
    el("p", { class: "muted", text: "Use a project's API keys (printed by `tally serve` on first start)." }),
    el("label", {}, "Public key", publicKey),
    el("label", {}, "Secret key", secretKey),
    el("button", { class: "primary", type: "submit", text: "Sign in" }),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await fetch("/api/tally/v1/session", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ publicKey: publicKey.value.trim(), secretKey: secretKey.value.trim() }),
    });
    if (!r.ok) { error.textContent = r.status === 401 ? "Those keys are not valid." : "Sign-in failed (" + r.status + ")."; return; }
    signedIn(await r.json());
    if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = "#/traces";
    else route();
  });
  main.replaceChildren(form);
  publicKey.focus();
}

function signedIn(p) {
  project = p;
  document.getElementById("nav").hidden = false;
  document.getElementById("signout").hidden = false;
  document.getElementById("project").textContent = "Project: " + p.projectName;
}

document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/api/tally/v1/session", { method: "DELETE", credentials: "same-origin" });
  showSignIn("Signed out.");
});

// ---------- routing ----------

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, qs] = h.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "traces", arg: parts[1], params: Object.fromEntries(new URLSearchParams(qs || "")) };
}

let renderToken = 0;

async function route() {
  if (!project) return;
  const { page, arg, params } = parseHash();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  const token = ++renderToken;
  const pages = { traces: tracesPage, trace: tracePage, prompts: promptsPage, dashboards: dashboardsPage, tenants: tenantsPage, tenant: tenantPage };
  const render = pages[page] || tracesPage;
  try {
    const view = await render(arg, params, () => token !== renderToken);
    if (view && token === renderToken) {
      // A filter field keeps focus (and the caret) across the re-render its own input caused.
      const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
      main.replaceChildren(view);
      main.dataset.page = page;
      const again = focused && document.getElementById(focused);
      if (again) {
        again.focus();
        if (again.tagName === "INPUT") again.setSelectionRange(again.value.length, again.value.length);
      }
    }
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return;
    if (token === renderToken) main.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load: " + e.message }));
  }
}

window.addEventListener("hashchange", route);

// ---------- charts (SVG, own code) ----------

/** Stacked bars: buckets on x, one segment per series. `rows`: [{bucket, series, value}]. */
function stackedBars(rows, { format = usd, height = 220 } = {}) {
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const series = [...new Set(rows.map((r) => r.series))].sort();
  const totals = buckets.map((b) => rows.filter((r) => r.bucket === b).reduce((s, r) => s + r.value, 0));
  const max = Math.max(1e-12, ...totals);
  const width = 640, left = 72, bottom = 24, top = 8;
  const step = (width - left) / Math.max(1, buckets.length);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "stacked bar chart" });
  axis(chart, { width, height, left, bottom, top, max, format });
  buckets.forEach((b, i) => {
    let y = height - bottom;
    for (const [si, s] of series.entries()) {
      const v = rows.filter((r) => r.bucket === b && r.series === s).reduce((acc, r) => acc + r.value, 0);
      if (!v) continue;
      const h = (v / max) * (height - bottom - top);
      y -= h;
      const barW = Math.min(48, Math.max(1, step - 2));
      chart.append(svg("rect", { x: left + i * step + (step - barW) / 2, y, width: barW, height: h, class: "seg sw" + (si % 10), fill: color(si) },
        svg("title", {}, `${b} · ${s ?? "(none)"}: ${format(v)}`)));
    }
    if (buckets.length <= 16 || i % Math.ceil(buckets.length / 8) === 0) {
      chart.append(svg("text", { x: left + i * step + step / 2, y: height - 6, "text-anchor": "middle", "font-size": 10, fill: "#667085" }, String(b).slice(5)));
    }
  });
  return el("div", { class: "chart" }, chart, legend(series));
}

/** Lines: one per series over sorted x buckets. `rows`: [{bucket, series, value}]. */
function lines(rows, { format = usd, height = 220 } = {}) {
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const series = [...new Set(rows.map((r) => r.series))].sort((a, b) => String(a).localeCompare(String(b), undefined, { numeric: true }));
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const width = 640, left = 72, bottom = 24, top = 8;
  const x = (i) => left + (buckets.length <= 1 ? (width - left) / 2 : (i * (width - left - 8)) / (buckets.length - 1));
  const y = (v) => height - bottom - (v / max) * (height - bottom - top);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "line chart" });
  axis(chart, { width, height, left, bottom, top, max, format });
  series.forEach((s, si) => {
    const pts = buckets.map((b, i) => { const r = rows.find((r) => r.bucket === b && r.series === s); return r ? [x(i), y(r.value), b, r.value] : null; }).filter(Boolean);
    if (pts.length > 1) chart.append(svg("polyline", { points: pts.map((p) => p[0] + "," + p[1]).join(" "), fill: "none", stroke: color(si), "stroke-width": 2 }));
    for (const p of pts) chart.append(svg("circle", { cx: p[0], cy: p[1], r: 3, fill: color(si) }, svg("title", {}, `${p[2]} · ${s}: ${format(p[3])}`)));
  });
  buckets.forEach((b, i) => {
    if (buckets.length <= 16 || i % Math.ceil(buckets.length / 8) === 0) {
      chart.append(svg("text", { x: x(i), y: height - 6, "text-anchor": "middle", "font-size": 10, fill: "#667085" }, String(b).slice(5)));
    }
  });
  return el("div", { class: "chart" }, chart, legend(series));
}

/** Horizontal bars: `rows` [{label, value}], largest first. */
function hbars(rows, { format = usd } = {}) {
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const width = 440, rowH = 22, left = 150;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${Math.max(rowH, rows.length * rowH)}`, role: "img", "aria-label": "bar chart" });
  rows.forEach((r, i) => {
    const w = (r.value / max) * (width - left - 80);
    chart.append(svg("text", { x: left - 6, y: i * rowH + 15, "text-anchor": "end", "font-size": 11, fill: "#1d2330" }, String(r.label ?? "(none)").slice(0, 24)));
    chart.append(svg("rect", { x: left, y: i * rowH + 4, width: Math.max(1, w), height: rowH - 8, fill: color(i) }, svg("title", {}, `${r.label ?? "(none)"}: ${format(r.value)}`)));
    chart.append(svg("text", { x: left + w + 4, y: i * rowH + 15, "font-size": 11, fill: "#667085" }, format(r.value)));
  });
  return el("div", { class: "chart" }, chart);
}

const palette = ["#3355cc", "#2f855a", "#d69e2e", "#c0392b", "#805ad5", "#319795", "#dd6b20", "#718096", "#d53f8c", "#38a169"];
const color = (i) => palette[i % palette.length];

function axis(chart, { width, height, left, bottom, top, max, format }) {
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4, yy = height - bottom - (k / 4) * (height - bottom - top);
    chart.append(svg("line", { x1: left, x2: width, y1: yy, y2: yy, stroke: "#e4e7ec" }));
    chart.append(svg("text", { x: left - 4, y: yy + 3, "text-anchor": "end", "font-size": 10, fill: "#667085" }, format(v)));
  }
}

function legend(series) {
  return el("div", { class: "legend" }, series.map((s, i) => el("span", { class: "sw" + (i % 10), text: s ?? "(none)" })));
}

// ---------- traces ----------

const traceFilters = [
  ["range", "Time", "select", ["all", "1h", "24h", "7d", "30d"]], ["from", "From (UTC day)", "date"], ["to", "To (UTC day)", "date"],
  ["tenantId", "Tenant"], ["tags", "Tags (comma)"], ["promptName", "Prompt"], ["promptVersion", "Version"],
  ["model", "Model"], ["userId", "User"], ["sessionId", "Session"], ["environment", "Environment"],
  ["level", "Level", "select", ["", "ERROR", "WARNING", "DEFAULT", "DEBUG"]], ["q", "Name contains"],
];

async function tracesPage(_arg, params, stale) {
  const limit = 50;
  const offset = Number(params.offset || 0);
  const sort = params.sort || "-timestamp";
  // An explicit day range wins over the relative one; "to" includes its whole day.
  const day = (d, plus) => /^\d{4}-\d{2}-\d{2}$/.test(d || "") ? new Date(Date.parse(d + "T00:00:00Z") + plus * 86400e3).toISOString() : undefined;
  const request = {
    from: day(params.from, 0) ?? rangeStart(params.range), to: day(params.to, 1), tenantId: params.tenantId, promptName: params.promptName,
    promptVersion: params.promptVersion, model: params.model, userId: params.userId, sessionId: params.sessionId,
    environment: params.environment, level: params.level, q: params.q, sort, limit, offset,
  };
  const tags = (params.tags || "").split(",").map((t) => t.trim()).filter(Boolean);
  const qs = query(request) + tags.map((t) => "&tags=" + encodeURIComponent(t)).join("");
  const started = performance.now();
  const result = await api("/api/tally/v1/traces?" + qs);
  if (stale()) return null;
  const elapsed = performance.now() - started;

  const go = (changes) => { location.hash = hashFor("traces", Object.assign({}, params, { offset: undefined }, changes)); };
  const controls = traceFilters.map(([key, label, kind, options]) => {
    let input;
    if (kind === "select") {
      input = el("select", { name: key, id: "f-" + key }, options.map((o) => el("option", { value: o, text: o || "any", selected: (params[key] || "") === o })));
      input.addEventListener("change", () => go({ [key]: input.value === "all" ? "" : input.value }));
    } else if (kind === "date") {
      input = el("input", { name: key, id: "f-" + key, type: "date", value: params[key] || "" });
      input.addEventListener("change", () => go({ [key]: input.value }));
    } else {
      input = el("input", { name: key, id: "f-" + key, value: params[key] || "" });
      let timer;
      input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => go({ [key]: input.value.trim() }), 300); });
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") { clearTimeout(timer); go({ [key]: input.value.trim() }); } });
    }
    return el("label", { for: "f-" + key }, label, input);
  });
  const clear = el("button", { type: "button", text: "Clear filters", on: { click: () => { location.hash = "#/traces"; } } });

  const sortHeader = (key, label, numeric) => {
    const active = sort.replace("-", "") === key;
    const next = active && sort.startsWith("-") ? key : "-" + key;
    return el("th", { class: numeric ? "num" : "", "aria-sort": active ? (sort.startsWith("-") ? "descending" : "ascending") : "none" },
      el("button", { type: "button", text: label + (active ? (sort.startsWith("-") ? " ↓" : " ↑") : ""), on: { click: () => go({ sort: next }) } }));
  };
  const head = el("tr", {}, sortHeader("timestamp", "Time"), sortHeader("name", "Name"), el("th", { text: "Tenant" }),
    el("th", { text: "User" }), el("th", { text: "Tags" }), el("th", { text: "Env" }), sortHeader("latency", "Latency", true),
    sortHeader("totalTokens", "Tokens", true), sortHeader("totalCost", "Cost", true), el("th", { text: "Level" }));
  const body = result.data.map((t) => el("tr", { "data-trace-id": t.id },
    el("td", {}, link(hashFor("trace/" + encodeURIComponent(t.id)), when(t.timestamp))),
    el("td", { text: t.name ?? "" }),
    el("td", {}, tenantLink(t.tenant)),
    el("td", { text: t.userId ?? "" }),
    el("td", {}, t.tags.map((g) => el("span", { class: "tag", text: g }))),
    el("td", { text: t.environment }),
    el("td", { class: "num", text: ms(t.latencyMs) }),
    el("td", { class: "num", text: int(t.totalTokens) }),
    el("td", { class: "num", text: usd(t.totalCost) }),
    el("td", { class: "level-" + (t.level || ""), text: t.level ?? "" })));
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", text: "← Newer", disabled: offset === 0, on: { click: () => go({ offset: Math.max(0, offset - limit), sort: params.sort }) } }),
    el("span", { class: "muted", text: result.data.length ? `${offset + 1}–${offset + result.data.length}` : "no traces match" }),
    el("button", { type: "button", text: "Older →", disabled: !result.hasMore, on: { click: () => go({ offset: offset + limit, sort: params.sort }) } }),
    el("span", { class: "muted", id: "elapsed", text: `(${Math.round(elapsed)} ms)` }));
  return el("section", { "aria-label": "Traces" },
    el("h1", { text: "Traces" }),
    el("div", { class: "card filters", role: "search" }, controls, clear),
    el("div", { class: "table-wrap" }, el("table", { id: "traces" }, el("thead", {}, head), el("tbody", {}, body))),
    pager);
}

// ---------- trace detail ----------

function jsonBlock(value) {
  if (value === null || value === undefined) return el("span", { class: "muted", text: "–" });
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  const pre = el("pre", { text });
  if (text.length <= 1200) return pre;
  return el("details", {}, el("summary", { text: `${text.length.toLocaleString()} characters — show` }), pre);
}

/** Chat messages ([{role, content}], or {messages: [...]}) as a conversation; anything else as pretty JSON. */
function contentView(value) {
  const messages = Array.isArray(value) ? value : value && Array.isArray(value.messages) ? value.messages :
    value && typeof value === "object" && "role" in value && "content" in value ? [value] : null;
  if (messages && messages.length && messages.every((m) => m && typeof m === "object" && "role" in m)) {
    return el("div", { class: "messages" }, messages.map((m) => el("div", { class: "msg " + String(m.role) },
      el("div", { class: "role", text: String(m.role) }),
      typeof m.content === "string" ? collapsible(m.content) : jsonBlock(m.content ?? m.tool_calls ?? null))));
  }
  return jsonBlock(value);
}

function collapsible(text) {
  if (text.length <= 1200) return el("div", { class: "content", text });
  return el("details", {}, el("summary", { text: text.slice(0, 200) + "… (" + text.length.toLocaleString() + " characters)" }), el("div", { class: "content", text }));
}

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v ?? "–"))]));
}

function keyTable(title, obj, format) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return null;
  return el("table", { class: "keys" }, el("thead", {}, el("tr", {}, el("th", { text: title }), el("th", { class: "num", text: "" }))),
    el("tbody", {}, entries.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { class: "num", text: format(v) })))));
}

async function tracePage(id, params, stale) {
  const t = await api("/api/public/traces/" + encodeURIComponent(id));
  if (stale()) return null;
  const obs = t.observations || [];
  const byParent = new Map();
  const ids = new Set(obs.map((o) => o.id));
  for (const o of obs) {
    const p = o.parentObservationId && ids.has(o.parentObservationId) ? o.parentObservationId : null;
    if (!byParent.has(p)) byParent.set(p, []);
    byParent.get(p).push(o);
  }
  const t0 = Math.min(...obs.map((o) => Date.parse(o.startTime)), Date.parse(t.timestamp));
  const t1 = Math.max(...obs.map((o) => Date.parse(o.endTime || o.startTime)), t0 + 1);
  const detail = el("div", { class: "card", id: "obs-detail" }, el("p", { class: "muted", text: "Select an observation." }));
  const rows = [];
  const walk = (parent, depth) => {
    for (const o of (byParent.get(parent) || []).sort((a, b) => a.startTime.localeCompare(b.startTime))) {
      const start = Date.parse(o.startTime), end = Date.parse(o.endTime || o.startTime);
      const bar = el("div", { class: `bar ${o.type} ${o.level}` });
      bar.style.left = ((start - t0) / (t1 - t0)) * 100 + "%";
      bar.style.width = Math.max(0.3, ((end - start) / (t1 - t0)) * 100) + "%";
      const button = el("button", { type: "button", text: `${o.type} · ${o.name ?? o.id}` });
      const row = el("div", { class: "obs-row", "data-observation-id": o.id }, button, el("div", { class: "lane", title: ms(end - start) }, bar));
      button.style.paddingLeft = depth * 16 + "px";
      button.addEventListener("click", () => {
        for (const r of rows) r.classList.toggle("selected", r === row);
        detail.replaceChildren(observationDetail(o, t.scores || []));
      });
      rows.push(row);
      walk(o.id, depth + 1);
    }
  };
  walk(null, 0);
  const totalTokens = obs.reduce((s, o) => s + ((o.usageDetails || {}).total || 0), 0);
  const header = el("div", { class: "card" },
    el("h1", { text: t.name ?? t.id }),
    kv([["Trace id", t.id], ["Time", when(t.timestamp)], ["Tenant", tenantLink(t.tenant)],
      ["Feature", t.feature ?? "–"], ["User", t.userId ?? "–"], ["Session", t.sessionId ?? "–"],
      ["Tags", el("span", {}, (t.tags || []).map((g) => el("span", { class: "tag", text: g })))],
      ["Environment", t.environment], ["Release", t.release ?? "–"], ["Latency", ms((t.latency || 0) * 1000)],
      ["Tokens", int(totalTokens)], ["Total cost", el("span", { id: "trace-cost", text: usd(t.totalCost) })]]));
  const io = el("div", { class: "card" },
    el("h2", { text: "Trace input" }), contentView(t.input), el("h2", { text: "Trace output" }), contentView(t.output),
    el("h2", { text: "Trace metadata" }), jsonBlock(t.metadata),
    (t.scores || []).length ? el("div", {}, el("h2", { text: "Scores" }), scoreTable(t.scores)) : null);
  const tree = el("div", { class: "card tree", id: "tree" }, el("h2", { text: `Observations (${obs.length})` }), rows);
  if (rows[0]) setTimeout(() => rows[0].querySelector("button").click(), 0);
  return el("section", { "aria-label": "Trace" }, el("p", {}, link("#/traces", "← Traces")), header, el("div", { class: "grid" }, tree, detail), io);
}

function scoreTable(scores) {
  return el("table", {}, el("tbody", {}, scores.map((s) => el("tr", {}, el("td", { text: s.name }),
    el("td", { class: "num", text: s.stringValue ?? s.value }), el("td", { class: "muted", text: s.observationId ? "observation" : "trace" }),
    el("td", { text: s.comment ?? "" })))));
}

function observationDetail(o, scores) {
  const cost = o.costDetails || {};
  return el("div", { "data-observation": o.id },
    el("h2", { text: o.name ?? o.id }),
    kv([["Type", o.type], ["Start", when(o.startTime)], ["Latency", o.latency === null || o.latency === undefined ? "–" : ms(o.latency * 1000)],
      ["Model (requested)", o.model ?? "–"], ["Model (executed)", o.responseModel ?? "–"],
      ["Priced as", o.modelId ?? "–"], ["Cost", el("span", { id: "obs-cost", text: usd(o.calculatedTotalCost ?? cost.total) + (o.costSource ? ` (${o.costSource === "provided" ? "given by the client" : "inferred from prices"})` : "") })],
      ["Pricing tier", o.usagePricingTierName ?? "–"], ["Prompt", o.promptName ? `${o.promptName} v${o.promptVersion}` : "–"],
      ["Level", el("span", { class: "level-" + o.level, text: o.level })], ["Status", o.statusMessage ?? "–"]]),
    keyTable("Usage", o.usageDetails, int), keyTable("Cost (USD)", cost, usd), keyTable("Price (USD per 1M units)", o.unitPrices, (v) => "$" + Number((v * 1e6).toPrecision(6))),
    el("h2", { text: "Input" }), contentView(o.input), el("h2", { text: "Output" }), contentView(o.output),
    el("h2", { text: "Metadata" }), jsonBlock(o.metadata),
    scores.filter((s) => s.observationId === o.id).length ? scoreTable(scores.filter((s) => s.observationId === o.id)) : null);
}

// ---------- prompts ----------

async function promptsPage(_arg, params, stale) {
  const names = await api("/api/tally/v1/breakdown?" + query({ groupBy: "promptName", metrics: "count,totalCost", sort: "-count", limit: 200 }));
  if (stale()) return null;
  const list = names.data.filter((r) => r.promptName);
  const name = params.name || (list[0] && list[0].promptName);
  const picker = el("select", { id: "prompt-name", "aria-label": "Prompt" }, list.map((r) => el("option", { value: r.promptName, text: `${r.promptName} (${r.count} runs)`, selected: r.promptName === name })));
  picker.addEventListener("change", () => { location.hash = hashFor("prompts", { name: picker.value }); });
  if (!name) return el("section", {}, el("h1", { text: "Prompt versions" }), el("p", { class: "muted", text: "No generation is linked to a prompt yet." }));
  const [versions, overTime] = await Promise.all([
    api(`/api/tally/v1/prompts/${encodeURIComponent(name)}/versions`),
    api("/api/tally/v1/breakdown?" + query({ groupBy: "promptVersion", promptName: name, bucket: "day", metrics: "count,totalCost", limit: 10000 })),
  ]);
  if (stale()) return null;
  const rows = versions.data;
  const a = Number(params.a || (rows.length > 1 ? rows[rows.length - 2].promptVersion : rows[0]?.promptVersion));
  const b = Number(params.b || rows[rows.length - 1]?.promptVersion);
  const scoreNames = [...new Set(rows.flatMap((r) => Object.keys(r.scores)))].sort();
  const metrics = [
    ["Runs", (r) => r.runs, int, 0], ["Cost per run", (r) => r.costPerRun, usd, -1], ["Total cost", (r) => r.totalCost, usd, 0],
    ["Input tokens / run", (r) => r.inputTokensPerRun, int, -1], ["Output tokens / run", (r) => r.outputTokensPerRun, int, -1],
    ["Latency p50", (r) => r.latencyP50, ms, -1], ["Latency p95", (r) => r.latencyP95, ms, -1], ["Error rate", (r) => r.errorRate, pct, -1],
    ...scoreNames.map((s) => [`Score: ${s} (mean)`, (r) => r.scores[s], (v) => v === undefined ? "–" : v.toFixed(3), 1]),
    ["First seen", (r) => r.firstSeen, when, 0], ["Last seen", (r) => r.lastSeen, when, 0],
  ];
  const table = el("table", { id: "versions" },
    el("thead", {}, el("tr", {}, el("th", { text: "" }), rows.map((r) => el("th", { class: "num" }, `v${r.promptVersion} `,
      link(hashFor("traces", { promptName: name, promptVersion: r.promptVersion }), "traces"))))),
    el("tbody", {}, metrics.map(([label, get, fmt]) => el("tr", {}, el("th", { text: label }), rows.map((r) => el("td", { class: "num", text: fmt(get(r)) }))))));
  const pick = (key, value) => {
    const s = el("select", { id: "compare-" + key, "aria-label": "Version " + key.toUpperCase() }, rows.map((r) => el("option", { value: r.promptVersion, text: "v" + r.promptVersion, selected: r.promptVersion === value })));
    s.addEventListener("change", () => { location.hash = hashFor("prompts", Object.assign({}, params, { name, [key]: s.value })); });
    return s;
  };
  const ra = rows.find((r) => r.promptVersion === a), rb = rows.find((r) => r.promptVersion === b);
  const compare = ra && rb ? el("table", { id: "compare" },
    el("thead", {}, el("tr", {}, el("th", { text: "" }), el("th", { class: "num", text: "v" + a }), el("th", { class: "num", text: "v" + b }), el("th", { class: "num", text: "change" }))),
    el("tbody", {}, metrics.slice(0, metrics.length - 2).map(([label, get, fmt, better]) => {
      const va = get(ra), vb = get(rb);
      const change = typeof va === "number" && typeof vb === "number" && va !== 0 ? (vb - va) / Math.abs(va) : null;
      const cls = change === null || better === 0 || change === 0 ? "" : (change * better > 0 ? "delta-better" : "delta-worse");
      return el("tr", {}, el("th", { text: label }), el("td", { class: "num", text: fmt(va) }), el("td", { class: "num", text: fmt(vb) }),
        el("td", { class: "num " + cls, text: change === null ? "–" : (change > 0 ? "+" : "") + (change * 100).toFixed(1) + "%" }));
    }))) : el("p", { class: "muted", text: "Pick two versions." });
  const perRun = overTime.data.filter((r) => r.count > 0).map((r) => ({ bucket: r.bucket, series: "v" + r.promptVersion, value: r.totalCost / r.count }));
  return el("section", { "aria-label": "Prompt versions" },
    el("h1", { text: "Prompt versions" }),
    el("div", { class: "card filters" }, el("label", {}, "Prompt", picker)),
    el("div", { class: "card" }, el("h2", { text: "Side by side" }), el("div", { class: "filters" }, el("label", {}, "A", pick("a", a)), el("label", {}, "B", pick("b", b))), el("div", { class: "table-wrap" }, compare)),
    el("div", { class: "card" }, el("h2", { text: "Cost per run by day" }), lines(perRun)),
    el("div", { class: "card table-wrap" }, el("h2", { text: "All versions" }), table),
    el("p", { class: "muted", text: rows.some((r) => !r.latencyExact) ? "Latency percentiles come from the daily histogram (within 1%)." : "" }));
}

// ---------- dashboards ----------

function rangeControls(page, params, extra) {
  const range = el("select", { id: "range", "aria-label": "Time range" }, ["7d", "30d", "90d", "all"].map((r) => el("option", { value: r, text: r, selected: (params.range || "30d") === r })));
  range.addEventListener("change", () => { location.hash = hashFor(page, Object.assign({}, params, { range: range.value })); });
  const env = el("input", { id: "env", value: params.environment || "", placeholder: "all" });
  env.addEventListener("change", () => { location.hash = hashFor(page, Object.assign({}, params, { environment: env.value.trim() })); });
  return el("div", { class: "card filters" }, el("label", {}, "Time range", range), el("label", {}, "Environment", env), extra);
}

async function dashboardsPage(_arg, params, stale) {
  const from = rangeStart(params.range || "30d");
  const common = { from, environment: params.environment };
  const window = params.window || "24h";
  const [spend, tenants, perSuccess, models] = await Promise.all([
    api("/api/tally/v1/dashboards/spend-by-feature?" + query(common)),
    api("/api/tally/v1/dashboards/top-tenants?" + query({ window, environment: params.environment, limit: 10 })),
    api("/api/tally/v1/dashboards/tokens-per-success?" + query(common)),
    api("/api/tally/v1/dashboards/cost-by-model?" + query(common)),
  ]);
  if (stale()) return null;
  const windowPick = el("select", { id: "window", "aria-label": "Top tenants window" }, ["24h", "7d"].map((w) => el("option", { value: w, text: w, selected: w === window })));
  windowPick.addEventListener("change", () => { location.hash = hashFor("dashboards", Object.assign({}, params, { window: windowPick.value })); });
  const tenantTable = tenantSpendTable("top-tenants", tenants.data);
  return el("section", { "aria-label": "Dashboards" },
    el("h1", { text: "Dashboards" }),
    rangeControls("dashboards", params),
    el("div", { class: "grid" },
      el("div", { class: "card", id: "dash-spend" }, el("h2", { text: "Spend by feature per day" }),
        stackedBars(spend.data.map((r) => ({ bucket: r.bucket, series: r.feature ?? "(none)", value: r.totalCost })))),
      el("div", { class: "card", id: "dash-tenants" }, el("h2", { text: "Top tenants by cost" }), el("div", { class: "filters" }, el("label", {}, "Window", windowPick)), el("div", { class: "table-wrap" }, tenantTable)),
      el("div", { class: "card", id: "dash-success" }, el("h2", { text: "Tokens per successful action" }),
        lines(perSuccess.data.filter((r) => r.tokensPerSuccess !== null).map((r) => ({ bucket: r.bucket, series: "tokens / success", value: r.tokensPerSuccess })), { format: int })),
      el("div", { class: "card", id: "dash-models" }, el("h2", { text: "Cost by model" }),
        hbars(models.data.filter((r) => r.totalCost > 0).map((r) => ({ label: r.model ?? "(none)", value: r.totalCost }))))));
}

// ---------- tenants ----------

async function tenantsPage(_arg, params, stale) {
  const from = rangeStart(params.range || "30d");
  const r = await api("/api/tally/v1/breakdown?" + query({ groupBy: "tenant", from, environment: params.environment, metrics: "count,totalTokens,totalCost", sort: "-totalCost", limit: 500 }));
  if (stale()) return null;
  return el("section", { "aria-label": "Tenants" }, el("h1", { text: "Tenants" }), rangeControls("tenants", params),
    el("div", { class: "table-wrap" }, tenantSpendTable("tenants", r.data)));
}

/** Tenants with cost, tokens and observation count (breakdown rows grouped by tenant), each linking to its page. */
function tenantSpendTable(id, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, el("th", { text: "Tenant" }), el("th", { class: "num", text: "Cost" }), el("th", { class: "num", text: "Tokens" }), el("th", { class: "num", text: "Observations" }))),
    el("tbody", {}, rows.map((t) => el("tr", {}, el("td", {}, tenantLink(t.tenant, "(none)")),
      el("td", { class: "num", text: usd(t.totalCost) }), el("td", { class: "num", text: int(t.totalTokens) }), el("td", { class: "num", text: int(t.count) })))));
}

async function tenantPage(tenant, params, stale) {
  const from = rangeStart(params.range || "30d");
  const base = { tenantId: tenant, from, environment: params.environment, limit: 10000 };
  const sums = "count,totalTokens,totalCost";
  const [byFeature, byModel, byDay, users, recent, expensive] = await Promise.all([
    api("/api/tally/v1/breakdown?" + query(Object.assign({ groupBy: "feature", metrics: sums, sort: "-totalCost" }, base))),
    api("/api/tally/v1/breakdown?" + query(Object.assign({ groupBy: "model", metrics: sums, sort: "-totalCost" }, base))),
    api("/api/tally/v1/breakdown?" + query(Object.assign({ groupBy: "feature", bucket: "day", metrics: sums }, base))),
    api("/api/tally/v1/breakdown?" + query({ groupBy: "userId", tenantId: tenant, from, environment: params.environment, metrics: "count,traces,totalCost", sort: "-totalCost", limit: 10 })),
    api("/api/tally/v1/traces?" + query({ tenantId: tenant, from, environment: params.environment, limit: 10 })),
    api("/api/tally/v1/traces?" + query({ tenantId: tenant, from, environment: params.environment, sort: "-totalCost", limit: 10 })),
  ]);
  if (stale()) return null;
  const total = byFeature.data.reduce((s, r) => s + r.totalCost, 0);
  const traceTable = (id, rows) => el("div", { class: "table-wrap" }, el("table", { id }, el("tbody", {}, rows.map((t) => el("tr", {},
    el("td", {}, link(hashFor("trace/" + encodeURIComponent(t.id)), when(t.timestamp).slice(5, 16))), el("td", { text: t.name ?? "" }),
    el("td", { class: "num", text: ms(t.latencyMs) }), el("td", { class: "num", text: usd(t.totalCost) }))))));
  return el("section", { "aria-label": "Tenant" },
    el("p", {}, link("#/tenants", "← Tenants")),
    el("h1", {}, "Tenant ", el("span", { id: "tenant-name", text: tenant })),
    rangeControls("tenant/" + encodeURIComponent(tenant), params, el("span", { class: "muted", id: "tenant-total", text: "Spend: " + usd(total) })),
    el("div", { class: "grid" },
      el("div", { class: "card", id: "tenant-features" }, el("h2", { text: "Spend by feature" }), hbars(byFeature.data.map((r) => ({ label: r.feature, value: r.totalCost })))),
      el("div", { class: "card", id: "tenant-models" }, el("h2", { text: "Spend by model" }), hbars(byModel.data.filter((r) => r.totalCost > 0).map((r) => ({ label: r.model, value: r.totalCost })))),
      el("div", { class: "card", id: "tenant-days" }, el("h2", { text: "Spend per day" }), stackedBars(byDay.data.map((r) => ({ bucket: r.bucket, series: r.feature ?? "(none)", value: r.totalCost })))),
      el("div", { class: "card" }, el("h2", { text: "Top users" }), el("table", { id: "tenant-users" }, el("tbody", {}, users.data.map((u) => el("tr", {},
        el("td", {}, u.userId ? link(hashFor("traces", { tenantId: tenant, userId: u.userId }), u.userId) : "(none)"),
        el("td", { class: "num", text: int(u.traces) + (u.traces === 1 ? " trace" : " traces") }), el("td", { class: "num", text: usd(u.totalCost) })))))),
      el("div", { class: "card" }, el("h2", { text: "Recent traces" }), traceTable("tenant-recent", recent.data)),
      el("div", { class: "card" }, el("h2", { text: "Most expensive traces" }), traceTable("tenant-expensive", expensive.data))));
}

// ---------- start ----------

(async function start() {
  const r = await fetch("/api/tally/v1/session", { credentials: "same-origin" });
  const s = r.ok ? await r.json() : null;
  if (s && s.signedIn) { signedIn(s); route(); } else { showSignIn(); }
})();
