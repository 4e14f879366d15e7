// Charts with Apache ECharts, served by the app itself from dashboards/web/node_modules. When it
// is missing (npm was not run) the same numbers are shown as tables, with a note saying so.

import { h, fill, table, figure } from "./dom.js";
import { t, code, number, rate, month, hours } from "./i18n.js";

const PALETTE = ["#2f6fd6", "#2e9e5b", "#d98a1c", "#c8372d", "#7a55c7", "#1a9aa8"];
const live = new Map();  // chart -> the option it was drawn with, to redraw at a new size

export const chartsAvailable = () => typeof window.echarts?.init === "function";

/** Chart text follows the page's text size, which follows the screen (a phone to a wall). */
function scaled(option) {
  const size = Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8);
  const axes = (axis) => [axis].flat().map((a) => ({ ...a, axisLabel: { fontSize: size, ...(a.axisLabel ?? {}) } }));
  return {
    color: PALETTE, animationDuration: 300, textStyle: { fontSize: size }, ...option,
    legend: option.legend && { itemWidth: size * 1.8, itemHeight: size, textStyle: { fontSize: size }, ...option.legend },
    grid: { ...option.grid, top: option.legend ? size * 3 : option.grid.top },
    xAxis: axes(option.xAxis), yAxis: axes(option.yAxis),
    series: option.series.map((s) => (s.type === "bar" ? { barMaxWidth: size * 4, ...s } : s)),
  };
}

function draw(container, option) {
  const chart = window.echarts.getInstanceByDom(container) ?? window.echarts.init(container);
  live.set(chart, option);
  chart.setOption(scaled(option), { notMerge: true });
  return chart;
}

/** Charts inside a node about to leave the page. */
export function disposeCharts(root) {
  for (const chart of [...live.keys()]) {
    if (chart.isDisposed() || root.contains(chart.getDom())) {
      live.delete(chart);
      if (!chart.isDisposed()) chart.dispose();
    }
  }
}

addEventListener("resize", () => {
  for (const [chart, option] of live) {
    if (chart.isDisposed()) continue;
    chart.setOption(scaled(option), { notMerge: true });
    chart.resize();
  }
});

const axisPercent = { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => rate(v) }, splitLine: { show: false } };

/** Collected and resolved per month, with the resolution rate. */
export function monthlyTrend(container, months) {
  if (!chartsAvailable()) {
    return fill(container, table([
      { label: t("month"), cell: (m) => month(m.month) },
      { label: t("raised"), class: "num", cell: (m) => figure("span", `by_month[${m.month}].tickets.raised`, m.tickets.raised, number(m.tickets.raised)) },
      { label: t("resolved"), class: "num", cell: (m) => figure("span", `by_month[${m.month}].tickets.resolved`, m.tickets.resolved, number(m.tickets.resolved)) },
      { label: t("resolution_rate"), class: "num", cell: (m) => figure("span", `by_month[${m.month}].tickets.resolution_rate`, m.tickets.resolution_rate, rate(m.tickets.resolution_rate)) },
    ], months, { empty: t("no_value") }));
  }
  return draw(container, {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 8, right: 8, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: months.map((m) => month(m.month)) },
    yAxis: [{ type: "value", minInterval: 1 }, axisPercent],
    series: [
      { name: t("raised"), type: "bar", data: months.map((m) => m.tickets.raised), tooltip: { valueFormatter: number } },
      { name: t("resolved"), type: "bar", data: months.map((m) => m.tickets.resolved), tooltip: { valueFormatter: number } },
      { name: t("resolution_rate"), type: "line", yAxisIndex: 1, data: months.map((m) => m.tickets.resolution_rate),
        tooltip: { valueFormatter: (v) => rate(v) } },
    ],
  });
}

/** Collected and resolved per category, the largest first. */
export function categoryBreakdown(container, categories) {
  const rows = [...categories].sort((a, b) => b.tickets.raised - a.tickets.raised || a.category.localeCompare(b.category));
  if (!chartsAvailable()) {
    return fill(container, table([
      { label: t("category"), cell: (c) => code("category", c.category) },
      { label: t("raised"), class: "num", cell: (c) => figure("span", `by_category[${c.category}].tickets.raised`, c.tickets.raised, number(c.tickets.raised)) },
      { label: t("resolved"), class: "num", cell: (c) => figure("span", `by_category[${c.category}].tickets.resolved`, c.tickets.resolved, number(c.tickets.resolved)) },
      { label: t("satisfaction_rate"), class: "num", cell: (c) => figure("span", `by_category[${c.category}].tickets.satisfaction_rate`, c.tickets.satisfaction_rate, rate(c.tickets.satisfaction_rate, "no_rating")) },
    ], rows, { empty: t("no_value") }));
  }
  const shown = [...rows].reverse(); // ECharts draws a category axis bottom-up
  return draw(container, {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 8, right: 24, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: shown.map((c) => code("category", c.category)) },
    series: [
      { name: t("raised"), type: "bar", data: shown.map((c) => c.tickets.raised) },
      { name: t("resolved"), type: "bar", data: shown.map((c) => c.tickets.resolved) },
    ],
  });
}

/** Hours a ticket spent in each stage. */
export function stageTimes(container, stages) {
  container.hidden = !chartsAvailable() || stages.length === 0;
  if (container.hidden) return null;
  const shown = [...stages].reverse();
  container.classList.add("chart-small");
  return draw(container, {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => hours(v) },
    grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: "value" },
    yAxis: { type: "category", data: shown.map((s) => code("stage", s.stage)) },
    series: [{ name: t("hours"), type: "bar", data: shown.map((s) => s.hours) }],
  });
}

/** The note shown once per page when the charts could not load. */
export function chartsNote() {
  return chartsAvailable() ? null : h("p", { class: "notice", id: "charts-unavailable" }, t("charts_unavailable"));
}
