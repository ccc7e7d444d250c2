// Tally web UI: Users — per user traces, tokens, cost, error rate, first and last seen; sortable, linked to traces.
import { el, link, hashFor, query, usd, int, pct, when, tenantLink } from "./dom.js";
import { api } from "./api.js";
import { rangeControls, projectIsEmpty, connectGuide, dayRange } from "./widgets.js";

const columns = [
  ["userId", "User", false], ["traces", "Traces", true], ["tokens", "Tokens", true], ["cost", "Cost", true],
  ["errorRate", "Error rate", true], ["firstSeen", "First seen", false], ["lastSeen", "Last seen", false],
];

export async function usersPage(_arg, params, stale) {
  if (await projectIsEmpty()) return stale() ? null : el("section", { "aria-label": "Users" }, el("h1", { text: "Users" }), await connectGuide());
  const sort = params.sort || "-cost";
  const limit = 50;
  const offset = Number(params.offset || 0);
  const { from, to } = dayRange(params.range || "30d");
  const result = await api("/api/tally/v1/users?" + query({ from, to, tenantId: params.tenantId, environment: params.environment, sort, limit, offset }));
  if (stale()) return null;
  const go = (changes) => { location.hash = hashFor("users", Object.assign({}, params, changes)); };
  const tenant = el("input", { id: "f-tenantId", value: params.tenantId || "", placeholder: "all" });
  tenant.addEventListener("change", () => go({ tenantId: tenant.value.trim(), offset: undefined }));
  const header = el("tr", {}, columns.map(([key, label, numeric]) => {
    const active = sort.replace("-", "") === key;
    const next = active && sort.startsWith("-") ? key : "-" + key;
    return el("th", { class: numeric ? "num" : "", "aria-sort": active ? (sort.startsWith("-") ? "descending" : "ascending") : "none" },
      el("button", { type: "button", "data-sort": key, text: label + (active ? (sort.startsWith("-") ? " ↓" : " ↑") : ""), on: { click: () => go({ sort: next, offset: undefined }) } }));
  }), el("th", { text: "Tenant" }));
  const body = result.data.map((u) => el("tr", { "data-user": u.userId },
    el("td", {}, link(hashFor("traces", { userId: u.userId }), u.userId)),
    el("td", { class: "num", text: int(u.traces) }), el("td", { class: "num", text: int(u.totalTokens) }),
    el("td", { class: "num", text: usd(u.totalCost) }), el("td", { class: "num", text: pct(u.errorRate) }),
    el("td", { text: when(u.firstSeen).slice(0, 16) }), el("td", { text: when(u.lastSeen).slice(0, 16) }),
    el("td", {}, u.tenant ? tenantLink(u.tenant) : u.severalTenants ? "several" : "–")));
  const total = result.meta.totalItems;
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", text: "← Previous", disabled: offset === 0, on: { click: () => go({ offset: Math.max(0, offset - limit) }) } }),
    el("span", { class: "muted", id: "users-count", text: total ? `${offset + 1}–${offset + result.data.length} of ${int(total)} users` : "no users in this range" }),
    el("button", { type: "button", text: "Next →", disabled: offset + limit >= total, on: { click: () => go({ offset: offset + limit }) } }));
  return el("section", { "aria-label": "Users" }, el("h1", { text: "Users" }),
    rangeControls("users", params, el("label", { for: "f-tenantId" }, "Tenant", tenant)),
    el("div", { class: "table-wrap" }, el("table", { id: "users" }, el("thead", {}, header), el("tbody", {}, body))), pager);
}
