// Tally web UI: one trace, its observation tree and content.
// Safety contract: trace content is untrusted. Every piece of data reaches the page through textContent or an
// attribute set to a value we build (hash links from encodeURIComponent); innerHTML is never used.
import { el, link, tenantLink, usd, int, ms, when } from "./dom.js";
import { api } from "./api.js";

function jsonBlock(value) {
  if (value === null || value === undefined) return el("span", { class: "muted", text: "–" });
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  const pre = el("pre", { text });
  if (text.length <= 1200) return pre;
  return el("details", {}, el("summary", { text: `${text.length.toLocaleString()} characters — show` }), pre);
}

/** Chat messages ([{role, content}], or {messages: [...]}) as a conversation; anything else as pretty JSON. */
export function contentView(value) {
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

export async function tracePage(id, params, stale) {
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
