// The page of one org unit, the same at every level (district, town, community, village, park
// committee, grid): its figures for the window, charts by month and category, the units one
// level down, its open tickets, its receivers' workload, its disputes and deliberation topics.
// Every figure is the API's JSON as it came, formatted; data-figure / data-value on each element
// name the JSON field it shows so that a test (or a curious reader) can check it.

import { getJSON, windowParams, windowQuery, setTimeZone, today } from "./api.js";
import { h, fill, figure, link, section, table, sorted } from "./dom.js";
import { t, code, number, rate, hours, dateTime, day } from "./i18n.js";
import { monthlyTrend, categoryBreakdown, chartsNote, disposeCharts } from "./charts.js";

const STATUSES = ["open", "overdue", "resolved", "closed", "voided", "all"];
const DEADLINE_UNITS_SHOWN = 20;
const PAGE_SIZE = 50;
const CHILDREN_SHOWN = 20;
const CHILDREN_SLACK = 5;  // a list only a few rows longer is shown whole: a button to reveal 3 rows helps no one

/** A unit below with something in the window (a ticket, an open one, a dispute). */
const active = (c) => Boolean(c.tickets.raised || c.tickets.resolved || c.tickets.open || c.tickets.overdue || c.disputes.registered);

export class OrgView {
  /** ctx: {org(id) -> Org|undefined, roots() -> [Org], timeZone()} from the app. */
  constructor(orgId, ctx) {
    this.orgId = orgId;
    this.ctx = ctx;
    this.ticketQuery = { status: "open", category: "", page: 1 };
    this.ticketSort = null;
    this.data = null;
  }

  orgHref(id) { return `/orgs/${encodeURIComponent(id)}${windowQuery()}`; }
  ticketHref(id) { return `/tickets/${encodeURIComponent(id)}${windowQuery()}`; }
  orgName(id) { return this.ctx.org(id)?.name ?? id; }

  /** The district page also lists the other top-level units (a high-tech zone beside the district). */
  otherRoots() {
    const roots = this.ctx.roots();
    return roots[0]?.org_id === this.orgId ? roots.slice(1) : [];
  }

  mount(main) {
    this.main = main;
    this.trend = h("div", { class: "chart", id: "chart-trend" });
    this.categories = h("div", { class: "chart", id: "chart-categories" });
    this.statusSelect = h("select", { id: "ticket-status", onchange: (e) => this.filterTickets({ status: e.target.value }) });
    this.categorySelect = h("select", { id: "ticket-category", onchange: (e) => this.filterTickets({ category: e.target.value }) });
    this.nodes = Object.fromEntries(["title", "figures", "note", "children", "deadlines", "supervision", "ranking", "tickets", "workload", "disputes", "topics"]
      .map((id) => [id, h("div", { id: `view-${id}` })]));
    this.panels = {
      trendTitle: h("h2", { id: "h-trend" }),
      categoriesTitle: h("h2", { id: "h-categories" }),
      filters: h("div", { class: "filters" }, h("label", {}, h("span", { id: "l-status" }), this.statusSelect),
        h("label", {}, h("span", { id: "l-category" }), this.categorySelect)),
    };
    fill(main, this.nodes.title, this.nodes.figures, this.nodes.note,
      h("div", { class: "two" },
        h("section", { class: "panel" }, h("div", { class: "panel-head" }, this.panels.trendTitle), this.trend),
        h("section", { class: "panel" }, h("div", { class: "panel-head" }, this.panels.categoriesTitle), this.categories)),
      this.nodes.children, this.nodes.deadlines,
      h("div", { class: "two" }, this.nodes.supervision, this.nodes.ranking),
      this.nodes.tickets, this.nodes.workload,
      h("div", { class: "two wide-only" }, this.nodes.disputes, this.nodes.topics));
  }

  unmount() {
    this.gone = true;  // an answer still on its way must not draw into the next page
    disposeCharts(this.main);
  }

  /** Fetch everything the page shows for the current window; returns the ledger position shown. */
  async refresh() {
    const w = windowParams(), id = encodeURIComponent(this.orgId);
    const [board, tickets, workload, disputes, topics, roots, deadlines, supervision, ranking, calendar] = await Promise.all([
      getJSON(`/api/orgs/${id}/dashboard`, w),
      this.fetchTickets(),
      getJSON(`/api/orgs/${id}/workload`),
      getJSON(`/api/orgs/${id}/disputes`, w),
      getJSON(`/api/orgs/${id}/topics`, w),
      Promise.all(this.otherRoots().map((r) => getJSON(`/api/orgs/${encodeURIComponent(r.org_id)}/dashboard`, w))),
      getJSON(`/api/orgs/${id}/deadlines`, w),
      getJSON(`/api/orgs/${id}/supervision`),
      getJSON(`/api/orgs/${id}/ranking`, { month: (w.to || today()).slice(0, 7) }),
      this.calendar ?? getJSON("/api/deadline-calendar"),
    ]);
    this.calendar = calendar;
    setTimeZone(board.timezone);
    this.data = { board, tickets, workload, disputes, topics, roots, deadlines, supervision, ranking, calendar };
    this.render();
    return board.position;
  }

  fetchTickets() {
    const q = this.ticketQuery;
    return getJSON(`/api/orgs/${encodeURIComponent(this.orgId)}/tickets`,
      { status: q.status, category: q.category, page: q.page, page_size: PAGE_SIZE });
  }

  async filterTickets(change) {
    Object.assign(this.ticketQuery, { page: 1 }, change);
    this.data.tickets = await this.fetchTickets();
    this.renderTickets();
  }

  breadcrumbs() { return this.data ? this.data.board.org.path : [this.orgId]; }

  render() {
    if (!this.data || this.gone) return;
    const b = this.data.board;
    const kind = code("kind", b.org.kind);
    fill(this.nodes.title, h("h1", { class: "title" }, h("span", { id: "org-name" }, b.org.name),
      h("span", { class: "kind" }, kind), h("span", { class: "period", id: "period" }, this.periodText(b))));
    this.renderFigures(b);
    fill(this.nodes.note, chartsNote());
    this.panels.trendTitle.textContent = t("trend");
    this.panels.categoriesTitle.textContent = t("by_category");
    monthlyTrend(this.trend, b.by_month);
    categoryBreakdown(this.categories, b.by_category);
    this.renderChildren(b);
    this.renderDeadlines();
    this.renderTickets();
    this.renderWorkload();
    this.renderCases();
  }

  periodText(b) {
    return `${t("window_label")}: ${b.window_from ? day(b.window_from) : t("window_all")} – ${day(b.window_to)}`;
  }

  renderFigures(b) {
    const tk = b.tickets, d = b.disputes, del = b.deliberation;
    const count = (path, value, label, cls = "") => h("div", { class: `card count ${cls}` },
      h("div", { class: "label" }, label), figure("div", path, value, number(value), { class: "value" }));
    const rateCard = (key, num, den, hint, empty = "no_value") => h("div", { class: "card rate" },
      h("div", { class: "label" }, t(key)),
      figure("div", `tickets.${key}`, tk[key], rate(tk[key], empty), { class: tk[key] === null ? "big none" : "big" }),
      h("div", { class: "hint" }, figure("span", `tickets.${num}`, tk[num], number(tk[num])), " / ",
        den.map((k, i) => [i ? " + " : "", figure("span", `tickets.${k}`, tk[k], number(tk[k]))]), " · ", t(hint)));
    fill(this.nodes.figures,
      h("div", { class: "rates" },
        rateCard("response_rate", "accepted", ["dispatched"], "response_hint"),
        rateCard("resolution_rate", "resolved", ["raised"], "resolution_hint"),
        h("div", { class: "card rate" }, h("div", { class: "label" }, t("satisfaction_rate")),
          figure("div", "tickets.satisfaction_rate", tk.satisfaction_rate, rate(tk.satisfaction_rate, "no_rating"),
            { class: tk.satisfaction_rate === null ? "big none" : "big" }),
          h("div", { class: "hint" }, figure("span", "tickets.satisfied", tk.satisfied, number(tk.satisfied)), " + ",
            figure("span", "tickets.basically_satisfied", tk.basically_satisfied, number(tk.basically_satisfied)), " / ",
            figure("span", "tickets.rated", tk.rated, number(tk.rated)), " · ", t("satisfaction_hint")))),
      h("div", { class: "counts" },
        count("tickets.raised", tk.raised, t("raised")),
        count("tickets.resolved", tk.resolved, t("resolved")),
        count("tickets.closed", tk.closed, code("status", "closed")),  // the article's "handled and closed" (办结)
        count("tickets.open", tk.open, t("open")),
        count("tickets.overdue", tk.overdue, t("overdue"), tk.overdue ? "alert" : ""),
        h("div", { class: "card group" }, h("div", { class: "label" }, t("disputes")),
          h("dl", {},
            h("dt", {}, t("disputes_registered")), figure("dd", "disputes.registered", d.registered, number(d.registered)),
            h("dt", {}, t("disputes_mediated")), figure("dd", "disputes.mediated", d.mediated, number(d.mediated)),
            h("dt", {}, t("success_rate")), figure("dd", "disputes.success_rate", d.success_rate, rate(d.success_rate)))),
        h("div", { class: "card group" }, h("div", { class: "label" }, t("deliberation")),
          h("dl", {}, ["proposed", "discussed", "decided", "implemented"].map((k) =>
            [h("dt", {}, t(k)), figure("dd", `deliberation.${k}`, del[k], number(del[k]))]))),
        h("div", { class: "card group" }, h("div", { class: "label" }, t("durations")),
          h("dl", {},
            h("dt", {}, t("time_to_accept")), figure("dd", "time_to_accept.p50", b.time_to_accept.p50, hours(b.time_to_accept.p50)),
            h("dt", {}, t("time_to_resolve")), figure("dd", "time_to_resolve.p50", b.time_to_resolve.p50, hours(b.time_to_resolve.p50))))));
  }

  renderChildren(b) {
    const columns = (group) => [
      { label: t("unit"), cell: (c) => [link(this.orgHref(c.org.org_id), c.org.name), " ", h("span", { class: "kind" }, code("kind", c.org.kind))] },
      ...[["raised", number], ["resolved", number], ["open", number], ["overdue", number],
        ["response_rate", rate], ["resolution_rate", rate], ["satisfaction_rate", rate]].map(([k, fmt]) => ({
        label: t(k), class: "num", cell: (c) => figure("span", `${group}[${c.org.org_id}].tickets.${k}`, c.tickets[k], fmt(c.tickets[k])),
      })),
      { label: `${t("disputes")}·${t("disputes_registered")}`, class: "num", cell: (c) => figure("span", `${group}[${c.org.org_id}].disputes.registered`, c.disputes.registered, number(c.disputes.registered)) },
      { label: t("success_rate"), class: "num", cell: (c) => figure("span", `${group}[${c.org.org_id}].disputes.success_rate`, c.disputes.success_rate, rate(c.disputes.success_rate)) },
    ];
    const roots = this.data.roots;
    // A park committee has ~150 enterprises, most with nothing in the period: the units with
    // figures come first, and a long list shows its first CHILDREN_SHOWN rows and a button for the rest.
    const rows = [...b.children.filter(active), ...b.children.filter((c) => !active(c))];
    const long = rows.length > CHILDREN_SHOWN + CHILDREN_SLACK;
    const shown = long && !this.childrenExpanded ? rows.slice(0, CHILDREN_SHOWN) : rows;
    const toggle = long ? h("div", { class: "more" },
      h("span", { class: "note", id: "children-shown" }, t("shown_of", { shown: number(shown.length), total: number(rows.length) })), " ",
      h("button", { type: "button", id: "children-toggle", "aria-expanded": String(!!this.childrenExpanded),
        onclick: () => { this.childrenExpanded = !this.childrenExpanded; this.renderChildren(b); } },
      this.childrenExpanded ? t("show_fewer") : t("show_all", { total: number(rows.length) }))) : null;
    fill(this.nodes.children, section("children", t("children"), t("children_note"),
      table(columns("children"), shown, { empty: t("no_children"), rowProps: (c) => ({ dataset: { org: c.org.org_id } }) }),
      toggle,
      roots.length ? [h("h3", {}, t("other_roots")),
        table(columns("roots"), roots, { rowProps: (r) => ({ dataset: { org: r.org.org_id } }) })] : null));
  }

  /** Timeliness per role (lead/supporting apart) and stage, the units holding deadlines, the 督办 list, the 红黑榜. */
  renderDeadlines() {
    const { deadlines: d, supervision, ranking } = this.data;
    const tz = this.ctx.timeZone();
    const cells = (path, f) => [
      ["due", number], ["on_time", number], ["late", number], ["on_time_rate", rate], ["overdue_now", number],
      ["chased", number], ["supervised", number],
    ].map(([k, fmt]) => ({ label: t(`dl_${k}`), class: "num", cell: (x) => figure("span", `${path(x)}.${k}`, f(x)[k], fmt(f(x)[k])) }));
    const rows = d.roles.flatMap((r) => [{ role: r.role, stage: null, figures: r.total }, ...r.stages.map((s) => ({ role: r.role, stage: s.stage, figures: s.figures }))]);
    const rowPath = (x) => `deadlines.roles[${x.role}].${x.stage ? `stages[${x.stage}].figures` : "total"}`;
    const unitRows = d.units.flatMap((u) => u.roles.filter((r) => r.total.due || r.total.overdue_now).map((r) => ({ unit: u, role: r })))
      .sort((a, b) => (b.role.total.overdue_now - a.role.total.overdue_now) || ((a.role.total.on_time_rate ?? 2) - (b.role.total.on_time_rate ?? 2)))
      .slice(0, DEADLINE_UNITS_SHOWN);
    const unitName = (u) => link(this.orgHref(u.unit), u.name ?? u.unit);
    const cal = this.data.calendar;
    const calendarNote = cal.problem ? h("p", { class: "note alert", id: "calendar-note" }, t("calendar_problem", { problem: cal.problem }))
      : cal.missing.length ? h("p", { class: "note alert", id: "calendar-note" }, t("calendar_missing", { years: cal.missing.join(", ") }))
        : null;
    fill(this.nodes.deadlines, section("deadlines", t("deadlines"), t("deadlines_note"), calendarNote,
      table([
        { label: t("dl_role"), cell: (x) => (x.stage ? "" : h("strong", {}, code("unit_role", x.role))) },
        { label: t("stage"), cell: (x) => (x.stage ? code("deadline_stage", x.stage) : t("all")) },
        ...cells(rowPath, (x) => x.figures),
      ], rows, { rowProps: (x) => ({ dataset: { role: x.role, stage: x.stage ?? "all" } }) }),
      h("h3", {}, t("dl_units"), " ", h("span", { class: "note" }, t("shown_of", { shown: number(unitRows.length), total: number(d.units.length) }))),
      table([
        { label: t("unit"), cell: (x) => unitName(x.unit) },
        { label: t("dl_role"), cell: (x) => code("unit_role", x.role.role) },
        ...cells((x) => `deadlines.units[${x.unit.unit}].roles[${x.role.role}].total`, (x) => x.role.total),
      ], unitRows, { empty: t("dl_none"), rowProps: (x) => ({ dataset: { unit: x.unit.unit, role: x.role.role } }) })));
    fill(this.nodes.supervision, section("supervision", t("supervision"), t("supervision_note"),
      table([
        { label: t("unit"), cell: (u) => unitName(u) },
        { label: t("dl_supervised_count"), class: "num", cell: (u) => figure("span", `supervision.units[${u.unit}].count`, u.count, number(u.count)) },
        { label: t("oldest"), class: "text", cell: (u) => u.items.map((x, i) => [i ? ", " : "",
          link(this.ticketHref(x.ticket_id), x.ticket_id), " ", code("deadline_stage", x.stage), " · ", t("deadline"), " ",
          dateTime(x.due_at, tz), x.supervised_by ? [" → ", this.orgName(x.supervised_by)] : null]) },
      ], supervision.units, { empty: t("supervision_none"), rowProps: (u) => ({ dataset: { unit: u.unit } }) })));
    const board = (key, list) => table([
      { label: "#", class: "num", cell: (r) => number(r.rank) },
      { label: t("unit"), cell: (r) => unitName(r) },
      { label: t("dl_on_time_rate"), class: "num", cell: (r) => figure("span", `ranking.${key}[${r.unit}].on_time_rate`, r.on_time_rate, rate(r.on_time_rate)) },
      { label: `${t("dl_on_time")} / ${t("dl_late")}`, class: "num", cell: (r) => [
        figure("span", `ranking.${key}[${r.unit}].on_time`, r.on_time, number(r.on_time)), " / ",
        figure("span", `ranking.${key}[${r.unit}].late`, r.late, number(r.late))] },
    ], list, { empty: t("ranking_none"), rowProps: (r) => ({ dataset: { unit: r.unit } }) });
    fill(this.nodes.ranking, section("ranking", t("ranking", { month: ranking.month }), t("ranking_note", { min: number(ranking.min_settled) }),
      h("div", { class: "ranking red" }, h("h3", {}, t("ranking_red")), board("red", ranking.red)),
      h("div", { class: "ranking black" }, h("h3", {}, t("ranking_black")), board("black", ranking.black))));
  }

  ticketColumns() {
    return [
      { label: t("ticket"), cell: (x) => link(this.ticketHref(x.ticket_id), x.ticket_id), sort: (x) => x.ticket_id },
      { label: t("title"), class: "text", cell: (x) => h("span", { class: "ticket-title" }, x.title), sort: (x) => x.title },
      { label: t("category"), cell: (x) => code("category", x.category), sort: (x) => code("category", x.category) },
      { label: t("stage"), cell: (x) => [code("stage", x.stage), x.overdue ? h("span", { class: "pill red" }, t("overdue_flag")) : null],
        sort: (x) => (x.overdue ? "0" : "1") + x.stage },
      { label: t("raised_at"), cell: (x) => dateTime(x.raised_at, this.ctx.timeZone()), sort: (x) => x.raised_at },
      { label: t("deadline"), cell: (x) => dateTime(x.deadline, this.ctx.timeZone()), sort: (x) => x.deadline },
      { label: t("receiver"), cell: (x) => [x.to_unit && this.orgName(x.to_unit), x.to_worker].filter(Boolean).join(" · "),
        sort: (x) => `${x.to_unit ?? ""}${x.to_worker ?? ""}` || null },
    ];
  }

  renderTickets() {
    const page = this.data.tickets, q = this.ticketQuery;
    const categories = new Set([...this.data.board.by_category.map((c) => c.category), ...page.tickets.map((x) => x.category)]);
    if (q.category) categories.add(q.category);
    fill(this.statusSelect, STATUSES.map((s) => h("option", { value: s, selected: s === q.status }, code("status", s))));
    fill(this.categorySelect, h("option", { value: "", selected: !q.category }, t("all")),
      [...categories].sort().map((c) => h("option", { value: c, selected: c === q.category }, code("category", c))));
    this.panels.filters.querySelector("#l-status").textContent = t("status");
    this.panels.filters.querySelector("#l-category").textContent = t("category");
    const columns = this.ticketColumns();
    const pages = Math.max(1, Math.ceil(page.total / page.page_size));
    const go = (n) => async () => { this.ticketQuery.page = n; this.data.tickets = await this.fetchTickets(); this.renderTickets(); };
    fill(this.nodes.tickets, section("tickets", t("tickets"), t("tickets_note"), this.panels.filters,
      table(columns, sorted(page.tickets, columns, this.ticketSort), {
        empty: t("no_tickets"), sort: this.ticketSort,
        onSort: (i) => {
          this.ticketSort = { column: i, descending: this.ticketSort?.column === i ? !this.ticketSort.descending : false };
          this.renderTickets();
        },
        rowProps: (x) => ({ class: x.overdue ? "overdue" : null, dataset: { ticket: x.ticket_id } }),
      }),
      h("div", { class: "pager" },
        h("button", { type: "button", disabled: page.page <= 1, onclick: go(page.page - 1) }, t("prev")),
        figure("span", "ticket_page.total", page.total, t("page_of", { page: number(page.page), pages: number(pages), total: number(page.total) }), { id: "ticket-total" }),
        h("button", { type: "button", disabled: page.page >= pages, onclick: go(page.page + 1) }, t("next")))));
  }

  renderWorkload() {
    fill(this.nodes.workload, section("workload", t("workload"), t("workload_note"), table([
      { label: t("receiver"), cell: (w) => [w.kind === "unit" ? link(this.orgHref(w.receiver), this.orgName(w.receiver)) : w.receiver,
        " ", h("span", { class: "kind" }, code("kind", w.kind))] },
      { label: t("open_count"), class: "num", cell: (w) => figure("span", `workload[${w.kind}:${w.receiver}].open`, w.open, number(w.open)) },
      { label: t("oldest"), class: "text", cell: (w) => w.oldest.map((x, i) => [i ? ", " : "",
        link(this.ticketHref(x.ticket_id), x.ticket_id), " ", h("span", { class: "ticket-title" }, x.title),
        x.overdue ? h("span", { class: "pill red" }, t("overdue_flag")) : null]) },
    ], this.data.workload, { empty: t("no_workload") })));
  }

  renderCases() {
    const { disputes, topics } = this.data;
    const tz = this.ctx.timeZone();
    const outcome = (o) => (o ? h("span", { class: `pill ${o === "settled" ? "green" : "red"}` }, t(o)) : h("span", { class: "pill" }, t("in_mediation")));
    fill(this.nodes.disputes, section("disputes", t("disputes_list"), t("shown_of", { shown: number(disputes.items.length), total: number(disputes.total) }),
      table([
        { label: "#", cell: (d) => d.dispute_id },
        { label: t("unit"), cell: (d) => link(this.orgHref(d.org_id), this.orgName(d.org_id)) },
        { label: t("category"), cell: (d) => code("category", d.category) },
        { label: t("risk_grade"), cell: (d) => h("span", { class: `pill risk-${d.risk_grade}` }, code("risk", d.risk_grade)) },
        { label: t("registered_at"), cell: (d) => dateTime(d.registered_at, tz) },
        { label: t("sessions"), class: "num", cell: (d) => number(d.sessions) },
        { label: t("outcome"), cell: (d) => outcome(d.outcome) },
        { label: t("summary"), class: "text", cell: (d) => d.summary },
      ], disputes.items, { empty: t("no_disputes"), rowProps: (d) => ({ dataset: { dispute: d.dispute_id } }) })));
    fill(this.nodes.topics, section("topics", t("topics_list"), t("shown_of", { shown: number(topics.items.length), total: number(topics.total) }),
      table([
        { label: "#", cell: (p) => p.topic_id },
        { label: t("unit"), cell: (p) => link(this.orgHref(p.org_id), this.orgName(p.org_id)) },
        { label: t("title"), class: "text", cell: (p) => p.title },
        { label: t("proposed_at"), cell: (p) => dateTime(p.proposed_at, tz) },
        { label: t("stage"), cell: (p) => h("span", { class: `pill topic-${p.stage}` }, code("topic", p.stage)) },
        { label: t("decision"), class: "text", cell: (p) => p.decision ?? "" },
        { label: t("votes"), class: "num", cell: (p) => (p.votes_for === null ? "" : `${number(p.votes_for)} / ${number(p.votes_against)} / ${number(p.votes_abstained)}`) },
      ], topics.items, { empty: t("no_topics"), rowProps: (p) => ({ dataset: { topic: p.topic_id } }) })));
  }
}
