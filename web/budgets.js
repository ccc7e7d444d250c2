// Tally web UI: budgets — every tenant with limits, its spend against them, throttles and kill switches.
import { el, tenantLink, usd, int, when, rerender } from "./dom.js";
import { api } from "./api.js";

/** A spend-vs-limit bar: the share used (spent + held), and the amounts as text. */
function usage(period) {
  if (period.limitUsd === null || period.limitUsd === undefined) {
    return el("span", { class: "muted", text: usd(period.spentUsd) + " (no limit)" });
  }
  const used = period.spentUsd + (period.heldUsd || 0);
  const share = period.limitUsd > 0 ? used / period.limitUsd : 1;
  const fill = el("span", { class: "fill" + (share >= 1 ? " over" : share >= 0.8 ? " near" : "") });
  fill.style.width = Math.min(100, share * 100).toFixed(1) + "%";
  const held = period.heldUsd ? ` (+${usd(period.heldUsd)} held)` : "";
  return el("div", { class: "usage", title: `${usd(used)} of ${usd(period.limitUsd)}` },
    el("span", { class: "meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": period.limitUsd, "aria-valuenow": used }, fill),
    el("span", { class: "amount", text: `${usd(period.spentUsd)} of ${usd(period.limitUsd)}${held}` }));
}

export async function budgetsPage(_arg, _params, stale) {
  const [budgets, plans, settings, switches] = await Promise.all([
    api("/api/tally/v1/budgets"), api("/api/tally/v1/plans"), api("/api/tally/v1/settings/budgets"), api("/api/tally/v1/switches"),
  ]);
  if (stale()) return null;
  const lift = (tenant) => el("button", { type: "button", text: "Lift", on: { click: async () => {
    await api("/api/tally/v1/tenants/" + encodeURIComponent(tenant) + "/throttle", { method: "DELETE" });
    rerender();
  } } });
  const tenants = el("table", { id: "budgets" },
    el("thead", {}, el("tr", {}, ["Tenant", "Plan", "Today", "This month", "Checks / min", "Throttle"].map((h) => el("th", { text: h })))),
    el("tbody", {}, budgets.data.map((b) => el("tr", { "data-tenant": b.tenantId },
      el("td", {}, tenantLink(b.tenantId)), el("td", { text: b.plan ?? "–" }),
      el("td", { class: "day" }, usage(b.day)), el("td", { class: "month" }, usage(b.month)),
      el("td", { class: "num", text: int(b.requestsLastMinute) + (b.limits.requestsPerMinute ? " / " + int(b.limits.requestsPerMinute) : "") }),
      el("td", { class: "throttle" }, b.throttle ? el("span", {}, el("span", { class: "level-WARNING", text: "until " + (b.throttle.until ? when(b.throttle.until) : "lifted") }), " ", el("span", { class: "muted", text: b.throttle.reason ?? "" }), " ", lift(b.tenantId)) : "–")))));
  const planTable = el("table", { id: "plans" },
    el("thead", {}, el("tr", {}, ["Plan", "Per day", "Per month", "Checks / min"].map((h) => el("th", { text: h })))),
    el("tbody", {}, plans.data.map((p) => el("tr", {},
      el("td", { text: p.name + (p.name === settings.defaultPlan ? " (default)" : "") }),
      el("td", { class: "num", text: p.limits.dailyUsd === null ? "–" : usd(p.limits.dailyUsd) }),
      el("td", { class: "num", text: p.limits.monthlyUsd === null ? "–" : usd(p.limits.monthlyUsd) }),
      el("td", { class: "num", text: p.limits.requestsPerMinute === null ? "–" : int(p.limits.requestsPerMinute) })))));
  const remove = (s) => el("button", { type: "button", text: "Delete", on: { click: async () => {
    const q = s.tenantId ? "?tenantId=" + encodeURIComponent(s.tenantId) : "";
    await api("/api/tally/v1/switches/" + encodeURIComponent(s.feature) + q, { method: "DELETE" });
    rerender();
  } } });
  const switchTable = el("table", { id: "switches" },
    el("thead", {}, el("tr", {}, ["Feature", "Tenant", "State", "Reason", "Until", ""].map((h) => el("th", { text: h })))),
    el("tbody", {}, switches.data.map((s) => el("tr", {},
      el("td", { text: s.feature }), el("td", { text: s.tenantId ?? "all tenants" }),
      el("td", { class: s.enabled ? "" : "level-ERROR", text: s.enabled ? "on" : (s.active ? "off" : "off (expired)") }),
      el("td", { text: s.reason ?? "" }), el("td", { text: s.until ? when(s.until) : "–" }), el("td", {}, remove(s))))));
  const org = settings.projectMonth;
  return el("section", { "aria-label": "Budgets" },
    el("h1", { text: "Budgets" }),
    el("div", { class: "card", id: "project-budget" }, el("h2", { text: "Project this month" }), usage(org)),
    el("div", { class: "card" }, el("h2", { text: "Tenants, most used first" }),
      budgets.data.length ? el("div", { class: "table-wrap" }, tenants) : el("p", { class: "muted", text: "No tenant has a limit: assign plans with PUT /api/tally/v1/tenants/{id}/budget or `tally budgets assign`." })),
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("h2", { text: "Plans" }), el("div", { class: "table-wrap" }, planTable)),
      el("div", { class: "card" }, el("h2", { text: "Kill switches" }),
        switches.data.length ? el("div", { class: "table-wrap" }, switchTable) : el("p", { class: "muted", text: "No feature is switched off." }))));
}
