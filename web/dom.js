// Tally web UI: DOM and formatting helpers shared by every page.
// Safety contract: trace content is untrusted. Every piece of data reaches the page through textContent or an
// attribute set to a value we build (hash links from encodeURIComponent); innerHTML is never used.

export const main = document.getElementById("main");
const SVG = "http://www.w3.org/2000/svg";

/** Creates an element; `props` sets properties (text → textContent), children are nodes or strings (as text). */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "href") node.setAttribute("href", safeHref(v));
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Only in-app hash links and same-origin API paths are ever used as hrefs. */
export function safeHref(v) {
  const s = String(v);
  return s.startsWith("#/") || s.startsWith("/api/") ? s : "#/";
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

export function link(hash, text) { return el("a", { href: hash, text: text ?? "" }); }

/** A tenant's name linking to its page, or `none` when the row has no tenant. */
export function tenantLink(tenant, none = "–") {
  return tenant ? link(hashFor("tenant/" + encodeURIComponent(tenant)), tenant) : none;
}

export function hashFor(page, params) {
  const s = query(params || {});
  return "#/" + page + (s ? "?" + s : "");
}

/** USD: cents from $1 up, else four significant digits with trailing zeros dropped ($0.00518, $0.02). */
export const usd = (v) => v === null || v === undefined ? "–" :
  "$" + (Math.abs(v) >= 1 ? v.toFixed(2) : String(Number(v.toPrecision(4))));
export const int = (v) => v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US");
export const ms = (v) => v === null || v === undefined ? "–" : v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms";
export const when = (iso) => iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–";
export const pct = (v) => v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%";

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q.toString();
}

/** Renders the current page again (after a write the page made), through the router as a hash change would. */
export function rerender() { window.dispatchEvent(new HashChangeEvent("hashchange")); }
