/**
 * The usage dashboard: a key form, a filter bar, and views of usageStats, usageLogs and (for the
 * admin token) every project's usage, all through the public GraphQL API.
 */
import './styles.css';
import {
  ApiError,
  loadDashboard,
  loadLogs,
  verifyReceipt,
  whoAmI,
  type DashboardData,
  type LogRow,
  type Session,
  type UsageFilter,
} from './api';
import { createTimeChart, renderBars, type TimeChart } from './charts';
import { byId, h } from './dom';
import {
  formatBucket,
  formatDateTime,
  formatDay,
  formatInt,
  formatShare,
  formatUsd,
  NO_ALIAS,
  NO_ORIGIN,
} from './format';
import { renderTable, type Column } from './table';
import { addDays, bucketStarts, dateIn, dayRange, isTimeZone, parseDate, type Bucket } from './time';

const STORAGE_KEY = 'llmring.dashboard.secret';
const LOG_PAGE = 20;
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
  content: byId('content'),
  totals: byId('totals'),
  empty: byId('empty'),
  overTime: byId('over-time'),
  timeChart: byId('time-chart'),
  breakdowns: byId('breakdowns'),
  projectsSection: byId('projects-section'),
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
  state.chart ??= createTimeChart(el.timeChart);
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
  return { filter, bucket: el.bucket.value as Bucket, timeZone, first, last };
}

/** A dropdown of checkboxes: none checked means no criterion. Checked values survive reloads. */
function renderFacet(id: string, title: string, values: Array<string | null>, nullLabel: string): void {
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
    const [data, logs] = await Promise.all([
      loadDashboard(
        state.secret,
        { filter: query.filter, bucket: query.bucket, timeZone: query.timeZone, admin: state.session.admin },
        controller.signal,
      ),
      loadLogs(state.secret, query.filter, LOG_PAGE, null, controller.signal),
    ]);
    if (controller.signal.aborted) return;
    state.query = query;
    hideAlert();
    el.content.hidden = false;
    render(data, query);
    renderLogs(
      logs.edges.map((e) => e.node),
      false,
    );
    state.logsCursor = logs.pageInfo.hasNextPage ? logs.pageInfo.endCursor : null;
    el.moreLogs.hidden = !state.logsCursor;
    const s = data.stats.summary;
    setStatus(
      `${formatInt(s.requests)} ${s.requests === 1 ? 'call' : 'calls'}, ${formatUsd(s.cost)}, from ` +
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

  const total = (id: string, label: string, value: number, text: string, sub?: string) =>
    h(
      'div',
      { class: 'total' },
      h('dt', {}, label),
      h('dd', { id: `total-${id}`, 'data-value': String(value) }, text),
      sub ? h('dd', { class: 'sub' }, sub) : null,
    );
  el.totals.replaceChildren(
    total('cost', 'Cost', s.cost, formatUsd(s.cost)),
    total('requests', 'Requests', s.requests, formatInt(s.requests)),
    total(
      'input-tokens',
      'Input tokens',
      s.inputTokens,
      formatInt(s.inputTokens),
      `${formatInt(s.cachedInputTokens)} cached`,
    ),
    total('output-tokens', 'Output tokens', s.outputTokens, formatInt(s.outputTokens)),
    total('models', 'Models', s.uniqueModels, formatInt(s.uniqueModels)),
    total('aliases', 'Alias names', s.uniqueAliases, formatInt(s.uniqueAliases)),
    total('origins', 'Origins', s.uniqueOrigins, formatInt(s.uniqueOrigins)),
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
  if (empty) return;

  renderTimeChart(data, query);
  renderBreakdowns(data);
}

function renderTimeChart({ stats }: DashboardData, query: Query): void {
  const startMs = Date.parse(query.filter.startDate);
  const endMs = Date.parse(query.filter.endDate);
  const buckets = new Map<number, { cost: number; requests: number }>();
  for (const t of bucketStarts(startMs, endMs, query.bucket, query.timeZone))
    buckets.set(t, { cost: 0, requests: 0 });
  for (const p of stats.byPeriod)
    buckets.set(Date.parse(p.periodStart), { cost: p.cost, requests: p.requests });
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
      render: (r) => formatInt(r.inputTokens),
      value: (r) => r.inputTokens,
    },
    {
      key: 'output',
      label: 'Output tokens',
      numeric: true,
      render: (r) => formatInt(r.outputTokens),
      value: (r) => r.outputTokens,
    },
    { key: 'cost', label: 'Cost', numeric: true, render: (r) => formatUsd(r.cost), value: (r) => r.cost },
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

interface Breakdown {
  key: string;
  name: string | Node;
  sortName: string;
  /** Only in the model table: models are grouped by provider and model. */
  provider?: string;
  requests: number;
  tokens: number;
  cost: number;
}

interface Totals {
  cost: number;
  requests: number;
  tokens: number;
}

function breakdownTable(
  id: string,
  caption: string,
  nameLabel: string,
  rows: Breakdown[],
  totals: Totals,
): void {
  const provider: Column<Breakdown> = {
    key: 'provider',
    label: 'Provider',
    render: (r) => r.provider ?? '',
    value: (r) => r.provider ?? '',
  };
  const withProvider = rows.some((r) => r.provider !== undefined);
  const columns: Column<Breakdown>[] = [
    { key: 'name', label: nameLabel, render: (r) => r.name, value: (r) => r.sortName },
    ...(withProvider ? [provider] : []),
    {
      key: 'requests',
      label: 'Requests',
      numeric: true,
      render: (r) => formatInt(r.requests),
      value: (r) => r.requests,
    },
    {
      key: 'tokens',
      label: 'Tokens',
      numeric: true,
      render: (r) => formatInt(r.tokens),
      value: (r) => r.tokens,
    },
    { key: 'cost', label: 'Cost', numeric: true, render: (r) => formatUsd(r.cost), value: (r) => r.cost },
    {
      key: 'share',
      label: 'Share',
      numeric: true,
      render: (r) => formatShare(r.cost, totals.cost),
      value: (r) => r.cost,
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
      formatInt(totals.tokens),
      formatUsd(totals.cost),
      formatShare(totals.cost, totals.cost),
    ],
  });
}

const muted = (text: string) => h('span', { class: 'muted' }, text);

function renderBreakdowns({ stats }: DashboardData): void {
  const s = stats.summary;
  const totals: Totals = { cost: s.cost, requests: s.requests, tokens: s.inputTokens + s.outputTokens };
  const alias = stats.byAlias.map<Breakdown>((r) => ({
    key: JSON.stringify(r.aliasName),
    name: r.aliasName === null ? muted(NO_ALIAS) : r.aliasName,
    sortName: r.aliasName ?? '',
    requests: r.requests,
    tokens: r.inputTokens + r.outputTokens,
    cost: r.cost,
  }));
  const model = stats.byModel.map<Breakdown>((r) => ({
    key: JSON.stringify([r.provider, r.model]),
    name: r.model,
    sortName: r.model,
    provider: r.provider,
    requests: r.requests,
    tokens: r.inputTokens + r.outputTokens,
    cost: r.cost,
  }));
  const origin = stats.byOrigin.map<Breakdown>((r) => ({
    key: JSON.stringify(r.origin),
    name: r.origin === null ? muted(NO_ORIGIN) : r.origin,
    sortName: r.origin ?? '',
    requests: r.requests,
    tokens: r.inputTokens + r.outputTokens,
    cost: r.cost,
  }));
  renderBars(
    byId('alias-bars'),
    stats.byAlias.map((r) => ({ label: r.aliasName ?? NO_ALIAS, value: r.cost })),
  );
  renderBars(
    byId('model-bars'),
    stats.byModel.map((r) => ({ label: `${r.model} (${r.provider})`, value: r.cost })),
  );
  renderBars(
    byId('origin-bars'),
    stats.byOrigin.map((r) => ({ label: r.origin ?? NO_ORIGIN, value: r.cost })),
  );
  breakdownTable('alias', 'Cost by alias name', 'Alias name', alias, totals);
  breakdownTable('model', 'Cost by model', 'Model', model, totals);
  breakdownTable('origin', 'Cost by origin', 'Origin', origin, totals);
}

function renderProjects(projects: NonNullable<DashboardData['projects']>): void {
  type P = (typeof projects)[number];
  const total = projects.reduce((sum, p) => sum + p.usage.cost, 0);
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
      render: (p) => formatUsd(p.usage.cost),
      value: (p) => p.usage.cost,
    },
    {
      key: 'share',
      label: 'Share',
      numeric: true,
      render: (p) => formatShare(p.usage.cost, total),
      value: (p) => p.usage.cost,
    },
  ];
  renderTable(byId('project-table-host'), {
    id: 'project-table',
    caption: 'Cost per project',
    columns,
    rows: projects,
    rowKey: (p) => p.key,
    defaultSort: { key: 'cost', descending: true },
  });
}

function verifyCell(log: LogRow): Node {
  if (!log.receipt) return muted('no receipt');
  const receipt = log.receipt;
  const output = h('output', { class: 'verify-result' });
  const button = h(
    'button',
    { type: 'button', class: 'button-secondary small', 'aria-label': `Verify receipt ${receipt.receiptId}` },
    'Verify',
  );
  button.addEventListener('click', async () => {
    button.disabled = true;
    output.className = 'verify-result';
    output.textContent = 'Checking…';
    try {
      const result = await verifyReceipt(receipt.document);
      output.className = `verify-result ${result.valid ? 'ok' : 'bad'}`;
      output.replaceChildren(
        result.valid ? '✓ Valid signature' : '✗ Invalid signature',
        h(
          'span',
          { class: 'detail' },
          result.valid ? `key ${result.keyId ?? '?'}` : (result.reason ?? 'no reason given'),
        ),
      );
    } catch (err) {
      output.className = 'verify-result bad';
      output.textContent = `Could not check: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'verify' }, button, output);
}

function renderLogs(logs: LogRow[], append: boolean): void {
  const query = state.query!;
  const admin = state.session?.admin ?? false;
  let body = el.logsHost.querySelector('tbody');
  if (!append || !body) {
    body = h('tbody');
    const headers = [
      'Time',
      admin ? 'Project' : null,
      'Alias name',
      'Model',
      'Origin',
      'Tokens in / out',
      'Cost',
      'Receipt',
      'Signature',
    ];
    const table = h(
      'table',
      { id: 'logs-table', class: 'data logs' },
      h('caption', { class: 'visually-hidden' }, `Latest calls, newest first, times in ${query.timeZone}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...headers
            .filter((x): x is string => x !== null)
            .map((x) =>
              h('th', { scope: 'col', class: x === 'Cost' || x.startsWith('Tokens') ? 'num' : null }, x),
            ),
        ),
      ),
      body,
    );
    el.logsHost.replaceChildren(
      h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Latest calls' }, table),
    );
  }
  for (const log of logs) {
    body.append(
      h(
        'tr',
        { 'data-key': log.id },
        h(
          'td',
          { class: 'nowrap' },
          h('time', { datetime: log.occurredAt }, formatDateTime(log.occurredAt, query.timeZone)),
        ),
        admin ? h('td', {}, h('code', {}, log.project.key)) : null,
        h('td', {}, log.aliasName ?? muted(NO_ALIAS)),
        h('td', {}, log.model, ' ', muted(log.provider)),
        h('td', {}, log.origin ?? muted('–')),
        h('td', { class: 'num nowrap' }, `${formatInt(log.inputTokens)} / ${formatInt(log.outputTokens)}`),
        h(
          'td',
          {
            class: 'num',
            'data-value': String(log.cost),
            title: `cost source: ${log.costSource.toLowerCase()}`,
          },
          formatUsd(log.cost),
        ),
        h(
          'td',
          {},
          log.receipt
            ? h('code', { class: 'receipt-id', title: log.receipt.receiptId }, log.receipt.receiptId)
            : muted('–'),
        ),
        h('td', { class: 'signature' }, verifyCell(log)),
      ),
    );
  }
}

async function loadMoreLogs(): Promise<void> {
  if (!state.secret || !state.query || !state.logsCursor) return;
  el.moreLogs.disabled = true;
  setStatus('Loading more calls…');
  try {
    const page = await loadLogs(state.secret, state.query.filter, LOG_PAGE, state.logsCursor);
    renderLogs(
      page.edges.map((e) => e.node),
      true,
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
