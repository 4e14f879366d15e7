// The app: routes (/ the district overview, /orgs/{id} any unit, /tickets/{id} a ticket), the
// header (breadcrumbs, time window, language), and live updates: the server says over
// server-sent events when the read model has applied new ledger events, and the page refetches
// what it shows, without a reload.

import { getJSON, currentWindow, windowQuery, districtTimeZone, today, ApiError } from "./api.js";
import { h, fill, link } from "./dom.js";
import { t, setLanguage, language, number, code } from "./i18n.js";
import { OrgView } from "./org.js";
import { TicketView } from "./ticket.js";

const main = document.getElementById("main");
let orgs = new Map();
let roots = [];
let view = null;
let streamPosition = null;   // the newest read-model position the server announced
let shownPosition = null;    // the position the figures on screen are as of
let orgsPosition = null;     // the position the org tree (names, moves) was read at
let windowDay = null;        // the day "this month" / "this year" were worked out on
let refreshing = null, refreshAgain = false;

const ctx = {
  org: (id) => orgs.get(id),
  roots: () => roots,
  timeZone: () => districtTimeZone(),
  me: () => me,
};

async function loadOrgs() {
  const list = await getJSON("/api/orgs");
  orgs = new Map(list.map((o) => [o.org_id, o]));
  // The overview is the district; other top-level units (a high-tech zone) are listed beside its towns.
  // A reader sees their own subtree only: its top is the unit whose parent they do not see.
  roots = list.filter((o) => o.parent_id === null || !orgs.has(o.parent_id))
    .sort((a, b) => (b.kind === "district") - (a.kind === "district") || a.path.join(".").localeCompare(b.path.join(".")));
}

function viewFor(pathname) {
  const match = pathname.match(/^\/(orgs|tickets)\/([^/]+)\/?$/);
  if (match) return match[1] === "orgs" ? new OrgView(decodeURIComponent(match[2]), ctx) : new TicketView(decodeURIComponent(match[2]), ctx);
  if (pathname === "/" && roots.length) return new OrgView(roots[0].org_id, ctx);
  return null;
}

async function route() {
  document.body.dataset.ready = "loading";
  view?.unmount?.();
  view = null;
  try {
    await loadOrgs();
    orgsPosition = streamPosition;
  } catch (error) {
    return showError(error);
  }
  view = viewFor(location.pathname);
  if (!view) return showError(new ApiError(404, ""));
  view.mount(main);
  renderHeader();
  await refresh();
}

/** Refetch the current view; calls that arrive meanwhile fold into one more round. */
async function refresh() {
  if (refreshing) { refreshAgain = true; return refreshing; }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      const announced = streamPosition;
      const current = view;
      try {
        if (announced !== orgsPosition) {  // a unit may have been renamed or moved
          await loadOrgs();
          orgsPosition = announced;
        }
        windowDay = today();
        const position = await current.refresh();
        if (current !== view) continue;  // navigated meanwhile: the new page asked for a round
        shownPosition = position ?? announced;
        document.body.dataset.position = String(shownPosition ?? "");
        document.body.dataset.ready = "true";
        renderHeader();
        setBanner(null);
      } catch (error) {
        // A failed refresh keeps what is on screen and says so; the next event retries.
        if (current === view) current.data ? setBanner(error) : showError(error);
      }
    } while (refreshAgain);
    refreshing = null;
  })();
  return refreshing;
}

function showError(error) {
  const notFound = error instanceof ApiError && error.status === 404;
  fill(main, h("div", { class: "panel error", id: "error" },
    h("h2", {}, notFound ? t("not_found") : t("error")), h("p", {}, error.message || ""),
    h("p", {}, link("/", t("brand")))));
  document.body.dataset.ready = "error";
  renderHeader();
}

function setBanner(error) {
  document.getElementById("error-banner")?.remove();
  if (error) main.prepend(h("p", { class: "notice error", id: "error-banner", role: "alert" }, `${t("error")}: ${error.message}`));
}

function navigate(href) {
  history.pushState(null, "", href);
  route();
}

function renderHeader() {
  document.title = `${t("brand")} · civic-ledger`;
  fill(document.getElementById("brand"), t("brand"));
  document.getElementById("brand").setAttribute("href", `/${windowQuery()}`);
  renderCrumbs();
  renderWindow();
  const lang = document.getElementById("lang");
  lang.textContent = t("lang_switch");
  lang.setAttribute("lang", language() === "zh" ? "en" : "zh");
  renderLive();
  renderWho();
}

// Who is signed in (GET /api/me), a sign-out button; in `civic demo`, a banner that says so.
let me = null;
async function loadMe() {
  try { me = await getJSON("/api/me"); } catch { me = null; }
  renderWho();
}

function renderWho() {
  const who = document.getElementById("who");
  const banner = document.getElementById("demo-banner");
  if (!me) { fill(who); banner.hidden = true; return; }
  const out = h("button", { type: "button", id: "sign-out", onclick: async () => {
    await fetch("/logout", { method: "POST" });
    location.assign("/login");
  } }, t("sign_out"));
  fill(who, t("signed_in_as", { name: me.name, role: code("account_role", me.role) }), " ", me.demo ? null : out);
  banner.hidden = !me.demo;
  banner.textContent = me.demo ? t("demo_viewer", { name: me.name }) : "";
}
export const reader = () => me;

function renderCrumbs() {
  const trail = view?.breadcrumbs?.() ?? [];
  const query = windowQuery();
  fill(document.getElementById("crumbs"), trail.map((step, i) => {
    const last = i === trail.length - 1;
    const label = typeof step === "string" ? (orgs.get(step)?.name ?? step) : step.ticket;
    const kind = typeof step === "string" && orgs.get(step) ? h("span", { class: "kind" }, code("kind", orgs.get(step).kind)) : null;
    // One line whatever the depth: each step shrinks to an ellipsis (style.css), its whole name in a tooltip.
    const item = last ? h("span", { class: "crumb", "aria-current": "page", title: label }, label, " ", kind)
      : h("a", { class: "crumb", href: `/orgs/${encodeURIComponent(step)}${query}`, title: label, dataset: { nav: "" } }, label);
    return [i ? h("span", { class: "sep", "aria-hidden": "true" }, "›") : null, item];
  }));
}

function renderWindow() {
  const box = document.getElementById("window");
  box.hidden = !(view instanceof OrgView);
  const w = currentWindow();
  const preset = (period) => h("button", {
    type: "button", class: w.period === period ? "active" : null, "aria-pressed": String(w.period === period), dataset: { period },
    onclick: () => navigate(`${location.pathname}?period=${period}`),
  }, t({ month: "this_month", year: "this_year", all: "all_time" }[period]));
  const from = h("input", { type: "date", id: "window-from", value: w.from, max: today(), "aria-label": t("from") });
  const to = h("input", { type: "date", id: "window-to", value: w.to || today(), max: today(), "aria-label": t("to") });
  const apply = (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    if (from.value) q.set("from", from.value);
    if (to.value) q.set("to", to.value);
    navigate(`${location.pathname}?${q}`);
  };
  fill(box, preset("month"), preset("year"), preset("all"),
    h("form", { class: w.period === "custom" ? "custom active" : "custom", onsubmit: apply },
      h("span", {}, t("custom")), from, h("span", {}, "–"), to, h("button", { type: "submit", id: "window-apply" }, t("apply"))));
}

function renderLive() {
  const liveNode = document.getElementById("live");
  const connected = stream && stream.readyState === EventSource.OPEN;
  liveNode.className = connected ? "live on" : "live off";
  fill(liveNode, h("span", { class: "dot", "aria-hidden": "true" }), connected ? t("live") : t("offline"),
    shownPosition !== null ? h("span", { class: "position" }, ` · ${t("as_of")} #${number(shownPosition)}`) : null);
}

// Live updates. EventSource reconnects by itself after a drop (the server asks for 1 s).
let stream = null;
function follow() {
  stream = new EventSource("/api/events/stream");
  stream.addEventListener("open", renderLive);
  stream.addEventListener("error", renderLive);
  stream.addEventListener("position", (event) => {
    streamPosition = JSON.parse(event.data).position;
    if (view && streamPosition !== shownPosition) refresh();
    renderLive();
  });
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-nav]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href"));
});
addEventListener("popstate", route);

document.getElementById("lang").addEventListener("click", () => {
  setLanguage(language() === "zh" ? "en" : "zh");
  localStorage.setItem("civic.lang", language());
  renderHeader();
  view?.render();
});

// A wall screen left on overnight: "this month" must move on at midnight even when no event comes.
setInterval(() => { if (view && windowDay && today() !== windowDay) refresh(); }, 60_000);

setLanguage(localStorage.getItem("civic.lang") ?? "zh");
follow();
loadMe();
route();
