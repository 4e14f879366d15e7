// Building the page. Data from the ledger (titles, comments, names) is user text: it only ever
// goes in as a text node, never through innerHTML, so "<script>" in a title is shown, not run.

/**
 * h("td", {class: "num", dataset: {figure: "tickets.raised"}}, "7") -> <td class="num" data-figure=...>7</td>
 * Children: strings (become text nodes), nodes, arrays of either, null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace what a container shows. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** An API figure on the page: shown formatted, its raw value kept for checking against the API. */
export function figure(tag, path, value, text, props = {}) {
  return h(tag, { ...props, dataset: { ...(props.dataset ?? {}), figure: path, value: JSON.stringify(value ?? null) } }, text);
}

/** An in-app link: same-origin, handled by the router without a reload. */
export function link(href, ...children) {
  return h("a", { href, dataset: { nav: "" } }, ...children);
}

/** A section with a heading (and an optional note) around its body. */
export function section(id, title, note, ...body) {
  return h("section", { class: "panel", id },
    h("div", { class: "panel-head" }, h("h2", {}, title), note ? h("span", { class: "note" }, note) : null),
    ...body);
}

/** A table from column descriptions {label, cell(row) -> node|string, class, sort(row) -> comparable}. */
export function table(columns, rows, { empty = "", sort = null, onSort = null, rowProps = null } = {}) {
  const head = h("tr", {}, columns.map((col, i) => {
    const sortable = col.sort && onSort;
    const mark = sort && sort.column === i ? (sort.descending ? " ▼" : " ▲") : "";
    return h("th", {
      class: [col.class, sortable ? "sortable" : ""].filter(Boolean).join(" ") || null,
      scope: "col",
      "aria-sort": sort && sort.column === i ? (sort.descending ? "descending" : "ascending") : null,
      onclick: sortable ? () => onSort(i) : null,
    }, col.label, mark);
  }));
  const body = rows.length
    ? rows.map((row) => h("tr", rowProps ? rowProps(row) : {}, columns.map((col) => h("td", { class: col.class }, col.cell(row)))))
    : [h("tr", {}, h("td", { class: "empty", colspan: columns.length }, empty))];
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

/** Rows sorted by a column's key, stable, nulls last. */
export function sorted(rows, columns, sort) {
  if (!sort || !columns[sort.column]?.sort) return rows;
  const key = columns[sort.column].sort;
  const sign = sort.descending ? -1 : 1;
  return rows.map((row, i) => [row, i]).sort(([a, i], [b, j]) => {
    const x = key(a), y = key(b);
    if (x === y) return i - j;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sign;
  }).map(([row]) => row);
}
