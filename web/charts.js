// Tally web UI: charts, drawn as SVG by our own code.
import { el, svg, usd } from "./dom.js";

/** Stacked bars: buckets on x, one segment per series. `rows`: [{bucket, series, value}]. */
export function stackedBars(rows, { format = usd, height = 220 } = {}) {
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const series = [...new Set(rows.map((r) => r.series))].sort();
  const totals = buckets.map((b) => rows.filter((r) => r.bucket === b).reduce((s, r) => s + r.value, 0));
  const max = Math.max(1e-12, ...totals);
  const width = 640, left = 72, bottom = 24, top = 8;
  const step = (width - left) / Math.max(1, buckets.length);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "stacked bar chart" });
  axis(chart, { width, height, left, bottom, top, max, format });
  buckets.forEach((b, i) => {
    let y = height - bottom;
    for (const [si, s] of series.entries()) {
      const v = rows.filter((r) => r.bucket === b && r.series === s).reduce((acc, r) => acc + r.value, 0);
      if (!v) continue;
      const h = (v / max) * (height - bottom - top);
      y -= h;
      const barW = Math.min(48, Math.max(1, step - 2));
      chart.append(svg("rect", { x: left + i * step + (step - barW) / 2, y, width: barW, height: h, class: "seg sw" + (si % 10), fill: color(si) },
        svg("title", {}, `${b} · ${s ?? "(none)"}: ${format(v)}`)));
    }
    if (buckets.length <= 16 || i % Math.ceil(buckets.length / 8) === 0) {
      chart.append(svg("text", { x: left + i * step + step / 2, y: height - 6, "text-anchor": "middle", "font-size": 10, fill: "#667085" }, String(b).slice(5)));
    }
  });
  return el("div", { class: "chart" }, chart, legend(series));
}

/** Lines: one per series over sorted x buckets. `rows`: [{bucket, series, value}]. */
export function lines(rows, { format = usd, height = 220 } = {}) {
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const series = [...new Set(rows.map((r) => r.series))].sort((a, b) => String(a).localeCompare(String(b), undefined, { numeric: true }));
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const width = 640, left = 72, bottom = 24, top = 8;
  const x = (i) => left + (buckets.length <= 1 ? (width - left) / 2 : (i * (width - left - 8)) / (buckets.length - 1));
  const y = (v) => height - bottom - (v / max) * (height - bottom - top);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "line chart" });
  axis(chart, { width, height, left, bottom, top, max, format });
  series.forEach((s, si) => {
    const pts = buckets.map((b, i) => { const r = rows.find((r) => r.bucket === b && r.series === s); return r ? [x(i), y(r.value), b, r.value] : null; }).filter(Boolean);
    if (pts.length > 1) chart.append(svg("polyline", { points: pts.map((p) => p[0] + "," + p[1]).join(" "), fill: "none", stroke: color(si), "stroke-width": 2 }));
    for (const p of pts) chart.append(svg("circle", { cx: p[0], cy: p[1], r: 3, fill: color(si) }, svg("title", {}, `${p[2]} · ${s}: ${format(p[3])}`)));
  });
  buckets.forEach((b, i) => {
    if (buckets.length <= 16 || i % Math.ceil(buckets.length / 8) === 0) {
      chart.append(svg("text", { x: x(i), y: height - 6, "text-anchor": "middle", "font-size": 10, fill: "#667085" }, String(b).slice(5)));
    }
  });
  return el("div", { class: "chart" }, chart, legend(series));
}

/** Horizontal bars: `rows` [{label, value}], largest first. */
export function hbars(rows, { format = usd } = {}) {
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const width = 440, rowH = 22, left = 150;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${Math.max(rowH, rows.length * rowH)}`, role: "img", "aria-label": "bar chart" });
  rows.forEach((r, i) => {
    const w = (r.value / max) * (width - left - 80);
    chart.append(svg("text", { x: left - 6, y: i * rowH + 15, "text-anchor": "end", "font-size": 11, fill: "#1d2330" }, String(r.label ?? "(none)").slice(0, 24)));
    chart.append(svg("rect", { x: left, y: i * rowH + 4, width: Math.max(1, w), height: rowH - 8, fill: color(i) }, svg("title", {}, `${r.label ?? "(none)"}: ${format(r.value)}`)));
    chart.append(svg("text", { x: left + w + 4, y: i * rowH + 15, "font-size": 11, fill: "#667085" }, format(r.value)));
  });
  return el("div", { class: "chart" }, chart);
}

const palette = ["#3355cc", "#2f855a", "#d69e2e", "#c0392b", "#805ad5", "#319795", "#dd6b20", "#718096", "#d53f8c", "#38a169"];
const color = (i) => palette[i % palette.length];

function axis(chart, { width, height, left, bottom, top, max, format }) {
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4, yy = height - bottom - (k / 4) * (height - bottom - top);
    chart.append(svg("line", { x1: left, x2: width, y1: yy, y2: yy, stroke: "#e4e7ec" }));
    chart.append(svg("text", { x: left - 4, y: yy + 3, "text-anchor": "end", "font-size": 10, fill: "#667085" }, format(v)));
  }
}

function legend(series) {
  return el("div", { class: "legend" }, series.map((s, i) => el("span", { class: "sw" + (i % 10), text: s ?? "(none)" })));
}
