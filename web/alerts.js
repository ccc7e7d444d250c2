// Tally web UI: alerts — what is firing, the rules, the history and each webhook's delivery.
import { el, when, rerender } from "./dom.js";
import { api } from "./api.js";

const subject = (s) => [s.tenantId && "tenant " + s.tenantId, s.feature && "feature " + s.feature].filter(Boolean).join(", ") || "project";

/** Each delivery as "channel: status" (with the last HTTP status or error when not delivered). */
function deliveries(list) {
  if (!list.length) return el("span", { class: "muted", text: "no channel" });
  return el("span", {}, list.map((d) => el("span", { class: "delivery " + d.status,
    title: d.lastError ?? "", text: `${d.channel}${d.event === "alert.resolved" ? " (resolved)" : ""}: ${d.status}` +
      (d.status !== "delivered" && d.attempts ? ` after ${d.attempts} attempt${d.attempts === 1 ? "" : "s"}${d.lastStatus ? " (HTTP " + d.lastStatus + ")" : ""}` : "") })));
}

/** `selected`: the firing a webhook's `url` names (`#/alerts?firing=<id>`), marked and scrolled to. */
function firingTable(id, firings, resolved, selected) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, ["Rule", "Subject", "Message", "Fired", resolved ? "Resolved" : null, "Deliveries"].filter(Boolean).map((h) => el("th", { text: h })))),
    el("tbody", {}, firings.map((f) => el("tr", { "data-firing-id": f.id, "data-rule-type": f.rule.type, class: f.id === selected ? "selected" : null, "aria-current": f.id === selected ? "true" : null },
      el("td", { text: f.rule.name }), el("td", { text: subject(f.subject) }), el("td", { class: "wrap", text: f.message }),
      el("td", { text: when(f.firedAt) }), resolved ? el("td", { text: when(f.resolvedAt) }) : null,
      el("td", {}, deliveries(f.deliveries))))));
}

export async function alertsPage(_arg, params, stale) {
  const [alerts, rules, channels] = await Promise.all([
    api("/api/tally/v1/alerts"), api("/api/tally/v1/alerts/rules"), api("/api/tally/v1/alerts/channels"),
  ]);
  if (stale()) return null;
  const status = el("span", { class: "muted", id: "evaluate-status" });
  const evaluate = el("button", { type: "button", id: "evaluate", class: "primary", text: "Evaluate now", on: { click: async () => {
    evaluate.disabled = true;
    const r = await api("/api/tally/v1/alerts/evaluate", { method: "POST" });
    status.textContent = `${r.fired.length} fired, ${r.resolved.length} resolved`;
    rerender();
  } } });
  const ruleTable = el("table", { id: "rules" },
    el("thead", {}, el("tr", {}, ["Rule", "Type", "State", "Parameters", "Channels", "Actions"].map((h) => el("th", { text: h })))),
    el("tbody", {}, rules.data.map((r) => el("tr", { "data-rule-id": r.id },
      el("td", { text: r.name }), el("td", { text: r.type }), el("td", { text: r.enabled ? "on" : "off" }),
      el("td", { class: "wrap", text: Object.entries(r.params).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ") }),
      el("td", { text: r.channels.join(", ") || "–" }),
      el("td", { class: "wrap", text: r.actions.map((a) => a.type === "throttle_tenant" ? `throttle ${a.minutes} min` : `disable ${a.feature}`).join(", ") || "–" })))));
  const channelTable = el("table", { id: "channels" },
    el("thead", {}, el("tr", {}, ["Channel", "Type", "URL", "Signed"].map((h) => el("th", { text: h })))),
    el("tbody", {}, channels.data.map((c) => el("tr", {}, el("td", { text: c.name }), el("td", { text: c.type }),
      el("td", { class: "wrap", text: c.url }), el("td", { text: c.hasSecret ? "yes" : "no" })))));
  if (params.firing) setTimeout(() => document.querySelector("tr.selected")?.scrollIntoView({ block: "center" }), 0);
  return el("section", { "aria-label": "Alerts" },
    el("h1", { text: "Alerts" }),
    el("div", { class: "card filters" }, evaluate, status),
    el("div", { class: "card" }, el("h2", { text: `Firing now (${alerts.firing.length})` }),
      alerts.firing.length ? el("div", { class: "table-wrap" }, firingTable("firing", alerts.firing, false, params.firing)) : el("p", { class: "muted", id: "none-firing", text: "Nothing is firing." })),
    el("div", { class: "card" }, el("h2", { text: "Rules" }), el("div", { class: "table-wrap" }, ruleTable)),
    el("div", { class: "card" }, el("h2", { text: "Channels" }),
      channels.data.length ? el("div", { class: "table-wrap" }, channelTable) : el("p", { class: "muted", text: "No channel: alerts show here only. Add one with POST /api/tally/v1/alerts/channels." })),
    el("div", { class: "card" }, el("h2", { text: "History" }),
      alerts.history.length ? el("div", { class: "table-wrap" }, firingTable("history", alerts.history, true, params.firing)) : el("p", { class: "muted", text: "No alert has resolved yet." })));
}
