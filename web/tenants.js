// Tally web UI: tenants and one tenant's spend.
import { el, link, hashFor, query, usd, int, ms, when } from "./dom.js";
import { api, rangeStart } from "./api.js";
import { stackedBars, hbars } from "./charts.js";
import { rangeControls, tenantSpendTable, projectIsEmpty, connectGuide } from "./widgets.js";

export async function tenantsPage(_arg, params, stale) {
  if (await projectIsEmpty()) return stale() ? null : el("section", { "aria-label": "Tenants" }, el("h1", { text: "Tenants" }), await connectGuide());
  const from = rangeStart(params.range || "30d");
  const r = await api("/api/tally/v1/breakdown?" + query({ groupBy: "tenant", from, environment: params.environment, metrics: "count,totalTokens,totalCost", sort: "-totalCost", limit: 500 }));
  if (stale()) return null;
  return el("section", { "aria-label": "Tenants" }, el("h1", { text: "Tenants" }), rangeControls("tenants", params),
    el("div", { class: "table-wrap" }, tenantSpendTable("tenants", r.data)));
}

export async function tenantPage(tenant, params, stale, session) {
  const from = rangeStart(params.range || "30d");
  const base = { tenantId: tenant, from, environment: params.environment, limit: 10000 };
  const sums = "count,totalTokens,totalCost";
  const [byFeature, byModel, byDay, users, recent, expensive, billed] = await Promise.all([
    api("/api/tally/v1/breakdown?" + query(Object.assign({ groupBy: "feature", metrics: sums, sort: "-totalCost" }, base))),
    api("/api/tally/v1/breakdown?" + query(Object.assign({ groupBy: "model", metrics: sums, sort: "-totalCost" }, base))),
    api("/api/tally/v1/breakdown?" + query(Object.assign({ groupBy: "feature", bucket: "day", metrics: sums }, base))),
    api("/api/tally/v1/breakdown?" + query({ groupBy: "userId", tenantId: tenant, from, environment: params.environment, metrics: "count,traces,totalCost", sort: "-totalCost", limit: 10 })),
    api("/api/tally/v1/traces?" + query({ tenantId: tenant, from, environment: params.environment, limit: 10 })),
    api("/api/tally/v1/traces?" + query({ tenantId: tenant, from, environment: params.environment, sort: "-totalCost", limit: 10 })),
    api("/api/tally/v1/exports/usage?" + query({ groupBy: "tenant", tenantId: tenant, from, environment: params.environment })),
  ]);
  const savings = billed.data.reduce((s, r) => s + Number(r.cacheSavingsUsd), 0);
  if (stale()) return null;
  const total = byFeature.data.reduce((s, r) => s + r.totalCost, 0);
  const traceTable = (id, rows) => el("div", { class: "table-wrap" }, el("table", { id }, el("tbody", {}, rows.map((t) => el("tr", {},
    el("td", {}, link(hashFor("trace/" + encodeURIComponent(t.id)), when(t.timestamp).slice(5, 16))), el("td", { text: t.name ?? "" }),
    el("td", { class: "num", text: ms(t.latencyMs) }), el("td", { class: "num", text: usd(t.totalCost) }))))));
  return el("section", { "aria-label": "Tenant" },
    session && session.ownTenant ? null : el("p", {}, link("#/tenants", "← Tenants")),
    el("h1", {}, "Tenant ", el("span", { id: "tenant-name", text: tenant })),
    rangeControls("tenant/" + encodeURIComponent(tenant), params, el("span", { class: "muted", id: "tenant-total", text: "Spend: " + usd(total) }),
      el("span", { class: "muted", id: "tenant-savings", title: "What cached input saved against list prices", text: "Cache saved: " + usd(savings) })),
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
