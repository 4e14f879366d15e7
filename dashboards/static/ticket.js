// A ticket's page: where it stands, the four orders (raised by a resident, dispatched by the
// centre, accepted by the receiver, rated by the resident) with who and when, every step of its
// timeline, and the time it spent in each stage. The API carries no personal data: actors are
// roles and pseudonyms, never names or phone numbers.

import { getJSON, windowQuery } from "./api.js";
import { h, fill, figure, link, section, table } from "./dom.js";
import { t, code, number, hours, dateTime } from "./i18n.js";
import { stageTimes, disposeCharts } from "./charts.js";

const FOUR_ORDERS = ["TicketRaised", "TicketDispatched", "TicketAccepted", "TicketRated"];
const SHOWN_FIELDS = ["title", "category", "channel", "description", "deadline", "to_unit", "to_worker", "reason", "note",
  "resolution", "evidence_ref", "contacted", "resolved", "satisfaction", "comment", "duplicate_of"];

export class TicketView {
  constructor(ticketId, ctx) {
    this.ticketId = ticketId;
    this.ctx = ctx;
    this.data = null;
  }

  mount(main) {
    this.main = main;
    this.chart = h("div", { class: "chart", id: "chart-stages" });
    this.body = h("div", { id: "view-ticket" });
    fill(main, this.body);
  }

  unmount() {
    this.gone = true;  // an answer still on its way must not draw into the next page
    disposeCharts(this.main);
  }

  async refresh() {
    this.data = await getJSON(`/api/tickets/${encodeURIComponent(this.ticketId)}`);
    this.render();
    return null;  // the timeline has no read-model position: the app shows the one the server announced
  }

  breadcrumbs() {
    const org = this.data && this.ctx.org(this.data.ticket.org_id);
    return [...(org ? org.path : []), { ticket: this.ticketId }];
  }

  orgName(id) { return this.ctx.org(id)?.name ?? id; }

  render() {
    if (!this.data || this.gone) return;
    const { ticket: x, events, time_in_stage: stages } = this.data;
    const tz = this.ctx.timeZone();
    const who = (e) => [code("role", e.actor_role), " ", h("span", { class: "actor" }, e.actor_id)];
    const value = (key, v) => {
      if (v === null || v === undefined || v === "") return null;
      if (typeof v === "boolean") return t(v ? "yes" : "no");
      if (key === "deadline") return dateTime(v, tz);
      if (key === "category") return code("category", v);
      if (key === "channel") return code("channel", v);
      if (key === "satisfaction") return code("satisfaction", v);
      if (key === "to_unit") return this.orgName(v);
      return String(v);
    };
    const details = (e) => h("dl", { class: "details" }, SHOWN_FIELDS.filter((k) => value(k, e.detail[k]) !== null)
      .map((k) => [h("dt", {}, code("field", k)), h("dd", {}, value(k, e.detail[k]))]));
    const rating = [...events].reverse().find((e) => e.type === "TicketRated");
    fill(this.body,
      h("h1", { class: "title" }, h("span", { class: "ticket-title", id: "ticket-title" }, x.title),
        h("span", { class: "kind" }, x.ticket_id)),
      h("div", { class: "facts card" }, h("dl", {},
        [["org", link(`/orgs/${encodeURIComponent(x.org_id)}${windowQuery()}`, this.orgName(x.org_id))],
          ["category", code("category", x.category)], ["channel", code("channel", x.channel)],
          ["stage", [code("stage", x.stage), x.overdue ? h("span", { class: "pill red" }, t("overdue_flag")) : null]],
          ["round", figure("span", "ticket.round", x.round, number(x.round))],
          ["raised_at", dateTime(x.raised_at, tz)], ["deadline", dateTime(x.deadline, tz)],
          ["receiver", [x.to_unit && this.orgName(x.to_unit), x.to_worker].filter(Boolean).join(" · ")],
        ].map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v || "—")]))),
      section("four-orders", t("four_orders"), null, h("ol", { class: "orders" }, FOUR_ORDERS.map((type) => {
        const done = events.filter((e) => e.type === type);
        const last = done.at(-1);
        return h("li", { class: last ? "done" : "todo", dataset: { order: type } },
          h("div", { class: "step" }, code("event", type), done.length > 1 ? h("span", { class: "times" }, `×${done.length}`) : null),
          last ? [h("div", { class: "when" }, dateTime(last.occurred_at, tz)), h("div", { class: "who" }, who(last))]
            : h("div", { class: "when" }, t("not_yet")));
      }))),
      rating ? section("rating", t("rating"), null, h("dl", { class: "details" },
        h("dt", {}, code("field", "satisfaction")), h("dd", { class: `sat-${rating.detail.satisfaction}` }, code("satisfaction", rating.detail.satisfaction)),
        h("dt", {}, code("field", "contacted")), h("dd", {}, value("contacted", rating.detail.contacted)),
        h("dt", {}, code("field", "resolved")), h("dd", {}, value("resolved", rating.detail.resolved)),
        rating.detail.comment ? [h("dt", {}, code("field", "comment")), h("dd", { class: "comment" }, rating.detail.comment)] : null)) : null,
      this.contactPanel(),
      section("timeline", t("timeline"), null, table([
        { label: "#", class: "num", cell: (e) => number(e.position) },
        { label: t("event"), cell: (e) => code("event", e.type) },
        { label: t("when"), cell: (e) => dateTime(e.occurred_at, tz) },
        { label: t("who"), cell: who },
        { label: t("details"), class: "text", cell: details },
        { label: t("since_previous"), class: "num", cell: (e) => (e.hours_since_previous === null ? "" : hours(e.hours_since_previous)) },
      ], events, { rowProps: (e) => ({ dataset: { type: e.type } }) })),
      section("stages", t("time_in_stage"), null, this.chart, table([
        { label: t("stage"), cell: (s) => code("stage", s.stage) },
        { label: t("hours"), class: "num", cell: (s) => figure("span", `time_in_stage[${s.stage}].hours`, s.hours, hours(s.hours)) },
      ], stages, { empty: t("no_value") })));
    stageTimes(this.chart, stages);
  }

  /** Staff whose unit covers the ticket may look up the reporter (to call back); each look is logged. */
  contactPanel() {
    if (!this.ctx.me()?.reads_contacts) return null;
    const box = h("div", { id: "contact" });
    const show = async () => {
      const people = await getJSON(`/api/tickets/${encodeURIComponent(this.ticketId)}/contact`);
      fill(box, people.map((p) => h("dl", { class: "details" },
        p.erased ? [h("dt", {}, p.resident_id), h("dd", {}, t("contact_erased"))]
          : [["name", p.name], ["phone", p.phone], ["address", p.address]].filter(([, v]) => v)
            .map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]))), h("p", { class: "note" }, t("contact_logged")));
    };
    fill(box, h("button", { type: "button", id: "show-contact", onclick: show }, t("show_contact")));
    return section("contact-details", t("contact"), null, box);
  }
}
