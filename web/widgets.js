// Tally web UI: controls and tables several pages share.
import { el, tenantLink, hashFor, usd, int } from "./dom.js";

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
