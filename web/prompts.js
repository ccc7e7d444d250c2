// Tally web UI: prompt versions side by side.
import { el, link, hashFor, query, usd, int, ms, when, pct } from "./dom.js";
import { api } from "./api.js";
import { lines } from "./charts.js";
import { diffLines, promptLines } from "./diff.js";

/** Two stored versions' text side by side; changed lines marked (− / +, and by colour). */
function promptDiff(pa, pb) {
  if (!pa || !pb) return el("p", { class: "muted", text: "The text of a version shows here when the prompt is managed in Tally (POST /api/public/v2/prompts, or the SDKs' create_prompt)." });
  const rows = diffLines(promptLines(pa), promptLines(pb));
  const changed = rows.filter((r) => r.op !== "same").length;
  const mark = { removed: "−", added: "+", changed: "~", same: "" };
  const cell = (text, side, op) => el("td", { class: `diff-line diff-${op === "same" ? "same" : side === "a" ? (op === "added" ? "none" : "del") : (op === "removed" ? "none" : "ins")}` },
    el("span", { class: "diff-mark", "aria-hidden": "true", text: op === "same" || text === undefined ? "" : (side === "a" ? "−" : "+") }), text ?? "");
  return el("div", {},
    el("p", { class: "muted", id: "diff-summary", text: changed === 0 ? "Same text and config." : `${changed} line${changed === 1 ? "" : "s"} differ.` }),
    el("table", { id: "prompt-diff", class: "diff" },
      el("thead", {}, el("tr", {}, el("th", { text: `v${pa.version}` + (pa.commitMessage ? ` — ${pa.commitMessage}` : "") }), el("th", { text: `v${pb.version}` + (pb.commitMessage ? ` — ${pb.commitMessage}` : "") }))),
      el("tbody", {}, rows.map((r) => el("tr", { class: "diff-" + r.op, title: r.op === "same" ? undefined : r.op + " " + mark[r.op] }, cell(r.a, "a", r.op), cell(r.b, "b", r.op))))));
}

export async function promptsPage(_arg, params, stale) {
  const [names, managed] = await Promise.all([
    api("/api/tally/v1/breakdown?" + query({ groupBy: "promptName", metrics: "count,totalCost", sort: "-count", limit: 200 })),
    api("/api/public/v2/prompts?" + query({ limit: 100 })),
  ]);
  if (stale()) return null;
  // Prompts with runs (most used first), then prompts managed here that have not run yet.
  const runs = new Map(names.data.filter((r) => r.promptName).map((r) => [r.promptName, r.count]));
  const list = [...runs.keys(), ...managed.data.map((p) => p.name).filter((n) => !runs.has(n))];
  const name = params.name || list[0];
  const picker = el("select", { id: "prompt-name", "aria-label": "Prompt" }, list.map((n) => el("option", { value: n, text: `${n} (${runs.get(n) || 0} runs)`, selected: n === name })));
  picker.addEventListener("change", () => { location.hash = hashFor("prompts", { name: picker.value }); });
  if (!name) return el("section", {}, el("h1", { text: "Prompt versions" }), el("p", { class: "muted", text: "No generation is linked to a prompt yet. Link one with prompt= in the SDKs (or promptName and promptVersion on a generation)." }));
  const [versions, overTime] = await Promise.all([
    api(`/api/tally/v1/prompts/${encodeURIComponent(name)}/versions`),
    api("/api/tally/v1/breakdown?" + query({ groupBy: "promptVersion", promptName: name, bucket: "day", metrics: "count,totalCost", limit: 10000 })),
  ]);
  if (stale()) return null;
  const rows = versions.data;
  const stored = new Map((versions.prompts || []).map((p) => [p.version, p]));
  // Versions with runs and versions stored here but not run yet can both be compared.
  const all = [...new Set([...rows.map((r) => r.promptVersion), ...stored.keys()])].sort((x, y) => x - y);
  const a = Number(params.a || (all.length > 1 ? all[all.length - 2] : all[0]));
  const b = Number(params.b || all[all.length - 1]);
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
    const label = (v) => "v" + v + (stored.get(v)?.labels.length ? " · " + stored.get(v).labels.join(", ") : "") + (rows.some((r) => r.promptVersion === v) ? "" : " (no runs)");
    const s = el("select", { id: "compare-" + key, "aria-label": "Version " + key.toUpperCase() }, all.map((v) => el("option", { value: v, text: label(v), selected: v === value })));
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
    }))) : el("p", { class: "muted", text: "Pick two versions that have runs to compare their figures." });
  const perRun = overTime.data.filter((r) => r.count > 0).map((r) => ({ bucket: r.bucket, series: "v" + r.promptVersion, value: r.totalCost / r.count }));
  return el("section", { "aria-label": "Prompt versions" },
    el("h1", { text: "Prompt versions" }),
    el("div", { class: "card filters" }, el("label", {}, "Prompt", picker)),
    el("div", { class: "card" }, el("h2", { text: "Side by side" }), el("div", { class: "filters" }, el("label", {}, "A", pick("a", a)), el("label", {}, "B", pick("b", b))), el("div", { class: "table-wrap" }, compare),
      el("h3", { text: "What changed" }), el("div", { class: "table-wrap" }, promptDiff(stored.get(a), stored.get(b)))),
    el("div", { class: "card" }, el("h2", { text: "Cost per run by day" }), lines(perRun)),
    el("div", { class: "card table-wrap" }, el("h2", { text: "All versions" }), table),
    el("p", { class: "muted", text: rows.some((r) => !r.latencyExact) ? "Latency percentiles come from the daily histogram (within 1%)." : "" }));
}
