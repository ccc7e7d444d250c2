// Tally web UI: the spend dashboards.
import { el, hashFor, query, int } from "./dom.js";
import { api, rangeStart } from "./api.js";
import { stackedBars, lines, hbars } from "./charts.js";
import { rangeControls, tenantSpendTable, projectIsEmpty, connectGuide } from "./widgets.js";

export async function dashboardsPage(_arg, params, stale) {
  if (await projectIsEmpty()) return stale() ? null : el("section", { "aria-label": "Dashboards" }, el("h1", { text: "Dashboards" }), await connectGuide());
  const from = rangeStart(params.range || "30d");
  const common = { from, environment: params.environment };
  const window = params.window || "24h";
  const [spend, tenants, perSuccess, models] = await Promise.all([
    api("/api/tally/v1/dashboards/spend-by-feature?" + query(common)),
    api("/api/tally/v1/dashboards/top-tenants?" + query({ window, environment: params.environment, limit: 10 })),
    api("/api/tally/v1/dashboards/tokens-per-success?" + query(common)),
    api("/api/tally/v1/dashboards/cost-by-model?" + query(common)),
  ]);
  if (stale()) return null;
  const windowPick = el("select", { id: "window", "aria-label": "Top tenants window" }, ["24h", "7d"].map((w) => el("option", { value: w, text: w, selected: w === window })));
  windowPick.addEventListener("change", () => { location.hash = hashFor("dashboards", Object.assign({}, params, { window: windowPick.value })); });
  const tenantTable = tenantSpendTable("top-tenants", tenants.data);
  return el("section", { "aria-label": "Dashboards" },
    el("h1", { text: "Dashboards" }),
    rangeControls("dashboards", params),
    el("div", { class: "grid" },
      el("div", { class: "card", id: "dash-spend" }, el("h2", { text: "Spend by feature per day" }),
        stackedBars(spend.data.map((r) => ({ bucket: r.bucket, series: r.feature ?? "(none)", value: r.totalCost })))),
      el("div", { class: "card", id: "dash-tenants" }, el("h2", { text: "Top tenants by cost" }), el("div", { class: "filters" }, el("label", {}, "Window", windowPick)), el("div", { class: "table-wrap" }, tenantTable)),
      el("div", { class: "card", id: "dash-success" }, el("h2", { text: "Tokens per successful action" }),
        lines(perSuccess.data.filter((r) => r.tokensPerSuccess !== null).map((r) => ({ bucket: r.bucket, series: "tokens / success", value: r.tokensPerSuccess })), { format: int })),
      el("div", { class: "card", id: "dash-models" }, el("h2", { text: "Cost by model" }),
        hbars(models.data.filter((r) => r.totalCost > 0).map((r) => ({ label: r.model ?? "(none)", value: r.totalCost }))))));
}
