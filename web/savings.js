// Tally web UI: Savings — the waste finders' findings as cards, and the what-if form.
import { el, link, hashFor, query, usd, int, pct } from "./dom.js";
import { api, rangeStart } from "./api.js";
import { hbars } from "./charts.js";
import { rangeControls, projectIsEmpty, connectGuide } from "./widgets.js";

const titles = {
  model_downgrade: "Route short calls to a smaller model",
  context_bloat: "Trim the context",
  agent_loop: "Cap agent loops",
  retry_waste: "Stop paying for failed calls",
  cache_opportunity: "Cache repeated requests",
  embed_reindex: "Skip re-embedding unchanged inputs",
};

const nanoUsd = (n) => Number(n || 0) / 1e9;

/** The numbers a finding's small chart compares, and their format. */
function evidenceChart(f) {
  const e = f.evidence;
  switch (f.type) {
    case "model_downgrade":
      return [[{ label: f.subject.model, value: nanoUsd(e.costNanos) }, { label: e.alternativeModel, value: nanoUsd(e.alternativeCostNanos) }], usd];
    case "context_bloat":
      return e.previousInputTokensPerCall !== undefined && e.medianInputTokens === undefined
        ? [[{ label: "week before", value: e.previousInputTokensPerCall }, { label: "last week", value: e.inputTokensPerCall }], int]
        : [[{ label: "median input", value: e.medianInputTokens }, { label: "p95 input", value: e.p95InputTokens }], int];
    case "agent_loop":
      return [[{ label: "feature spend", value: nanoUsd(e.featureCostNanos) }, { label: "looping traces", value: nanoUsd(e.loopCostNanos) }, { label: "after the cap", value: nanoUsd(e.afterCapCostNanos) }], usd];
    case "retry_waste":
      return [[{ label: "calls", value: e.calls }, { label: "errors", value: e.errors }], int];
    default:
      return [[{ label: "repeated calls", value: e.repeatedCalls }, { label: "distinct inputs", value: e.distinctInputs }], int];
  }
}

/** The evidence as name: value lines (nano-USD amounts in USD). */
function evidenceList(e) {
  return el("dl", { class: "kv evidence" }, Object.keys(e).sort().flatMap((k) => {
    const v = e[k];
    const name = k.endsWith("Nanos") ? k.slice(0, -5) : k;
    const text = k.endsWith("Nanos") ? usd(nanoUsd(v)) : typeof v === "number" && !Number.isInteger(v) ? (k.toLowerCase().includes("rate") || k === "growth" || k.startsWith("share") ? pct(v) : v.toFixed(2)) : typeof v === "number" ? int(v) : String(v);
    return [el("dt", { text: name }), el("dd", { text })];
  }));
}

function subjectText(s) {
  return [s.tenant && "tenant " + s.tenant, s.feature && "feature " + s.feature, s.promptName && "prompt " + s.promptName + (s.promptVersion !== undefined ? " v" + s.promptVersion : ""), s.model && "model " + s.model]
    .filter(Boolean).join(" · ") || "whole project";
}

function findingCard(f, i) {
  const [rows, format] = evidenceChart(f);
  return el("article", { class: "card finding", id: "finding-" + i, "data-type": f.type },
    el("div", { class: "finding-head" },
      el("div", {}, el("h2", { text: titles[f.type] || f.type }), el("p", { class: "muted subject", text: subjectText(f.subject) })),
      el("div", { class: "saving" }, el("span", { class: "amount", text: "≈ " + usd(f.estimatedMonthlyUsd) }), el("span", { class: "muted", text: " / month" }))),
    el("p", { class: "muted", text: `${f.type} · ${usd(f.wasteUsd)} over the evidence's period` }),
    hbars(rows, { format }),
    evidenceList(f.evidence),
    el("p", { class: "examples" }, "Examples: ", f.traces.length ? f.traces.flatMap((t, k) => [k ? ", " : "", link(hashFor("trace/" + encodeURIComponent(t)), t)]) : "–",
      " · ", link(f.url.startsWith("/#/") ? f.url.slice(1) : "#/traces", "View the calls")));
}

/** The what-if form (feature and model) and, once asked, its answer. */
function whatIfSection(params, features, models, answer, error) {
  const feature = el("select", { id: "wi-feature", name: "feature" }, el("option", { value: "", text: "all features" }),
    features.map((f) => el("option", { value: f, text: f, selected: params.feature === f })));
  const list = el("datalist", { id: "wi-models" }, models.map((m) => el("option", { value: m })));
  const model = el("input", { id: "wi-as", name: "as", list: "wi-models", value: params.as || "", placeholder: "gpt-4o-mini", required: true });
  const form = el("form", { class: "filters", id: "what-if-form" },
    el("label", { for: "wi-feature" }, "Feature", feature), el("label", { for: "wi-as" }, "Price as model", model), list,
    el("button", { class: "primary", type: "submit", text: "Compare" }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = hashFor("savings", Object.assign({}, params, { feature: feature.value, as: model.value.trim() }));
  });
  const parts = [el("h2", { text: "What if these calls ran on another model?" }), form];
  if (error) parts.push(el("p", { class: "error", role: "alert", id: "what-if-error", text: error }));
  if (answer) {
    const row = (name, r) => el("tr", {}, el("td", { text: name }), el("td", { class: "num", text: int(r.calls) }),
      el("td", { class: "num", text: int(r.inputTokens) }), el("td", { class: "num", text: int(r.outputTokens) }),
      el("td", { class: "num", text: usd(r.actualCost) }), el("td", { class: "num", text: usd(r.whatIfCost) }),
      el("td", { class: "num " + (r.differenceNanos < 0 ? "delta-better" : r.differenceNanos > 0 ? "delta-worse" : ""), text: usd(r.difference) }),
      el("td", { class: "num", text: r.differencePercent === null ? "–" : r.differencePercent.toFixed(1) + "%" }));
    parts.push(el("p", { class: "muted", id: "what-if-target", text: `Priced as ${answer.as.pricedAs}${answer.as.tiersIgnored ? " (default tier)" : ""}; calls without a cost are left out (${int(answer.total.uncostedCalls)}).` }),
      el("div", { class: "table-wrap" }, el("table", { id: "what-if" },
        el("thead", {}, el("tr", {}, ["Model", "Calls", "Input tokens", "Output tokens", "Actual", "What-if", "Difference", "%"].map((h, k) => el("th", { class: k ? "num" : "", text: h })))),
        el("tbody", {}, answer.data.map((r) => row(r.model ?? "(none)", r))),
        el("tfoot", {}, row("Total", answer.total)))));
    if (answer.quality.length) {
      parts.push(el("h3", { text: "What is known of their quality" }), el("div", { class: "table-wrap" }, el("table", { id: "what-if-quality" },
        el("thead", {}, el("tr", {}, ["Feature", "Model", "Calls", "Error rate", "Mean scores"].map((h) => el("th", { text: h })))),
        el("tbody", {}, answer.quality.flatMap((q) => q.models.map((m) => el("tr", { class: m.target ? "selected" : "" },
          el("td", { text: q.feature ?? "(none)" }), el("td", { text: m.model + (m.target ? " (what-if)" : "") }), el("td", { class: "num", text: int(m.calls) }),
          el("td", { class: "num", text: pct(m.errorRate) }),
          el("td", { text: Object.entries(m.scores).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ") || "–" }))))))));
    } else {
      parts.push(el("p", { class: "muted", id: "what-if-no-quality", text: "The other model has not run on these features in this range: nothing is known of its quality here." }));
    }
  }
  return el("div", { class: "card", id: "what-if-card" }, parts);
}

export async function savingsPage(_arg, params, stale) {
  if (await projectIsEmpty()) return stale() ? null : el("section", { "aria-label": "Savings" }, el("h1", { text: "Savings" }), await connectGuide());
  const range = params.range || "30d";
  const to = new Date().toISOString();
  const from = rangeStart(range === "all" ? "365d" : range);
  const [insights, features, models] = await Promise.all([
    api("/api/tally/v1/insights?" + query({ from, to, environment: params.environment })),
    api("/api/tally/v1/breakdown?" + query({ groupBy: "feature", from, to, environment: params.environment, metrics: "count,totalCost", sort: "-totalCost", limit: 200 })),
    api("/api/public/models?limit=100"),
  ]);
  let answer = null, error = null;
  if (params.as) {
    try {
      answer = await api("/api/tally/v1/what-if?" + query({ as: params.as, feature: params.feature, from, to, environment: params.environment, groupBy: "model" }));
    } catch (e) { error = e.message; }
  }
  if (stale()) return null;
  const total = insights.data.reduce((s, f) => s + f.estimatedMonthlyUsd, 0);
  const modelNames = [...new Set(models.data.map((m) => m.modelName))].sort();
  return el("section", { "aria-label": "Savings" },
    el("h1", { text: "Savings" }),
    rangeControls("savings", params, el("span", { class: "muted", id: "savings-total", text: `${insights.data.length} findings · ≈ ${usd(total)} / month` })),
    insights.data.length
      ? el("div", { class: "grid findings", id: "findings" }, insights.data.map(findingCard))
      : el("p", { class: "card muted", id: "no-findings", text: "No waste found in this range with the default thresholds." }),
    whatIfSection(params, features.data.map((r) => r.feature).filter(Boolean), modelNames, answer, error));
}
