// The HTTP API, and the time window every figure on a page obeys. The window lives in the page's
// URL (?period=month|year|all, or ?from=&to= for a custom one) so that a link, a reload or a
// wall screen left running keeps it; "this month" and "this year" are worked out afresh at each
// fetch, in the district's time zone, so a screen rolls over at midnight there.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

export async function getJSON(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
  const url = query.toString() ? `${path}?${query}` : path;
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (response.status === 401) {  // not signed in, or the session expired: sign in, then come back here
    location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
  }
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).detail; } catch { /* not JSON: keep the status */ }
    throw new ApiError(response.status, detail);
  }
  return response.json();
}

let timeZone = "Asia/Shanghai";
/** The district's time zone, as the API reports it with each dashboard. */
export function setTimeZone(zone) { if (zone) timeZone = zone; }
export const districtTimeZone = () => timeZone;

/** Today in the district's time zone, YYYY-MM-DD. */
export function today() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The window the URL asks for: {period, from, to}; from/to are what the API is sent. */
export function currentWindow(search = location.search) {
  const q = new URLSearchParams(search);
  const from = q.get("from") ?? "", to = q.get("to") ?? "";
  if (DAY.test(from) || DAY.test(to)) return { period: "custom", from: DAY.test(from) ? from : "", to: DAY.test(to) ? to : "" };
  const period = ["month", "year", "all"].includes(q.get("period")) ? q.get("period") : "year";
  const now = today();
  if (period === "month") return { period, from: `${now.slice(0, 7)}-01`, to: now };
  if (period === "year") return { period, from: `${now.slice(0, 4)}-01-01`, to: now };
  return { period, from: "", to: "" };
}

/** The query string that keeps the window on links to other pages. */
export function windowQuery(search = location.search) {
  const q = new URLSearchParams(search);
  const keep = new URLSearchParams();
  for (const key of ["period", "from", "to"]) if (q.get(key)) keep.set(key, q.get(key));
  return keep.toString() ? `?${keep}` : "";
}

export const windowParams = () => {
  const w = currentWindow();
  return { from: w.from, to: w.to };
};
