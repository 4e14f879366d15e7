// Every label in Chinese (the default: the people who read these pages) and English, and the
// locale-aware formatting of numbers, rates, hours and dates (Intl, nothing hand-rolled).

const LABELS = {
  zh: {
    brand: "基层治理看板",
    lang_switch: "English",
    live: "实时", offline: "连接中断，重连中", as_of: "账本位置",
    this_month: "本月", this_year: "本年", all_time: "全部", custom: "自定义", from: "起", to: "止", apply: "应用",
    window_all: "全部时间", window_label: "统计时段",
    response_rate: "响应率", resolution_rate: "解决率", satisfaction_rate: "满意率",
    response_hint: "已接单 / 已派单", resolution_hint: "已解决 / 已收集", satisfaction_hint: "满意+基本满意 / 已评价",
    no_value: "暂无", no_rating: "暂无评价",
    raised: "收集", resolved: "已解决", open: "未办结", overdue: "超期", dispatched: "已派单", accepted: "已接单",
    closed: "已关闭", rated: "已评价", reopened: "重启", returned: "退单", voided: "重复作废",
    disputes: "矛盾纠纷", disputes_registered: "登记", disputes_mediated: "已调解", success_rate: "调解成功率",
    settled: "调解成功", failed: "调解失败", in_mediation: "调解中", sessions: "调解次数",
    deliberation: "党群议事", proposed: "提出", discussed: "已议", decided: "已决议", implemented: "已落实",
    durations: "用时（中位数）", time_to_accept: "接单", time_to_resolve: "办结",
    trend: "月度趋势", by_category: "分类统计", charts_unavailable: "图表不可用（未安装 ECharts），以下为数据表",
    month: "月份", category: "类别",
    children: "下级单位", unit: "单位", kind: "类型", no_children: "无下级单位",
    other_roots: "其他直属单位",
    children_note: "各单位按其全部事项统计；划转前提出的事项仍计入原上级单位",
    tickets: "工单（微清单）", tickets_note: "当前状态，不受统计时段限制",
    status: "状态", all: "全部", ticket: "工单", title: "事项", stage: "环节", raised_at: "点单时间",
    deadline: "办理时限", receiver: "接单", page_of: "第 {page} / {pages} 页，共 {total} 件", prev: "上一页", next: "下一页",
    no_tickets: "没有符合条件的工单",
    workload: "接单工作量", workload_note: "当前未办结工单，最早的在前", open_count: "未办结", oldest: "最早的工单",
    no_workload: "没有未办结的工单",
    disputes_list: "矛盾纠纷台账", risk_grade: "风险等级", registered_at: "登记时间", outcome: "结果", summary: "概要",
    no_disputes: "本时段没有登记的纠纷",
    topics_list: "议事事项", proposed_at: "提出时间", decision: "决议", votes: "表决（赞成/反对/弃权）",
    no_topics: "本时段没有议事事项", shown_of: "显示 {shown} / {total}", show_all: "全部显示（{total}）", show_fewer: "收起",
    ticket_title: "工单", four_orders: "四单流程", timeline: "处理经过", when: "时间", who: "经办",
    event: "事项", details: "内容", since_previous: "距上一步", time_in_stage: "各环节用时", hours: "小时",
    rating: "群众评价", contacted: "已联系", yes: "是", no: "否", channel: "来源", round: "轮次", org: "所属单位",
    not_yet: "尚未", overdue_flag: "已超期",
    not_found: "未找到", error: "读取失败", retry: "重试", loading: "加载中…",
    sign_in: "登录", sign_out: "退出", account: "账号", password: "密码", signed_in_as: "{name}（{role}）",
    sign_in_failed: "账号或密码不正确", sign_in_limited: "登录失败次数过多，请稍后再试",
    sign_in_note: "只显示本单位及下级单位的数据；查看群众联系方式会被记录。",
    demo_viewer: "演示：已自动以区级只读账号（{name}）登录",
    contact: "群众联系方式", show_contact: "查看联系方式（将被记录）", contact_logged: "本次查看已记入访问日志",
    contact_erased: "已按居民要求删除", name: "姓名", phone: "电话", address: "地址",
    deadlines: "时限考核", deadlines_note: "按时限所在日期统计；超期未办为当前数（账本记录的超期，尚未办理）",
    dl_role: "承办", dl_units: "各承办单位",
    dl_due: "到期", dl_on_time: "按时", dl_late: "超时", dl_on_time_rate: "按时率", dl_overdue_now: "超期未办",
    dl_chased: "催办", dl_supervised: "督办", dl_none: "本时段没有到期的任务",
    supervision: "督办清单", supervision_note: "正在督办、尚未办理的事项，最早到期的在前", supervision_none: "没有督办事项",
    dl_supervised_count: "督办件数",
    ranking: "红黑榜（{month}）", ranking_note: "按当月到期任务的按时率排名；已结任务少于 {min} 件的单位不排名",
    ranking_red: "红榜", ranking_black: "黑榜", ranking_none: "暂无上榜单位",
    calendar_missing: "{years} 年节假日安排尚未公布：其间的工作日仅按周末计算",
    calendar_problem: "时限规则无法读取：{problem}",
  },
  en: {
    brand: "Grassroots governance dashboard",
    lang_switch: "中文",
    live: "Live", offline: "Connection lost, reconnecting", as_of: "Ledger position",
    this_month: "This month", this_year: "This year", all_time: "All time", custom: "Custom", from: "From", to: "To", apply: "Apply",
    window_all: "All time", window_label: "Period",
    response_rate: "Response rate", resolution_rate: "Resolution rate", satisfaction_rate: "Satisfaction rate",
    response_hint: "accepted / dispatched", resolution_hint: "resolved / collected", satisfaction_hint: "satisfied + basically / rated",
    no_value: "n/a", no_rating: "no ratings yet",
    raised: "Collected", resolved: "Resolved", open: "Open", overdue: "Overdue", dispatched: "Dispatched", accepted: "Accepted",
    closed: "Closed", rated: "Rated", reopened: "Reopened", returned: "Returned", voided: "Voided (duplicates)",
    disputes: "Disputes", disputes_registered: "Registered", disputes_mediated: "Mediated", success_rate: "Mediation success",
    settled: "Settled", failed: "Failed", in_mediation: "In mediation", sessions: "Sessions",
    deliberation: "Deliberation", proposed: "Proposed", discussed: "Discussed", decided: "Decided", implemented: "Implemented",
    durations: "Median time", time_to_accept: "to accept", time_to_resolve: "to resolve",
    trend: "By month", by_category: "By category", charts_unavailable: "Charts unavailable (ECharts not installed); the data as tables",
    month: "Month", category: "Category",
    children: "Units below", unit: "Unit", kind: "Kind", no_children: "No units below",
    other_roots: "Other top-level units",
    children_note: "each unit counts all its items; items raised before a unit moved stay with its former parent",
    tickets: "Tickets (micro-list)", tickets_note: "current state, not limited to the period",
    status: "Status", all: "All", ticket: "Ticket", title: "Title", stage: "Stage", raised_at: "Raised",
    deadline: "Deadline", receiver: "Receiver", page_of: "Page {page} of {pages}, {total} tickets", prev: "Previous", next: "Next",
    no_tickets: "No tickets match",
    workload: "Receivers' workload", workload_note: "open tickets now, oldest first", open_count: "Open", oldest: "Oldest tickets",
    no_workload: "No open tickets",
    disputes_list: "Disputes", risk_grade: "Risk grade", registered_at: "Registered", outcome: "Outcome", summary: "Summary",
    no_disputes: "No disputes registered in the period",
    topics_list: "Deliberation topics", proposed_at: "Proposed", decision: "Decision", votes: "Votes (for/against/abstained)",
    no_topics: "No topics in the period", shown_of: "showing {shown} of {total}", show_all: "Show all ({total})", show_fewer: "Show fewer",
    ticket_title: "Ticket", four_orders: "The four orders", timeline: "Timeline", when: "When", who: "Who",
    event: "Step", details: "Details", since_previous: "Since previous", time_in_stage: "Time in each stage", hours: "hours",
    rating: "Resident's rating", contacted: "Contacted", yes: "yes", no: "no", channel: "Channel", round: "Round", org: "Unit",
    not_yet: "not yet", overdue_flag: "overdue",
    not_found: "Not found", error: "Could not load", retry: "Retry", loading: "Loading…",
    sign_in: "Sign in", sign_out: "Sign out", account: "Account", password: "Password", signed_in_as: "{name} ({role})",
    sign_in_failed: "Wrong account or password", sign_in_limited: "Too many failed sign-ins: try again later",
    sign_in_note: "You see your own unit and the units below it; every look at a resident's contact is logged.",
    demo_viewer: "Demo: signed in automatically as the district viewer ({name}, read-only)",
    contact: "Reporter's contact", show_contact: "Show contact (the view is logged)", contact_logged: "This view is in the access log",
    contact_erased: "erased at the resident's request", name: "Name", phone: "Phone", address: "Address",
    deadlines: "Deadlines", deadlines_note: "by the day each deadline falls; overdue now: breaches recorded in the ledger, still owed",
    dl_role: "Role", dl_units: "Units holding deadlines",
    dl_due: "Due", dl_on_time: "On time", dl_late: "Late", dl_on_time_rate: "On-time rate", dl_overdue_now: "Overdue now",
    dl_chased: "Chased", dl_supervised: "Supervised", dl_none: "No deadlines in the period",
    supervision: "Under supervision (督办)", supervision_note: "supervised and still owed, oldest deadline first", supervision_none: "Nothing under supervision",
    dl_supervised_count: "Items",
    ranking: "Ranking ({month})", ranking_note: "by on-time rate of the tasks due that month; units with fewer than {min} settled are not ranked",
    ranking_red: "Red list (best)", ranking_black: "Black list (worst)", ranking_none: "No unit ranked",
    calendar_missing: "No official holiday schedule for {years} yet: working days there count weekends only",
    calendar_problem: "The deadline policy cannot be read: {problem}",
  },
};

// Codes from the ledger (org kinds, stages, statuses, categories, roles, reasons...), named for
// people. The names are not written here: they are schemas/labels.py's, the one table the API
// serves at /api/labels (public: it holds no data), fetched once as this module loads. Should that
// fail, every code shows as itself and the page still works.
const CODES = await fetch("/api/labels", { headers: { Accept: "application/json" } })
  .then((r) => (r.ok ? r.json() : {})).catch(() => ({}));

const LOCALES = { zh: "zh-CN", en: "en-GB" };
let lang = "zh";

export function setLanguage(code) {
  lang = code in LABELS ? code : "zh";
  document.documentElement.lang = LOCALES[lang];
}
export const language = () => lang;
export const locale = () => LOCALES[lang];

/** A label, with {name} placeholders filled in. */
export function t(key, values = {}) {
  const text = LABELS[lang][key] ?? LABELS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
}

/** A ledger code (org kind, stage, category...) in words; the code itself when unknown. */
export function code(family, value) {
  if (value === null || value === undefined) return "";
  return CODES[lang]?.[family]?.[value] ?? String(value);
}

export function number(n) {
  return n === null || n === undefined ? t("no_value") : new Intl.NumberFormat(locale()).format(n);
}

export function rate(r, empty = "no_value") {
  return r === null || r === undefined ? t(empty)
    : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(r);
}

export function hours(h) {
  return h === null || h === undefined ? t("no_value")
    : new Intl.NumberFormat(locale(), { style: "unit", unit: "hour", unitDisplay: "short", maximumFractionDigits: 2 }).format(h);
}

/** An instant from the API (ISO 8601 with offset), shown in the district's time zone. */
export function dateTime(iso, timeZone) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { timeZone, dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

/** A whole day (YYYY-MM-DD), as the locale writes it. */
export function day(isoDay) {
  if (!isoDay) return "";
  const [y, m, d] = isoDay.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { timeZone: "UTC", dateStyle: "medium" }).format(Date.UTC(y, m - 1, d));
}

/** A month key (YYYY-MM), as the locale writes it. */
export function month(key) {
  const [y, m] = key.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(), { timeZone: "UTC", year: "numeric", month: "short" }).format(Date.UTC(y, m - 1, 1));
}
