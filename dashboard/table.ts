/**
 * Sortable tables: each header is a button (Tab, Enter or Space sorts; again reverses), the sorted
 * column carries aria-sort, and numbers keep their exact API value in data-value.
 */
import { h } from './dom';

export interface Column<R> {
  key: string;
  label: string;
  numeric?: boolean;
  /** The cell's content; text by default, or a node. */
  render: (row: R) => string | Node;
  /** What the column sorts by (and data-value for numeric columns). */
  value: (row: R) => number | string;
  /** data-value when it must be exact where `value` is not: a cost's Decimal string. */
  dataValue?: (row: R) => string;
}

export interface TableSpec<R> {
  id: string;
  caption: string;
  columns: Column<R>[];
  rows: R[];
  /** A stable key per row, written to data-key. */
  rowKey: (row: R) => string;
  defaultSort: { key: string; descending: boolean };
  /** Optional footer row cells, aligned with the columns. */
  footer?: Array<string | null>;
  empty?: string;
}

const sortState = new Map<string, { key: string; descending: boolean }>();

/** Renders a sortable table into `host`, keeping the user's sort order across re-renders. */
export function renderTable<R>(host: HTMLElement, spec: TableSpec<R>): void {
  const sort = sortState.get(spec.id) ?? spec.defaultSort;
  const column = spec.columns.find((c) => c.key === sort.key) ?? spec.columns[0];
  const rows = [...spec.rows].sort((a, b) => {
    const x = column.value(a);
    const y = column.value(b);
    const order =
      typeof x === 'number' && typeof y === 'number'
        ? x - y
        : String(x).localeCompare(String(y), undefined, { numeric: true, sensitivity: 'base' });
    return sort.descending ? -order : order;
  });

  const headRow = h('tr');
  for (const c of spec.columns) {
    const active = c.key === column.key;
    const ariaSort = active ? (sort.descending ? 'descending' : 'ascending') : null;
    const button = h(
      'button',
      { type: 'button', class: 'sort', 'data-column': c.key },
      c.label,
      h('span', { class: 'sort-icon', 'aria-hidden': 'true' }, active ? (sort.descending ? '▼' : '▲') : '↕'),
    );
    button.addEventListener('click', () => {
      const descending = active ? !sort.descending : Boolean(c.numeric);
      sortState.set(spec.id, { key: c.key, descending });
      renderTable(host, spec);
      host.querySelector<HTMLButtonElement>(`button[data-column="${c.key}"]`)?.focus();
    });
    headRow.append(h('th', { scope: 'col', class: c.numeric ? 'num' : null, 'aria-sort': ariaSort }, button));
  }

  const body = h('tbody');
  for (const r of rows) {
    const tr = h('tr', { 'data-key': spec.rowKey(r) });
    spec.columns.forEach((c, i) => {
      const content = c.render(r);
      const attrs = {
        class: c.numeric ? 'num' : null,
        'data-column': c.key,
        'data-value': c.numeric ? (c.dataValue?.(r) ?? String(c.value(r))) : null,
      };
      tr.append(i === 0 ? h('th', { scope: 'row', ...attrs }, content) : h('td', attrs, content));
    });
    body.append(tr);
  }
  if (rows.length === 0) {
    body.append(
      h('tr', {}, h('td', { colspan: spec.columns.length, class: 'empty' }, spec.empty ?? 'No rows')),
    );
  }

  const table = h(
    'table',
    { id: spec.id, class: 'data' },
    h(
      'caption',
      { class: 'visually-hidden' },
      `${spec.caption}. Column headers are buttons that sort the table.`,
    ),
    h('thead', {}, headRow),
    body,
  );
  if (spec.footer && rows.length > 0) {
    const tr = h('tr');
    spec.footer.forEach((cell, i) => {
      const numeric = spec.columns[i]?.numeric;
      tr.append(
        i === 0
          ? h('th', { scope: 'row' }, cell ?? '')
          : h('td', { class: numeric ? 'num' : null }, cell ?? ''),
      );
    });
    table.append(h('tfoot', {}, tr));
  }
  // Focusable so that keyboard users can scroll a table wider than the screen.
  host.replaceChildren(
    h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': spec.caption }, table),
  );
}
