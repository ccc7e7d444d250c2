// Tally web UI: charts, drawn as SVG by our own code.
//
// Legible at any card width: each chart is drawn at its container's width in CSS pixels (one SVG unit is one
// pixel, no viewBox scaling), so its text is always FONT px, and drawn again when the card is resized. Every bar and
// point is focusable and shows its exact value in a tooltip on hover or keyboard focus.
import { el, svg, usd } from "./dom.js";

/** Text size of labels and values, CSS px (never scaled). */
const FONT = 12;
const palette = ["#3355cc", "#2f855a", "#d69e2e", "#c0392b", "#805ad5", "#319795", "#dd6b20", "#718096", "#d53f8c", "#38a169"];
const color = (i) => palette[i % palette.length];

/**
 * A chart container that calls `draw(width)` (width in px) once it is laid out and whenever its width changes,
 * and shows `tip` texts of marks on hover and focus.
 */
function chartBox(label, draw, extra) {
  const tooltip = el("div", { class: "chart-tip", role: "tooltip", hidden: true });
  const canvas = el("div", { class: "chart-canvas" });
  const box = el("div", { class: "chart", role: "group", "aria-label": label }, canvas, tooltip, extra);
  let drawn = 0;
  const render = () => {
    const width = Math.floor(canvas.clientWidth);
    if (width <= 0 || width === drawn) return;
    drawn = width;
    canvas.replaceChildren(draw(width));
  };
  new ResizeObserver(render).observe(canvas);
  const show = (mark) => {
    if (!mark || !mark.dataset || !mark.dataset.tip) return;
    tooltip.textContent = mark.dataset.tip;
    tooltip.hidden = false;
    const r = mark.getBoundingClientRect(), b = box.getBoundingClientRect();
    tooltip.style.left = Math.max(0, Math.min(b.width - tooltip.offsetWidth, r.left - b.left + r.width / 2 - tooltip.offsetWidth / 2)) + "px";
    tooltip.style.top = Math.max(0, r.top - b.top - tooltip.offsetHeight - 6) + "px";
  };
  const hide = () => { tooltip.hidden = true; };
  box.addEventListener("mouseover", (e) => show(e.target.closest("[data-tip]")));
  box.addEventListener("mouseout", hide);
  box.addEventListener("focusin", (e) => show(e.target.closest("[data-tip]")));
  box.addEventListener("focusout", hide);
  return box;
}

/** A mark (bar or point) that carries its exact value as a tooltip: hover, keyboard focus, and <title>. */
function mark(tag, attrs, tip) {
  return svg(tag, Object.assign({ tabindex: 0, "data-tip": tip, "aria-label": tip, class: "mark" }, attrs), svg("title", {}, tip));
}

function text(x, y, value, attrs) {
  return svg("text", Object.assign({ x, y, "font-size": FONT, fill: "#475467" }, attrs), value);
}

/** Horizontal grid lines with their values; returns the width taken by the value labels. */
function axis(chart, { width, height, left, bottom, top, max, format }) {
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4, yy = height - bottom - (k / 4) * (height - bottom - top);
    chart.append(svg("line", { x1: left, x2: width, y1: yy, y2: yy, stroke: "#e4e7ec" }));
    chart.append(text(left - 4, yy + FONT / 3, format(v), { "text-anchor": "end" }));
  }
}

/** Left margin wide enough for the longest axis value. */
const axisWidth = (max, format) => 10 + Math.max(...[0, 1, 2, 3, 4].map((k) => format((max * k) / 4).length)) * FONT * 0.62;

/** Bucket labels along x, thinned to what fits (one per ~7 characters of label width). */
function xLabels(chart, buckets, x, { height, spacing }) {
  const labelWidth = Math.max(...buckets.map((b) => String(b).slice(5).length), 1) * FONT * 0.62 + 8;
  const every = Math.max(1, Math.ceil(labelWidth / Math.max(1, spacing)));
  buckets.forEach((b, i) => {
    if (i % every === 0) chart.append(text(x(i), height - 6, String(b).slice(5), { "text-anchor": "middle" }));
  });
}

function legend(series) {
  return el("div", { class: "legend" }, series.map((s, i) => el("span", { class: "sw" + (i % 10), text: s ?? "(none)" })));
}

/** Stacked bars: buckets on x, one segment per series. `rows`: [{bucket, series, value}]. */
export function stackedBars(rows, { format = usd, height = 240 } = {}) {
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const series = [...new Set(rows.map((r) => r.series))].sort();
  const totals = buckets.map((b) => rows.filter((r) => r.bucket === b).reduce((s, r) => s + r.value, 0));
  const max = Math.max(1e-12, ...totals);
  const draw = (width) => {
    const left = axisWidth(max, format), bottom = FONT + 14, top = 8;
    const step = (width - left) / Math.max(1, buckets.length);
    const chart = svg("svg", { width, height, role: "img", "aria-label": "stacked bar chart" });
    axis(chart, { width, height, left, bottom, top, max, format });
    buckets.forEach((b, i) => {
      let y = height - bottom;
      const barW = Math.min(56, Math.max(2, step - 4));
      for (const [si, s] of series.entries()) {
        const v = rows.filter((r) => r.bucket === b && r.series === s).reduce((acc, r) => acc + r.value, 0);
        if (!v) continue;
        const h = (v / max) * (height - bottom - top);
        y -= h;
        chart.append(mark("rect", { x: left + i * step + (step - barW) / 2, y, width: barW, height: Math.max(h, 1), fill: color(si) },
          `${b} · ${s ?? "(none)"}: ${format(v)} (of ${format(totals[i])})`));
      }
    });
    xLabels(chart, buckets, (i) => left + i * step + step / 2, { height, spacing: step });
    return chart;
  };
  return chartBox("stacked bar chart", draw, legend(series));
}

/** Lines: one per series over sorted x buckets. `rows`: [{bucket, series, value}]. */
export function lines(rows, { format = usd, height = 240 } = {}) {
  const buckets = [...new Set(rows.map((r) => r.bucket))].sort();
  const series = [...new Set(rows.map((r) => r.series))].sort((a, b) => String(a).localeCompare(String(b), undefined, { numeric: true }));
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const draw = (width) => {
    const left = axisWidth(max, format), bottom = FONT + 14, top = 10, right = 10;
    const x = (i) => left + (buckets.length <= 1 ? (width - left) / 2 : (i * (width - left - right)) / (buckets.length - 1));
    const y = (v) => height - bottom - (v / max) * (height - bottom - top);
    const chart = svg("svg", { width, height, role: "img", "aria-label": "line chart" });
    axis(chart, { width, height, left, bottom, top, max, format });
    series.forEach((s, si) => {
      const pts = buckets.map((b, i) => { const r = rows.find((r) => r.bucket === b && r.series === s); return r ? [x(i), y(r.value), b, r.value] : null; }).filter(Boolean);
      if (pts.length > 1) chart.append(svg("polyline", { points: pts.map((p) => p[0] + "," + p[1]).join(" "), fill: "none", stroke: color(si), "stroke-width": 2 }));
      for (const p of pts) chart.append(mark("circle", { cx: p[0], cy: p[1], r: 4, fill: color(si) }, `${p[2]} · ${s}: ${format(p[3])}`));
    });
    xLabels(chart, buckets, x, { height, spacing: buckets.length <= 1 ? width : (width - left - right) / (buckets.length - 1) });
    return chart;
  };
  return chartBox("line chart", draw, legend(series));
}

/** Horizontal bars: `rows` [{label, value}], largest first; labels cut to what fits, the full one in the tooltip. */
export function hbars(rows, { format = usd } = {}) {
  const max = Math.max(1e-12, ...rows.map((r) => r.value));
  const rowH = FONT + 14;
  const draw = (width) => {
    const valueW = Math.max(...rows.map((r) => format(r.value).length), 4) * FONT * 0.62 + 8;
    const left = Math.min(Math.max(...rows.map((r) => String(r.label ?? "(none)").length), 4) * FONT * 0.62 + 8, width * 0.4);
    const maxChars = Math.max(4, Math.floor((left - 8) / (FONT * 0.62)));
    const height = Math.max(rowH, rows.length * rowH);
    const chart = svg("svg", { width, height, role: "img", "aria-label": "bar chart" });
    rows.forEach((r, i) => {
      const label = String(r.label ?? "(none)");
      const w = (r.value / max) * Math.max(10, width - left - valueW);
      const y = i * rowH;
      chart.append(text(left - 6, y + rowH / 2 + FONT / 3, label.length > maxChars ? label.slice(0, maxChars - 1) + "…" : label, { "text-anchor": "end", fill: "#1d2330" }));
      chart.append(mark("rect", { x: left, y: y + 4, width: Math.max(1, w), height: rowH - 8, fill: color(i) }, `${label}: ${format(r.value)}`));
      chart.append(text(left + w + 4, y + rowH / 2 + FONT / 3, format(r.value)));
    });
    return chart;
  };
  return chartBox("bar chart", draw);
}
