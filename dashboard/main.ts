/**
 * The usage dashboard: a key form, a filter bar, and views of usageStats, usageLogs and (for the
 * admin token) every project's usage, all through the public GraphQL API.
 */
import './styles.css';
import {
  ApiError,
  loadDashboard,
  loadLogs,
  LOG_PAGE,
  METADATA_GROUPS,
  METADATA_VALUES,
  whoAmI,
  type DashboardData,
  type MetadataFilter,
  type Session,
  type Usage,
  type UsageFilter,
} from './api';
import { createTimeChart, renderBars, type TimeChart } from './charts';
import { renderLogs } from './logs';
import { createPricesView } from './prices';
import { createBudgetsView } from './budgets';
import { byId, h, muted } from './dom';
import {
  addDecimals,
  decimalNumber,
  formatAsOf,
  formatBucket,
  formatDay,
  formatInt,
  formatShare,
  formatUsdDecimal,
  INPUT_PARTS,
  NO_ALIAS,
  NO_ORIGIN,
  NO_VALUE,
  OUTPUT_PARTS,
  type TokenCounts,
  type TokenPart,
} from './format';
import { renderTable, type Column } from './table';
import { addDays, bucketStarts, dateIn, dayRange, isTimeZone, parseDate, type Bucket } from './time';

const STORAGE_KEY = 'llmring.dashboard.secret';
/** The value a facet checkbox carries for "calls without an alias" (aliasNames accepts null). */
const NULL_VALUE = '\u0000null';

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

interface Query {
  filter: UsageFilter;
  bucket: Bucket;
  timeZone: string;
  first: string;
  last: string;
}

const state: {
  secret: string | null;
  session: Session | null;
  controller: AbortController | null;
  query: Query | null;
  logsCursor: string | null;
  chart: TimeChart | null;
} = { secret: null, session: null, controller: null, query: null, logsCursor: null, chart: null };

const el = {
  signIn: byId('sign-in'),
  signInForm: byId<HTMLFormElement>('sign-in-form'),
  secret: byId<HTMLInputElement>('secret'),
  signInError: byId('sign-in-error'),
  signInStatus: byId('sign-in-status'),
  connect: byId<HTMLButtonElement>('connect'),
  identity: byId('identity'),
  identityLabel: byId('identity-label'),
  signOut: byId<HTMLButtonElement>('sign-out'),
  dashboard: byId('dashboard'),
  filters: byId<HTMLFormElement>('filters'),
  projectField: byId('project-field'),
  project: byId<HTMLSelectElement>('project'),
  start: byId<HTMLInputElement>('start'),
  end: byId<HTMLInputElement>('end'),
  tz: byId<HTMLInputElement>('tz'),
  tzList: byId<HTMLDataListElement>('tz-list'),
  bucket: byId<HTMLSelectElement>('bucket'),
  status: byId('status'),
  alert: byId('alert'),
  facetRow: byId('facet-row'),
  content: byId('content'),
  freshness: byId('freshness'),
  totals: byId('totals'),
  empty: byId('empty'),
  overTime: byId('over-time'),
  timeChart: byId('time-chart'),
  breakdowns: byId('breakdowns'),
  projectsSection: byId('projects-section'),
  pricesSection: byId('prices-section'),
  logsSection: byId('logs-section'),
  logsHost: byId('logs-host'),
  moreLogs: byId<HTMLButtonElement>('more-logs'),
};

// ---------------------------------------------------------------------------------------------
// Status and errors

function setStatus(text: string): void {
  el.status.textContent = text;
}

function showAlert(message: string, retry: boolean): void {
  const children: Array<Node | string> = [h('strong', {}, 'Could not load usage. '), message];
  if (retry) {
    const button = h('button', { type: 'button', class: 'button-secondary' }, 'Try again');
    button.addEventListener('click', () => void refresh());
    children.push(' ', button);
  }
  el.alert.replaceChildren(...children);
  el.alert.hidden = false;
}

function hideAlert(): void {
  el.alert.hidden = true;
  el.alert.replaceChildren();
}

// ---------------------------------------------------------------------------------------------
// Connecting with a key

async function connect(secret: string, restoring: boolean): Promise<void> {
  el.connect.disabled = true;
  el.signInError.textContent = '';
  el.secret.removeAttribute('aria-invalid');
  el.signInStatus.textContent = restoring ? 'Connecting with the key kept in this tab…' : 'Checking the key…';
  try {
    const session = await whoAmI(secret);
    state.secret = secret;
    state.session = session;
    sessionStorage.setItem(STORAGE_KEY, secret);
    el.secret.value = '';
    showDashboard(session);
    await refresh();
  } catch (err) {
    sessionStorage.removeItem(STORAGE_KEY);
    el.signIn.hidden = false;
    el.signInError.textContent =
      err instanceof ApiError ? err.message : 'Something went wrong while checking the key.';
    if (err instanceof ApiError && err.kind === 'auth') el.secret.setAttribute('aria-invalid', 'true');
    if (!restoring) el.secret.focus();
  } finally {
    el.connect.disabled = false;
    el.signInStatus.textContent = '';
  }
}

function showDashboard(session: Session): void {
  el.signIn.hidden = true;
  el.dashboard.hidden = false;
  el.identity.hidden = false;
  el.identityLabel.replaceChildren(
    session.admin
      ? h('span', { class: 'badge' }, 'Admin')
      : h('span', { class: 'badge badge-project' }, 'Project'),
    ' ',
    session.admin ? 'all projects' : `${session.currentProject!.name} (${session.currentProject!.key})`,
  );
  el.projectField.hidden = !session.admin;
  if (session.admin) renderProjectOptions(session.projects);
  renderMetadataPlaces(session.metadataDimensions);
  state.chart ??= createTimeChart(el.timeChart);
}

/**
 * A filter and a breakdown card per promoted metadata key, numbered rather than named after the
 * key in ids (a key is the operator's text). None when no key is promoted.
 */
function renderMetadataPlaces(keys: string[]): void {
  document.querySelectorAll('[data-metadata-place]').forEach((e) => e.remove());
  const actions = el.facetRow.querySelector('.actions');
  keys.forEach((key, i) => {
    el.facetRow.insertBefore(
      h('div', { class: 'field facet', id: `facet-meta-${i}`, 'data-metadata-place': '' }),
      actions,
    );
    el.breakdowns.append(
      h(
        'section',
        { class: 'card breakdown', 'aria-labelledby': `meta-${i}-title`, 'data-metadata-place': '' },
        h('h2', { id: `meta-${i}-title` }, `Cost by “${key}” `, muted('(metadata)')),
        h('p', { class: 'note', id: `meta-${i}-note`, hidden: true }),
        h(
          'div',
          { class: 'breakdown-body' },
          h('div', { id: `meta-${i}-bars`, class: 'bars-host' }),
          h('div', { id: `meta-${i}-table-host` }),
        ),
      ),
    );
  });
}

/** The admin's project switcher; the choice is kept when the list is refreshed. */
function renderProjectOptions(projects: Session['projects']): void {
  const selected = el.project.value;
  el.project.replaceChildren(
    h('option', { value: '' }, 'All projects'),
    ...projects.map((p) =>
      h('option', { value: p.id }, `${p.name} (${p.key})${p.archivedAt ? ' · archived' : ''}`),
    ),
  );
  el.project.value = projects.some((p) => p.id === selected) ? selected : '';
}

function signOut(message = ''): void {
  state.controller?.abort();
  prices.reset();
  budgets.reset();
  state.secret = null;
  state.session = null;
  sessionStorage.removeItem(STORAGE_KEY);
  el.dashboard.hidden = true;
  el.identity.hidden = true;
  el.signIn.hidden = false;
  el.signInError.textContent = message;
  hideAlert();
  setStatus('');
  el.signInStatus.textContent = message ? '' : 'The key was forgotten.';
  el.secret.focus();
}

// ---------------------------------------------------------------------------------------------
// Filters

function selectedValues(facet: string): Array<string | null> {
  return [...document.querySelectorAll<HTMLInputElement>(`#facet-${facet} input[type=checkbox]:checked`)].map(
    (c) => (c.value === NULL_VALUE ? null : c.value),
  );
}

function readQuery(): Query | string {
  const first = el.start.value;
  const last = el.end.value;
  const timeZone = el.tz.value.trim();
  for (const input of [el.start, el.end, el.tz]) input.removeAttribute('aria-invalid');
  if (!parseDate(first)) {
    el.start.setAttribute('aria-invalid', 'true');
    return 'Enter a start date.';
  }
  if (!parseDate(last)) {
    el.end.setAttribute('aria-invalid', 'true');
    return 'Enter an end date.';
  }
  if (first > last) {
    el.end.setAttribute('aria-invalid', 'true');
    return 'The end date is before the start date.';
  }
  if (!isTimeZone(timeZone)) {
    el.tz.setAttribute('aria-invalid', 'true');
    return `"${timeZone}" is not a time zone this browser knows; pick one from the list, for example UTC.`;
  }
  const filter: UsageFilter = { ...dayRange(first, last, timeZone) };
  if (state.session?.admin && el.project.value) filter.projectId = el.project.value;
  const aliasNames = selectedValues('alias');
  const models = selectedValues('model').filter((v): v is string => v !== null);
  const origins = selectedValues('origin').filter((v): v is string => v !== null);
  if (aliasNames.length) filter.aliasNames = aliasNames;
  if (models.length) filter.models = models;
  if (origins.length) filter.origins = origins;
  const metadata: MetadataFilter[] = (state.session?.metadataDimensions ?? [])
    .map((key, i) => ({ key, values: selectedValues(`meta-${i}`) }))
    .filter((f) => f.values.length > 0);
  if (metadata.length) filter.metadata = metadata;
  return { filter, bucket: el.bucket.value as Bucket, timeZone, first, last };
}

/**
 * A dropdown of checkboxes: none checked means no criterion. Checked values survive reloads.
 * `truncated`: the server sent only the most expensive values.
 */
function renderFacet(
  id: string,
  title: string,
  values: Array<string | null>,
  nullLabel: string,
  truncated = false,
): void {
  const host = byId(`facet-${id}`);
  const checked = new Set(selectedValues(id));
  const wasOpen = host.querySelector('details')?.open ?? false;
  const all = [...new Set([...checked, ...values])].sort((a, b) =>
    a === null ? 1 : b === null ? -1 : a.localeCompare(b),
  );
  const options = all.map((v) => {
    const input = h('input', {
      type: 'checkbox',
      name: id,
      value: v === null ? NULL_VALUE : v,
      checked: checked.has(v),
    });
    return h('label', { class: 'check' }, input, h('span', {}, v === null ? nullLabel : v));
  });
  const summaryText = checked.size === 0 ? 'All' : `${checked.size} selected`;
  const clearButton = h('button', { type: 'button', class: 'link' }, 'Clear');
  clearButton.addEventListener('click', () => {
    host.querySelectorAll<HTMLInputElement>('input[type=checkbox]').forEach((c) => (c.checked = false));
    void refresh();
  });
  const details = h(
    'details',
    { class: 'dropdown' },
    h('summary', { 'aria-label': `${title}: ${summaryText}` }, h('span', {}, summaryText)),
    h(
      'fieldset',
      {},
      h('legend', {}, title),
      ...(options.length ? options : [h('p', { class: 'note' }, 'None in this period')]),
      truncated
        ? h('p', { class: 'note' }, `The ${values.length} most expensive values in this period.`)
        : null,
      checked.size ? clearButton : null,
    ),
  );
  details.open = wasOpen;
  // Re-rendering must not take the keyboard focus away from the checkbox just toggled.
  const focused = document.activeElement;
  const focusedValue = focused instanceof HTMLInputElement && host.contains(focused) ? focused.value : null;
  const hadFocus = focused !== null && host.contains(focused);
  host.replaceChildren(h('span', { class: 'label', 'aria-hidden': 'true' }, title), details);
  if (!hadFocus) return;
  const again = [...host.querySelectorAll<HTMLInputElement>('input[type=checkbox]')].find(
    (c) => c.value === focusedValue,
  );
  (again ?? details.querySelector('summary'))?.focus();
}

// ---------------------------------------------------------------------------------------------
// Loading

async function refresh(): Promise<void> {
  if (!state.secret || !state.session) return;
  const query = readQuery();
  if (typeof query === 'string') {
    showAlert(query, false);
    setStatus('');
    return;
  }
  state.controller?.abort();
  const controller = new AbortController();
  state.controller = controller;
  el.content.setAttribute('aria-busy', 'true');
  el.content.classList.add('loading');
  setStatus('Loading usage…');
  try {
    const data = await loadDashboard(
      state.secret,
      {
        filter: query.filter,
        bucket: query.bucket,
        timeZone: query.timeZone,
        admin: state.session.admin,
        metadataKeys: state.session.metadataDimensions,
        logs: LOG_PAGE,
      },
      controller.signal,
    );
    if (controller.signal.aborted) return;
    const logs = data.logs;
    state.query = query;
    hideAlert();
    el.content.hidden = false;
    render(data, query);
    renderLogs(
      el.logsHost,
      logs.edges.map((e) => e.node),
      { append: false, admin: state.session.admin, timeZone: query.timeZone },
    );
    state.logsCursor = logs.pageInfo.hasNextPage ? logs.pageInfo.endCursor : null;
    el.moreLogs.hidden = !state.logsCursor;
    const s = data.stats.summary;
    setStatus(
      `${formatInt(s.requests)} ${s.requests === 1 ? 'call' : 'calls'}, ${formatUsdDecimal(s.costDecimal)}, from ` +
        `${formatDay(query.first)} to ${formatDay(query.last)} (${query.timeZone}).`,
    );
  } catch (err) {
    if (controller.signal.aborted) return;
    if (err instanceof ApiError && err.kind === 'auth') {
      signOut(err.message);
      return;
    }
    el.content.hidden = true;
    setStatus('');
    showAlert(
      err instanceof ApiError ? err.message : 'Something went wrong.',
      !(err instanceof ApiError && err.kind === 'input'),
    );
  } finally {
    if (state.controller === controller) {
      el.content.setAttribute('aria-busy', 'false');
      el.content.classList.remove('loading');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering

function render(data: DashboardData, query: Query): void {
  const { stats, facets } = data;
  const s = stats.summary;
  renderFacet(
    'alias',
    'Alias names',
    facets.byAlias.map((r) => r.aliasName),
    NO_ALIAS,
  );
  renderFacet('model', 'Models', [...new Set(facets.byModel.map((r) => r.model))], '');
  renderFacet(
    'origin',
    'Origins',
    facets.byOrigin.map((r) => r.origin).filter((o): o is string => o !== null),
    NO_ORIGIN,
  );
  data.metadata.forEach((m, i) =>
    renderFacet(`meta-${i}`, m.key, m.values, NO_VALUE, m.values.length >= METADATA_VALUES),
  );

  renderFreshness(stats.asOf, stats.fromReplica, query.timeZone);
  const part = (id: string, k: TokenPart, label: string) => ({ id, value: s[k], label });
  el.totals.replaceChildren(
    total('cost', 'Cost', s.costDecimal, formatUsdDecimal(s.costDecimal)),
    total('requests', 'Requests', String(s.requests), formatInt(s.requests)),
    total('input-tokens', 'Input tokens', String(s.inputTokens), formatInt(s.inputTokens), [
      part('cached-input-tokens', 'cachedInputTokens', 'cached'),
      part('cache-write-tokens', 'cacheWriteTokens', 'cache write 5m'),
      part('cache-write-1h-tokens', 'cacheWrite1hTokens', 'cache write 1h'),
    ]),
    total('output-tokens', 'Output tokens', String(s.outputTokens), formatInt(s.outputTokens), [
      part('reasoning-tokens', 'reasoningTokens', 'reasoning'),
    ]),
    total('models', 'Models', String(s.uniqueModels), formatInt(s.uniqueModels)),
    total('aliases', 'Alias names', String(s.uniqueAliases), formatInt(s.uniqueAliases)),
    total('origins', 'Origins', String(s.uniqueOrigins), formatInt(s.uniqueOrigins)),
  );

  const empty = s.requests === 0;
  el.empty.hidden = !empty;
  el.overTime.hidden = empty;
  el.breakdowns.hidden = empty;
  el.logsSection.hidden = empty;

  if (data.projects) {
    renderProjectOptions(data.projects);
    renderProjects(data.projects);
  }
  el.projectsSection.hidden = !data.projects;
  el.pricesSection.hidden = !state.session?.admin;
  if (state.session?.admin) prices.update();
  budgets.update();
  if (empty) return;

  renderTimeChart(data, query);
  renderBreakdowns(data);
}

/** A total: its exact value in data-value, and its parts (token types) under it. */
function total(
  id: string,
  label: string,
  value: string,
  text: string,
  parts: Array<{ id: string; value: number; label: string }> = [],
): HTMLElement {
  return h(
    'div',
    { class: 'total' },
    h('dt', {}, label),
    h('dd', { id: `total-${id}`, 'data-value': value }, text),
    ...parts.map((p) =>
      h(
        'dd',
        { class: 'sub', id: `total-${p.id}`, 'data-value': String(p.value) },
        `${formatInt(p.value)} ${p.label}`,
      ),
    ),
  );
}

/** How fresh the numbers are: a replica answers as of the last transaction it replayed. */
function renderFreshness(asOf: string, fromReplica: boolean, timeZone: string): void {
  el.freshness.replaceChildren(
    'Statistics as of ',
    h('time', { datetime: asOf }, formatAsOf(asOf, timeZone)),
    ` (${timeZone})`,
    fromReplica ? ', from a read replica: calls logged since then are not counted yet.' : '.',
  );
  el.freshness.dataset.replica = String(fromReplica);
}

/**
 * A token count with its parts under it, those that are not zero (cached input and cache writes
 * are parts of input, reasoning of output): `1,200` over `300 cached · 100 cache write 5m`.
 */
function tokensCell(total: number, row: TokenCounts, parts: typeof INPUT_PARTS): Node {
  const shown = parts.filter(([k]) => row[k] > 0);
  return h(
    'span',
    { class: 'tokens' },
    formatInt(total),
    shown.length
      ? h(
          'span',
          { class: 'parts' },
          ...shown.flatMap(([k, label], i) => [
            i > 0 ? ' · ' : null,
            h('span', { 'data-part': k, 'data-value': row[k] }, `${formatInt(row[k])} ${label}`),
          ]),
        )
      : null,
  );
}

/** The Requests, Input, Output and Cost columns of every usage table. */
function usageColumns<R extends Usage>(): Column<R>[] {
  return [
    {
      key: 'requests',
      label: 'Requests',
      numeric: true,
      render: (r) => formatInt(r.requests),
      value: (r) => r.requests,
    },
    {
      key: 'input',
      label: 'Input tokens',
      numeric: true,
      render: (r) => tokensCell(r.inputTokens, r, INPUT_PARTS),
      value: (r) => r.inputTokens,
    },
    {
      key: 'output',
      label: 'Output tokens',
      numeric: true,
      render: (r) => tokensCell(r.outputTokens, r, OUTPUT_PARTS),
      value: (r) => r.outputTokens,
    },
    {
      key: 'cost',
      label: 'Cost',
      numeric: true,
      render: (r) => formatUsdDecimal(r.costDecimal),
      value: (r) => decimalNumber(r.costDecimal),
      dataValue: (r) => r.costDecimal,
    },
  ];
}

function renderTimeChart({ stats }: DashboardData, query: Query): void {
  const startMs = Date.parse(query.filter.startDate);
  const endMs = Date.parse(query.filter.endDate);
  const buckets = new Map<number, { cost: number; requests: number }>();
  for (const t of bucketStarts(startMs, endMs, query.bucket, query.timeZone))
    buckets.set(t, { cost: 0, requests: 0 });
  for (const p of stats.byPeriod)
    buckets.set(Date.parse(p.periodStart), { cost: decimalNumber(p.costDecimal), requests: p.requests });
  const xs = [...buckets.keys()].sort((a, b) => a - b);
  state.chart!.update(
    {
      x: xs.map((t) => t / 1000),
      cost: xs.map((t) => buckets.get(t)!.cost),
      requests: xs.map((t) => buckets.get(t)!.requests),
    },
    query.timeZone,
    query.bucket,
    [startMs / 1000, endMs / 1000],
  );
  const unit = { HOUR: 'hour', DAY: 'day', WEEK: 'week', MONTH: 'month' }[query.bucket];
  el.timeChart.setAttribute(
    'aria-label',
    `Chart of cost (bars) and requests (line) per ${unit} in ${query.timeZone}; ` +
      `${stats.byPeriod.length} of ${xs.length} buckets have usage. The table below has the numbers.`,
  );

  type P = (typeof stats.byPeriod)[number];
  const columns: Column<P>[] = [
    {
      key: 'period',
      label: 'Period',
      render: (r) => formatBucket(r.periodStart, query.bucket, query.timeZone),
      value: (r) => r.periodStart,
    },
    ...usageColumns<P>(),
    { key: 'top', label: 'Top model', render: (r) => r.topModel ?? '–', value: (r) => r.topModel ?? '' },
  ];
  renderTable(byId('period-table-host'), {
    id: 'period-table',
    caption: 'Usage per period',
    columns,
    rows: stats.byPeriod,
    rowKey: (r) => r.periodStart,
    defaultSort: { key: 'period', descending: false },
  });
}

interface Breakdown extends Usage {
  key: string;
  name: string | Node;
  sortName: string;
  /** Only in the model table: models are grouped by provider and model. */
  provider?: string;
}

function breakdownTable(
  id: string,
  caption: string,
  nameLabel: string,
  rows: Breakdown[],
  totals: Usage,
): void {
  const provider: Column<Breakdown> = {
    key: 'provider',
    label: 'Provider',
    render: (r) => r.provider ?? '',
    value: (r) => r.provider ?? '',
  };
  const withProvider = rows.some((r) => r.provider !== undefined);
  const totalCost = decimalNumber(totals.costDecimal);
  const columns: Column<Breakdown>[] = [
    { key: 'name', label: nameLabel, render: (r) => r.name, value: (r) => r.sortName },
    ...(withProvider ? [provider] : []),
    ...usageColumns<Breakdown>(),
    {
      key: 'share',
      label: 'Share',
      numeric: true,
      render: (r) => formatShare(decimalNumber(r.costDecimal), totalCost),
      value: (r) => decimalNumber(r.costDecimal),
    },
  ];
  renderTable(byId(`${id}-table-host`), {
    id: `${id}-table`,
    caption,
    columns,
    rows,
    rowKey: (r) => r.key,
    defaultSort: { key: 'cost', descending: true },
    footer: [
      'Total',
      ...(withProvider ? [null] : []),
      formatInt(totals.requests),
      formatInt(totals.inputTokens),
      formatInt(totals.outputTokens),
      formatUsdDecimal(totals.costDecimal),
      formatShare(totalCost, totalCost),
    ],
  });
}

const bar = (label: string, r: Usage) => ({ label, value: decimalNumber(r.costDecimal) });

function renderBreakdowns({ stats, metadata }: DashboardData): void {
  const s = stats.summary;
  const alias = stats.byAlias.map<Breakdown>((r) => ({
    ...r,
    key: JSON.stringify(r.aliasName),
    name: r.aliasName === null ? muted(NO_ALIAS) : r.aliasName,
    sortName: r.aliasName ?? '',
  }));
  const model = stats.byModel.map<Breakdown>((r) => ({
    ...r,
    key: JSON.stringify([r.provider, r.model]),
    name: r.model,
    sortName: r.model,
    provider: r.provider,
  }));
  const origin = stats.byOrigin.map<Breakdown>((r) => ({
    ...r,
    key: JSON.stringify(r.origin),
    name: r.origin === null ? muted(NO_ORIGIN) : r.origin,
    sortName: r.origin ?? '',
  }));
  renderBars(
    byId('alias-bars'),
    stats.byAlias.map((r) => bar(r.aliasName ?? NO_ALIAS, r)),
  );
  renderBars(
    byId('model-bars'),
    stats.byModel.map((r) => bar(`${r.model} (${r.provider})`, r)),
  );
  renderBars(
    byId('origin-bars'),
    stats.byOrigin.map((r) => bar(r.origin ?? NO_ORIGIN, r)),
  );
  breakdownTable('alias', 'Cost by alias name', 'Alias name', alias, s);
  breakdownTable('model', 'Cost by model', 'Model', model, s);
  breakdownTable('origin', 'Cost by origin', 'Origin', origin, s);

  metadata.forEach((m, i) => {
    const rows = m.groups.map<Breakdown>((g) => {
      const value = g.metadata[0]?.value ?? null;
      return {
        ...g,
        key: JSON.stringify(value),
        name: value === null ? muted(NO_VALUE) : value,
        sortName: value ?? '',
      };
    });
    const note = byId(`meta-${i}-note`);
    note.hidden = m.groups.length < METADATA_GROUPS;
    note.textContent = `The ${METADATA_GROUPS} most expensive values; the others are left out, so the rows add up to less than the total.`;
    renderBars(
      byId(`meta-${i}-bars`),
      rows.map((r) => bar(r.sortName === '' && r.key === 'null' ? NO_VALUE : r.sortName, r)),
    );
    breakdownTable(`meta-${i}`, `Cost by metadata key ${m.key}`, m.key, rows, s);
  });
}

function renderProjects(projects: NonNullable<DashboardData['projects']>): void {
  type P = (typeof projects)[number];
  const total = addDecimals(projects.map((p) => p.usage.costDecimal));
  const totalCost = decimalNumber(total);
  const columns: Column<P>[] = [
    {
      key: 'name',
      label: 'Project',
      render: (p) => {
        const button = h(
          'button',
          { type: 'button', class: 'link', 'aria-label': `Show only project ${p.name}` },
          p.name,
        );
        button.addEventListener('click', () => {
          el.project.value = p.id;
          void refresh();
        });
        return h('span', {}, button, p.archivedAt ? muted(' archived') : null);
      },
      value: (p) => p.name,
    },
    { key: 'key', label: 'Key', render: (p) => h('code', {}, p.key), value: (p) => p.key },
    {
      key: 'requests',
      label: 'Requests',
      numeric: true,
      render: (p) => formatInt(p.usage.requests),
      value: (p) => p.usage.requests,
    },
    {
      key: 'cost',
      label: 'Cost',
      numeric: true,
      render: (p) => formatUsdDecimal(p.usage.costDecimal),
      value: (p) => decimalNumber(p.usage.costDecimal),
      dataValue: (p) => p.usage.costDecimal,
    },
    {
      key: 'share',
      label: 'Share',
      numeric: true,
      render: (p) => formatShare(decimalNumber(p.usage.costDecimal), totalCost),
      value: (p) => decimalNumber(p.usage.costDecimal),
    },
  ];
  renderTable(byId('project-table-host'), {
    id: 'project-table',
    caption: 'Cost per project',
    columns,
    rows: projects,
    rowKey: (p) => p.key,
    defaultSort: { key: 'cost', descending: true },
    // The exact sum of the projects' exact costs.
    footer: [
      'Total',
      null,
      formatInt(projects.reduce((n, p) => n + p.usage.requests, 0)),
      formatUsdDecimal(total),
      formatShare(totalCost, totalCost),
    ],
  });
}

async function loadMoreLogs(): Promise<void> {
  if (!state.secret || !state.query || !state.logsCursor) return;
  el.moreLogs.disabled = true;
  setStatus('Loading more calls…');
  try {
    const page = await loadLogs(state.secret, state.query.filter, LOG_PAGE, state.logsCursor);
    renderLogs(
      el.logsHost,
      page.edges.map((e) => e.node),
      { append: true, admin: state.session?.admin ?? false, timeZone: state.query.timeZone },
    );
    state.logsCursor = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    el.moreLogs.hidden = !state.logsCursor;
    setStatus(`${page.edges.length} more calls shown.`);
  } catch (err) {
    if (err instanceof ApiError && err.kind === 'auth') return signOut(err.message);
    showAlert(err instanceof ApiError ? err.message : 'Something went wrong.', true);
  } finally {
    el.moreLogs.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Start

function setRange(days: number): void {
  const today = dateIn(Date.now(), isTimeZone(el.tz.value) ? el.tz.value : browserZone);
  el.end.value = today;
  el.start.value = addDays(today, -(days - 1));
}

const prices = createPricesView({
  secret: () => state.secret,
  projectId: () => (state.session?.admin && el.project.value ? el.project.value : null),
  timeZone: () => state.query?.timeZone ?? browserZone,
  onAuthError: (message) => signOut(message),
});

const budgets = createBudgetsView({
  secret: () => state.secret,
  projectId: () => (state.session?.admin && el.project.value ? el.project.value : null),
  admin: () => Boolean(state.session?.admin),
  timeZone: () => state.query?.timeZone ?? browserZone,
  onAuthError: (message) => signOut(message),
});

function init(): void {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  el.tzList.replaceChildren(
    ...['UTC', ...zones.filter((z) => z !== 'UTC')].map((z) => h('option', { value: z })),
  );
  el.tz.value = browserZone;
  setRange(30);

  el.signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const secret = el.secret.value.trim();
    if (!secret) {
      el.signInError.textContent = 'Paste an API key or the admin token.';
      el.secret.setAttribute('aria-invalid', 'true');
      el.secret.focus();
      return;
    }
    void connect(secret, false);
  });
  el.signOut.addEventListener('click', () => signOut());
  el.filters.addEventListener('submit', (event) => {
    event.preventDefault();
    void refresh();
  });
  // Selects, dates, the zone and checkboxes apply as soon as they change.
  // Typing a date fires a change per edited part (day, month, year): wait for a pause.
  let pending: ReturnType<typeof setTimeout> | undefined;
  el.filters.addEventListener('change', (event) => {
    clearTimeout(pending);
    const typed = event.target instanceof HTMLInputElement && event.target.type !== 'checkbox';
    pending = setTimeout(() => void refresh(), typed ? 400 : 0);
  });
  el.filters.querySelectorAll<HTMLButtonElement>('button[data-days]').forEach((b) =>
    b.addEventListener('click', () => {
      setRange(Number(b.dataset.days));
      void refresh();
    }),
  );
  el.moreLogs.addEventListener('click', () => void loadMoreLogs());

  // Dropdowns close on Escape and on a click elsewhere, like a native select.
  document.addEventListener('click', (event) => {
    document.querySelectorAll<HTMLDetailsElement>('details.dropdown[open]').forEach((d) => {
      if (!d.contains(event.target as Node)) d.open = false;
    });
  });
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    const open = (event.target as Element | null)?.closest?.(
      'details.dropdown[open]',
    ) as HTMLDetailsElement | null;
    if (open) {
      open.open = false;
      open.querySelector('summary')?.focus();
    }
  });

  const saved = sessionStorage.getItem(STORAGE_KEY);
  if (saved) void connect(saved, true);
  else el.secret.focus();
}

init();
