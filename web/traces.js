// Tally web UI: the trace list with its filters.
import { el, link, tenantLink, hashFor, query, usd, int, ms, when } from "./dom.js";
import { api, rangeStart } from "./api.js";
import { projectIsEmpty, connectGuide } from "./widgets.js";

const traceFilters = [
  ["range", "Time", "select", ["all", "1h", "24h", "7d", "30d"]], ["from", "From (UTC day)", "date"], ["to", "To (UTC day)", "date"],
  ["tenantId", "Tenant"], ["feature", "Feature"], ["tags", "Tags (comma)"], ["promptName", "Prompt"], ["promptVersion", "Version"],
  ["model", "Model"], ["userId", "User"], ["sessionId", "Session"], ["environment", "Environment"],
  ["level", "Level", "select", ["", "ERROR", "WARNING", "DEFAULT", "DEBUG"]], ["q", "Name contains"],
];

export async function tracesPage(_arg, params, stale) {
  const limit = 50;
  const offset = Number(params.offset || 0);
  const sort = params.sort || "-timestamp";
  // An explicit day range wins over the relative one; "to" includes its whole day.
  const day = (d, plus) => /^\d{4}-\d{2}-\d{2}$/.test(d || "") ? new Date(Date.parse(d + "T00:00:00Z") + plus * 86400e3).toISOString() : undefined;
  const request = {
    from: day(params.from, 0) ?? rangeStart(params.range), to: day(params.to, 1), tenantId: params.tenantId, feature: params.feature, promptName: params.promptName,
    promptVersion: params.promptVersion, model: params.model, userId: params.userId, sessionId: params.sessionId,
    environment: params.environment, level: params.level, q: params.q, sort, limit, offset,
  };
  const tags = (params.tags || "").split(",").map((t) => t.trim()).filter(Boolean);
  const qs = query(request) + tags.map((t) => "&tags=" + encodeURIComponent(t)).join("");
  const started = performance.now();
  const result = await api("/api/tally/v1/traces?" + qs);
  if (stale()) return null;
  const elapsed = performance.now() - started;
  const filtered = Object.keys(params).some((k) => params[k] && !["sort", "range"].includes(k));
  if (!result.data.length && !filtered && await projectIsEmpty()) {
    return stale() ? null : el("section", { "aria-label": "Traces" }, el("h1", { text: "Traces" }), await connectGuide());
  }

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
