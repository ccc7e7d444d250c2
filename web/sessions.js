// Tally web UI: Sessions — newest first with their totals; one session as a conversation, turn by turn.
// Safety contract: trace content is untrusted; it is rendered as text (contentView).
import { el, link, hashFor, query, usd, int, ms, when, tenantLink } from "./dom.js";
import { api } from "./api.js";
import { rangeControls, projectIsEmpty, connectGuide, dayRange } from "./widgets.js";
import { contentView } from "./trace.js";

export async function sessionsPage(_arg, params, stale) {
  if (await projectIsEmpty()) return stale() ? null : el("section", { "aria-label": "Sessions" }, el("h1", { text: "Sessions" }), await connectGuide());
  const limit = 50;
  const offset = Number(params.offset || 0);
  const { from, to } = dayRange(params.range || "30d");
  const result = await api("/api/tally/v1/sessions?" + query({ from, to, tenantId: params.tenantId, userId: params.userId, environment: params.environment, limit, offset }));
  if (stale()) return null;
  const go = (changes) => { location.hash = hashFor("sessions", Object.assign({}, params, changes)); };
  const field = (key, label) => {
    const input = el("input", { id: "f-" + key, value: params[key] || "", placeholder: "all" });
    input.addEventListener("change", () => go({ [key]: input.value.trim(), offset: undefined }));
    return el("label", { for: "f-" + key }, label, input);
  };
  const body = result.data.map((s) => el("tr", { "data-session": s.sessionId },
    el("td", {}, link(hashFor("session/" + encodeURIComponent(s.sessionId)), s.sessionId)),
    el("td", { text: when(s.start).slice(0, 16) }), el("td", { class: "num", text: ms(s.durationMs) }),
    el("td", { class: "num", text: int(s.traces) }), el("td", { class: "num", text: int(s.totalTokens) }),
    el("td", { class: "num", text: usd(s.totalCost) }), el("td", { class: "num", text: int(s.errors) }),
    el("td", { text: s.userId ?? (s.users > 1 ? s.users + " users" : "–") }), el("td", {}, tenantLink(s.tenant))));
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", text: "← Newer", disabled: offset === 0, on: { click: () => go({ offset: Math.max(0, offset - limit) }) } }),
    el("span", { class: "muted", text: result.data.length ? `${offset + 1}–${offset + result.data.length}` : "no sessions match" }),
    el("button", { type: "button", text: "Older →", disabled: result.data.length < limit, on: { click: () => go({ offset: offset + limit }) } }));
  return el("section", { "aria-label": "Sessions" }, el("h1", { text: "Sessions" }),
    rangeControls("sessions", params, field("tenantId", "Tenant"), field("userId", "User")),
    el("div", { class: "table-wrap" }, el("table", { id: "sessions" },
      el("thead", {}, el("tr", {}, ["Session", "Started", "Duration", "Turns", "Tokens", "Cost", "Errors", "User", "Tenant"].map((h, k) => el("th", { class: k >= 2 && k <= 6 ? "num" : "", text: h })))),
      el("tbody", {}, body))), pager);
}

export async function sessionPage(id, _params, stale) {
  const [session, turns] = await Promise.all([
    api("/api/public/sessions/" + encodeURIComponent(id)),
    api("/api/tally/v1/traces?" + query({ sessionId: id, sort: "timestamp", limit: 200 })),
  ]);
  if (stale()) return null;
  const figures = new Map(turns.data.map((t) => [t.id, t]));
  const totals = turns.data.reduce((s, t) => ({ tokens: s.tokens + t.totalTokens, cost: s.cost + t.totalCost }), { tokens: 0, cost: 0 });
  const turnCards = session.traces.map((t, i) => {
    const f = figures.get(t.id) || {};
    return el("article", { class: "card turn", "data-trace-id": t.id },
      el("div", { class: "turn-head" },
        el("strong", { text: `Turn ${i + 1}` }), " ", link(hashFor("trace/" + encodeURIComponent(t.id)), t.name || t.id),
        el("span", { class: "muted", text: ` · ${when(t.timestamp)}${t.userId ? " · " + t.userId : ""}` }),
        el("span", { class: "spacer" }),
        el("span", { class: "turn-figures", text: `${int(f.totalTokens)} tokens · ${usd(f.totalCost ?? t.totalCost)} · ${ms(f.latencyMs)}` + (f.level === "ERROR" ? " · ERROR" : "") })),
      el("div", { class: "turn-body" },
        el("div", {}, el("div", { class: "muted", text: "Input" }), contentView(t.input)),
        el("div", {}, el("div", { class: "muted", text: "Output" }), contentView(t.output))));
  });
  return el("section", { "aria-label": "Session" }, el("p", {}, link("#/sessions", "← Sessions")),
    el("h1", {}, "Session ", el("span", { id: "session-id", text: id })),
    el("p", { class: "muted", id: "session-totals", text: `${session.traces.length} turns · ${int(totals.tokens)} tokens · ${usd(totals.cost)}` + (turns.data.length < session.traces.length ? " (figures of the first 200 turns)" : "") }),
    el("div", { id: "turns" }, turnCards));
}
