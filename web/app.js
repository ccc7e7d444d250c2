// Tally web UI: sign-in, routing and start. Plain JavaScript modules, no build step, no third-party code.
// Safety contract: trace content is untrusted. Every piece of data reaches the page through textContent or an
// attribute set to a value we build (hash links from encodeURIComponent); innerHTML is never used.
import { el, main } from "./dom.js";
import { HttpError, onSignedOut } from "./api.js";
import { tracesPage } from "./traces.js";
import { tracePage } from "./trace.js";
import { promptsPage } from "./prompts.js";
import { dashboardsPage } from "./dashboards.js";
import { tenantsPage, tenantPage } from "./tenants.js";
import { budgetsPage } from "./budgets.js";
import { alertsPage } from "./alerts.js";
import { savingsPage } from "./savings.js";
import { usersPage } from "./users.js";
import { sessionsPage, sessionPage } from "./sessions.js";
import { forgetProjectData } from "./widgets.js";

let project = null;

function showSignIn(message) {
  project = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("project").textContent = "";
  const error = el("p", { class: "error", role: "alert", text: message || "" });
  const publicKey = el("input", { id: "publicKey", name: "publicKey", autocomplete: "username", required: true });
  const secretKey = el("input", { id: "secretKey", name: "secretKey", type: "password", autocomplete: "current-password", required: true });
  const form = el("form", { class: "card signin", id: "signin" },
    el("h1", { text: "Sign in to Tally" }),
    el("p", { class: "muted", text: "Use a project's API keys (printed by `tally serve` on first start)." }),
    el("label", {}, "Public key", publicKey),
    el("label", {}, "Secret key", secretKey),
    el("button", { class: "primary", type: "submit", text: "Sign in" }),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await fetch("/api/tally/v1/session", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ publicKey: publicKey.value.trim(), secretKey: secretKey.value.trim() }),
    });
    if (!r.ok) { error.textContent = r.status === 401 ? "Those keys are not valid." : "Sign-in failed (" + r.status + ")."; return; }
    signedIn(await r.json());
    if (!location.hash || location.hash === "#/" || location.hash === "#/signin") location.hash = home();
    else route();
  });
  main.replaceChildren(form);
  publicKey.focus();
}

/** The tenant a tenant key's session may read (its own page and traces only), or null for a project session. */
function ownTenant() { return project && project.tenantId ? project.tenantId : null; }

/** Pages a tenant session may open; the server refuses everything else to such a key anyway. */
const tenantPages = new Set(["tenant", "traces", "trace"]);

function signedIn(p) {
  project = p;
  forgetProjectData();
  const nav = document.getElementById("nav");
  nav.hidden = false;
  document.getElementById("signout").hidden = false;
  const tenant = ownTenant();
  for (const a of nav.querySelectorAll("a:not([data-own-tenant])")) a.hidden = !!tenant && a.dataset.page !== "traces";
  let own = nav.querySelector("a[data-own-tenant]");
  if (tenant && !own) {
    own = el("a", { href: "#/tenant/" + encodeURIComponent(tenant), "data-page": "tenant", "data-own-tenant": "1", text: "Spend" });
    nav.prepend(own);
  } else if (!tenant && own) {
    own.remove();
  }
  document.getElementById("project").textContent =
    "Project: " + p.projectName + (tenant ? " · Tenant: " + tenant : "") + (p.readOnly && !tenant ? " · read-only" : "");
}

document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/api/tally/v1/session", { method: "DELETE", credentials: "same-origin" });
  showSignIn("Signed out.");
});

onSignedOut(() => showSignIn());

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, qs] = h.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || "traces", arg: parts[1], params: Object.fromEntries(new URLSearchParams(qs || "")) };
}

let renderToken = 0;

function home() { return ownTenant() ? "#/tenant/" + encodeURIComponent(ownTenant()) : "#/traces"; }

async function route() {
  if (!project) return;
  const { page, arg, params } = parseHash();
  const tenant = ownTenant();
  if (tenant && (!tenantPages.has(page) || (page === "tenant" && arg !== tenant))) {
    location.hash = home();
    return;
  }
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  const token = ++renderToken;
  const pages = { traces: tracesPage, trace: tracePage, prompts: promptsPage, dashboards: dashboardsPage, tenants: tenantsPage, tenant: tenantPage, budgets: budgetsPage, alerts: alertsPage, savings: savingsPage, users: usersPage, sessions: sessionsPage, session: sessionPage };
  const render = pages[page] || tracesPage;
  try {
    const view = await render(arg, params, () => token !== renderToken, { ownTenant: tenant });
    if (view && token === renderToken) {
      // A filter field keeps focus (and the caret) across the re-render its own input caused.
      const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
      main.replaceChildren(view);
      main.dataset.page = page;
      const again = focused && document.getElementById(focused);
      if (again) {
        again.focus();
        if (again.tagName === "INPUT") again.setSelectionRange(again.value.length, again.value.length);
      }
    }
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) return;
    if (token === renderToken) main.replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load: " + e.message }));
  }
}

window.addEventListener("hashchange", route);

(async function start() {
  const r = await fetch("/api/tally/v1/session", { credentials: "same-origin" });
  const s = r.ok ? await r.json() : null;
  if (s && s.signedIn) { signedIn(s); route(); } else { showSignIn(); }
})();
