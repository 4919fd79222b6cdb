/**
 * The dashboard in a real browser: Debian's Chromium, driven by playwright-core, against the real
 * server on a fresh database. Usage is logged through the API; every number the page shows is
 * compared with what usageStats answers for the same filter. Run with `npm run test:browser`.
 */
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import { formatInt, formatUsd } from '../../dashboard/format';
import { ADMIN_TOKEN, asAdmin, startTestServer, withKey, type TestServer } from '../helpers/server';

const CHROMIUM = '/usr/bin/chromium';
const TIME_ZONE = 'Europe/Berlin';
const LOCALE = 'en-US';
const repoRoot = path.resolve(__dirname, '..', '..');
const screenshot = path.join(repoRoot, 'test-output', 'dashboard.png');
const shot = (name: string) =>
  page.screenshot({ path: path.join(repoRoot, 'test-output', `dashboard-${name}.png`) });
const docsScreenshot = path.join(repoRoot, 'docs', 'dashboard.png');

let s: TestServer;
let origin: string;
let browser: Browser;
let page: Page;
let clientB: { id: string; secret: string };
const problems: string[] = [];
const foreignRequests: string[] = [];

// Code that runs in the page is passed to page.evaluate as a string: this file has no DOM types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loosely typed GraphQL JSON
type Json = Record<string, any>;

async function gql(query: string, variables: Json, headers: Record<string, string>): Promise<Json> {
  const res = await s.gql(query, variables, headers);
  if (res.body.errors) throw new Error(`GraphQL error: ${JSON.stringify(res.body.errors)}`);
  return res.body.data!;
}

const STATS = `query($filter: UsageFilter, $tz: String) {
  usageStats(filter: $filter, groupBy: DAY, timeZone: $tz) {
    summary { requests inputTokens outputTokens cachedInputTokens cost uniqueModels uniqueAliases uniqueOrigins }
    byPeriod { periodStart requests inputTokens outputTokens cost }
    byAlias { aliasName requests inputTokens outputTokens cost }
    byModel { provider model requests inputTokens outputTokens cost }
    byOrigin { origin requests inputTokens outputTokens cost }
  }
}`;

/** Deterministic, varied usage over the last two weeks, logged through the API as a client would. */
function sampleUsage(count: number, seed: number, now: number): Json[] {
  let x = seed;
  const rand = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)];
  const models = [
    { provider: 'openai', model: 'gpt-4o', input: 2.5, output: 10 },
    { provider: 'openai', model: 'gpt-4o-mini', input: 0.15, output: 0.6 },
    { provider: 'anthropic', model: 'claude-sonnet-4', input: 3, output: 15 },
    { provider: 'google', model: 'gemini-2.5-flash', input: 0.3, output: 2.5 },
  ];
  return Array.from({ length: count }, (_, i) => {
    const m = pick(models);
    const inputTokens = 200 + Math.floor(rand() * 6000);
    const outputTokens = 50 + Math.floor(rand() * 1500);
    const daysAgo = Math.floor(rand() * rand() * 14);
    return {
      provider: m.provider,
      model: m.model,
      aliasName: pick(['summarizer', 'summarizer', 'classifier', 'extractor', null]),
      origin: pick(['web-app', 'web-app', 'batch-jobs', 'support-bot', null]),
      inputTokens,
      outputTokens,
      // Every fifth call is priced by the server's registry; the others carry the client's cost.
      cost:
        i % 5 === 0 ? undefined : Math.round((inputTokens * m.input + outputTokens * m.output) * 1000) / 1e9,
      latencyMs: 300 + Math.floor(rand() * 4000),
      occurredAt: new Date(
        now - daysAgo * 86_400_000 - Math.floor(rand() * 20 * 3_600_000) - 60_000,
      ).toISOString(),
    };
  });
}

async function logUsage(secret: string, inputs: Json[]): Promise<void> {
  await gql(
    'mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed } } }',
    { inputs },
    withKey(secret),
  );
}

/** Runs `action` and waits until the page has shown the dashboard data it caused to load. */
async function loaded(action: () => Promise<unknown>): Promise<Json> {
  const request = page.waitForRequest(
    (r: Request) => r.url().endsWith('/graphql') && /query Dashboard\b/.test(r.postData() ?? ''),
  );
  await action();
  const variables = JSON.parse((await request).postData()!).variables as Json;
  await (await request).response();
  await page.locator('#content[aria-busy="false"]').waitFor();
  await page
    .locator('#status')
    .filter({ hasText: /calls?,/ })
    .waitFor();
  return variables;
}

interface Row {
  key: string;
  cells: Record<string, { value: string | null; text: string }>;
}

async function tableRows(tableId: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const tr of await page.locator(`#${tableId} tbody tr`).all()) {
    const cells: Row['cells'] = {};
    for (const cell of await tr.locator('[data-column]').all()) {
      cells[(await cell.getAttribute('data-column'))!] = {
        value: await cell.getAttribute('data-value'),
        text: (await cell.innerText()).trim(),
      };
    }
    rows.push({ key: (await tr.getAttribute('data-key'))!, cells });
  }
  return rows;
}

const usd = (v: number) => formatUsd(v, LOCALE);
const int = (v: number) => formatInt(v, LOCALE);

/** The totals on the page are the summary: exact values in data-value, formatted as text. */
async function expectTotals(summary: Json): Promise<void> {
  const shown: Json = {};
  const expected: Json = {};
  for (const [id, field, format] of [
    ['cost', 'cost', usd],
    ['requests', 'requests', int],
    ['input-tokens', 'inputTokens', int],
    ['output-tokens', 'outputTokens', int],
    ['models', 'uniqueModels', int],
    ['aliases', 'uniqueAliases', int],
    ['origins', 'uniqueOrigins', int],
  ] as const) {
    const dd = page.locator(`#total-${id}`);
    shown[id] = { value: Number(await dd.getAttribute('data-value')), text: await dd.innerText() };
    expected[id] = { value: summary[field], text: format(summary[field]) };
  }
  expect(shown).toEqual(expected);
}

/** Each breakdown table holds exactly the API's rows, cell by cell. */
async function expectBreakdown(tableId: string, rows: Json[], key: (r: Json) => string): Promise<void> {
  const shown = (await tableRows(tableId)).map((r) => ({
    key: r.key,
    requests: Number(r.cells.requests.value),
    tokens: Number(r.cells.tokens.value),
    cost: Number(r.cells.cost.value),
    costText: r.cells.cost.text,
  }));
  const expected = rows.map((r) => ({
    key: key(r),
    requests: r.requests,
    tokens: r.inputTokens + r.outputTokens,
    cost: r.cost,
    costText: usd(r.cost),
  }));
  const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
  expect(shown.sort(byKey)).toEqual(expected.sort(byKey));
}

async function expectPageEqualsStats(filter: Json, headers: Record<string, string>): Promise<Json> {
  const { usageStats: stats } = await gql(STATS, { filter, tz: TIME_ZONE }, headers);
  await expectTotals(stats.summary);
  if (stats.summary.requests > 0) {
    await expectBreakdown('alias-table', stats.byAlias, (r) => JSON.stringify(r.aliasName));
    await expectBreakdown('model-table', stats.byModel, (r) => JSON.stringify([r.provider, r.model]));
    await expectBreakdown('origin-table', stats.byOrigin, (r) => JSON.stringify(r.origin));
    const periods = (await tableRows('period-table')).map((r) => ({
      periodStart: r.key,
      requests: Number(r.cells.requests.value),
      inputTokens: Number(r.cells.input.value),
      outputTokens: Number(r.cells.output.value),
      cost: Number(r.cells.cost.value),
    }));
    expect(periods).toEqual(stats.byPeriod);
  }
  return stats;
}

/** The range the page asked for is whole days in the browser's zone: midnight to midnight. */
function expectWholeDays(filter: Json, days: number): void {
  const wall = (iso: string) =>
    new Intl.DateTimeFormat('en-GB', { timeZone: TIME_ZONE, dateStyle: 'short', timeStyle: 'medium' }).format(
      new Date(iso),
    );
  expect(wall(filter.startDate)).toMatch(/, 00:00:00$/);
  expect(wall(filter.endDate)).toMatch(/, 00:00:00$/);
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE }).format(new Date());
  const endDay = new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE }).format(new Date(filter.endDate));
  const tomorrow = new Date(Date.parse(`${today}T12:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  expect(endDay).toBe(tomorrow);
  const spanDays = Math.round((Date.parse(filter.endDate) - Date.parse(filter.startDate)) / 86_400_000);
  expect(spanDays).toBe(days);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing: ${CHROMIUM} does not exist. The dashboard's browser test needs Debian's ` +
        'chromium package: apt-get update && apt-get install -y chromium',
    );
  }
  s = await startTestServer();
  origin = new URL(s.url).origin;

  const now = Date.now();
  await logUsage(s.firstKey, sampleUsage(90, 7, now));
  const { createProject } = await gql(
    'mutation { createProject(input: { key: "client-b", name: "Client B" }) { id } }',
    {},
    asAdmin,
  );
  const { createApiKey } = await gql(
    'mutation($p: UUID!) { createApiKey(projectId: $p, name: "dashboard test") { secret } }',
    { p: createProject.id },
    asAdmin,
  );
  clientB = { id: createProject.id, secret: createApiKey.secret };
  await logUsage(clientB.secret, sampleUsage(30, 99, now));
  await gql(
    'mutation { createProject(input: { key: "mobile-app", name: "Mobile app" }) { id } }',
    {},
    asAdmin,
  );

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({
    locale: LOCALE,
    timezoneId: TIME_ZONE,
    viewport: { width: 1360, height: 900 },
    deviceScaleFactor: 1,
  });
  page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // A 401 or a 500 that a test provokes on purpose is logged by the browser as a failed load.
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text()))
      problems.push(`console: ${msg.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(`${origin}/`)) foreignRequests.push(r.url());
  });
});

afterAll(async () => {
  await browser?.close();
  await s?.close();
});

afterEach(() => {
  // No script errors, no CSP violations, nothing fetched from anywhere but this server.
  expect(problems).toEqual([]);
  expect(foreignRequests).toEqual([]);
});

test('an unknown key is refused with a clear message and is not kept', async () => {
  await page.goto(`${origin}/dashboard`);
  expect(await page.evaluate('document.activeElement.id')).toBe('secret'); // ready to paste into
  await page.getByLabel('API key or admin token').fill('not-a-real-key');
  await page.getByRole('button', { name: 'Connect' }).click();
  const error = page.locator('#sign-in-error');
  await error.filter({ hasText: 'not accepted' }).waitFor();
  expect(await error.getAttribute('role')).toBe('alert');
  expect(await page.locator('#secret').getAttribute('aria-invalid')).toBe('true');
  expect(await page.locator('#dashboard').isHidden()).toBe(true);
  expect(await page.evaluate('JSON.stringify(sessionStorage)')).toBe('{}');
  await shot('invalid-key');
});

test('with a project key, the totals, charts’ tables and breakdowns equal usageStats', async () => {
  const variables = await loaded(async () => {
    await page.getByLabel('API key or admin token').fill(s.firstKey);
    await page.keyboard.press('Enter');
  });
  expect(await page.locator('#identity').innerText()).toContain('Default (default)');
  expect(await page.locator('#project-field').isHidden()).toBe(true);
  expect(await page.locator('#tz').inputValue()).toBe(TIME_ZONE);
  expect(variables.timeZone).toBe(TIME_ZONE);
  expect(variables.groupBy).toBe('DAY');
  expectWholeDays(variables.filter, 30);
  expect(variables.filter.projectId).toBeUndefined();

  const stats = await expectPageEqualsStats(variables.filter, withKey(s.firstKey));
  expect(stats.summary.requests).toBe(90);
  // The chart is drawn, and described for screen readers.
  expect(await page.locator('#time-chart canvas').count()).toBeGreaterThan(0);
  expect(await page.locator('#time-chart').getAttribute('aria-label')).toContain(`per day in ${TIME_ZONE}`);
  // The key lives in this tab's sessionStorage and nowhere else.
  expect(await page.evaluate('Object.values(sessionStorage)')).toEqual([s.firstKey]);
  expect(await page.evaluate('localStorage.length')).toBe(0);
  expect(await page.evaluate('document.cookie')).toBe('');
});

test('the latest calls are the newest usageLogs, and Verify checks a receipt with verifyReceipt', async () => {
  const { usageLogs } = await gql(
    'query($f: UsageFilter) { usageLogs(filter: $f, first: 20) { edges { node { id cost receipt { receiptId } } } } }',
    { f: (await loaded(() => page.getByRole('button', { name: 'Update' }).click())).filter },
    withKey(s.firstKey),
  );
  const ids = await page
    .locator('#logs-table tbody tr')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')));
  expect(ids).toEqual(usageLogs.edges.map((e: Json) => e.node.id));

  const first = usageLogs.edges[0].node;
  const verify = page.getByRole('button', { name: `Verify receipt ${first.receipt.receiptId}` });
  const call = page.waitForRequest((r) => /verifyReceipt/.test(r.postData() ?? ''));
  await verify.focus();
  await page.keyboard.press('Enter');
  expect(JSON.parse((await call).postData()!).variables.document.receipt_id).toBe(first.receipt.receiptId);
  const result = page.locator(`#logs-table tr[data-key="${first.id}"] output`);
  await result.filter({ hasText: 'Valid signature' }).waitFor();
  expect(await result.innerText()).toMatch(/^✓ Valid signature\s+key \S+$/);

  // More pages of logs load on demand.
  await page.getByRole('button', { name: 'Show more' }).click();
  await page.locator('#logs-table tbody tr').nth(20).waitFor();
  expect(await page.locator('#logs-table tbody tr').count()).toBe(40);
});

test('tables sort from the keyboard and say how they are sorted', async () => {
  const header = page.locator('#alias-table thead th').filter({ hasText: 'Requests' });
  expect(await header.getAttribute('aria-sort')).toBeNull();
  await header.getByRole('button').focus();
  await page.keyboard.press('Enter');
  expect(
    await page.locator('#alias-table thead th').filter({ hasText: 'Requests' }).getAttribute('aria-sort'),
  ).toBe('descending');
  const requests = async () => (await tableRows('alias-table')).map((r) => Number(r.cells.requests.value));
  const descending = await requests();
  expect(descending).toEqual([...descending].sort((a, b) => b - a));
  // Focus stays on the header button, so Space sorts the other way at once.
  await page.keyboard.press('Space');
  expect(
    await page.locator('#alias-table thead th').filter({ hasText: 'Requests' }).getAttribute('aria-sort'),
  ).toBe('ascending');
  expect(await requests()).toEqual([...descending].reverse());
});

test('filters by alias name, model and origin narrow the numbers exactly as usageStats does', async () => {
  const openFacet = (id: string) => page.locator(`#facet-${id} summary`).click();
  let variables = await loaded(async () => {
    await openFacet('alias');
    await page.locator('#facet-alias').getByLabel('summarizer').check();
  });
  expect(variables.filter.aliasNames).toEqual(['summarizer']);
  await expectPageEqualsStats(variables.filter, withKey(s.firstKey));

  variables = await loaded(async () => {
    await page.keyboard.press('Escape');
    await openFacet('model');
    await page.locator('#facet-model').getByLabel('gpt-4o', { exact: true }).check();
  });
  // From the keyboard: open the dropdown, move to a value, check it; the focus stays on it.
  variables = await loaded(async () => {
    await page.keyboard.press('Escape');
    await page.locator('#facet-origin summary').focus();
    await page.keyboard.press('Enter');
    await page.locator('#facet-origin').getByLabel('web-app').focus();
    await page.keyboard.press('Space');
  });
  expect(
    await page.evaluate('document.activeElement.closest("#facet-origin") && document.activeElement.value'),
  ).toBe('web-app');
  expect(variables.filter).toMatchObject({
    aliasNames: ['summarizer'],
    models: ['gpt-4o'],
    origins: ['web-app'],
  });
  const stats = await expectPageEqualsStats(variables.filter, withKey(s.firstKey));
  expect(stats.summary.requests).toBeGreaterThan(0);

  // Calls without an alias are a value of their own (aliasNames: [null]).
  for (const id of ['alias', 'model', 'origin']) {
    await loaded(async () => {
      await openFacet(id);
      await page.locator(`#facet-${id}`).getByRole('button', { name: 'Clear' }).click();
    });
  }
  variables = await loaded(async () => {
    await openFacet('alias');
    await page.locator('#facet-alias').getByLabel('(no alias)').check();
  });
  expect(variables.filter.aliasNames).toEqual([null]);
  await expectPageEqualsStats(variables.filter, withKey(s.firstKey));
  await loaded(async () => {
    await page.locator('#facet-alias').getByLabel('(no alias)').uncheck();
    await page.keyboard.press('Escape');
  });
});

test('a period without usage says so', async () => {
  // Each date applies on change; the second one's request is the one that counts.
  await page.getByLabel('From').fill('2021-03-01');
  const variables = await loaded(() => page.getByLabel('To (inclusive)').fill('2021-03-07'));
  expect(variables.filter).toEqual({
    startDate: '2021-02-28T23:00:00.000Z',
    endDate: '2021-03-07T23:00:00.000Z',
  });
  await expectPageEqualsStats(variables.filter, withKey(s.firstKey));
  expect(await page.locator('#empty').innerText()).toContain('No usage in this period');
  expect(await page.locator('#over-time').isHidden()).toBe(true);
  expect(await page.locator('#total-requests').innerText()).toBe('0');
  await shot('empty');
  await loaded(() => page.getByRole('button', { name: '30 days' }).click());
  expect(await page.locator('#empty').isHidden()).toBe(true);
});

test('a server error is shown as such, with a way to try again', async () => {
  await page.route('**/graphql', (route) =>
    route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>Bad gateway</h1>' }),
  );
  await page.getByRole('button', { name: 'Update' }).click();
  const alert = page.locator('#alert');
  await alert.filter({ hasText: 'HTTP 502' }).waitFor();
  expect(await alert.getAttribute('role')).toBe('alert');
  expect(await page.locator('#content').isHidden()).toBe(true);
  await shot('server-error');
  await page.unroute('**/graphql');
  await loaded(() => alert.getByRole('button', { name: 'Try again' }).click());
  expect(await alert.isHidden()).toBe(true);
  expect(await page.locator('#content').isVisible()).toBe(true);
});

test('with the admin token: every project, a cost table per project, and a project switcher', async () => {
  await page.getByRole('button', { name: 'Forget key' }).click();
  expect(await page.evaluate('sessionStorage.length')).toBe(0);
  let variables = await loaded(async () => {
    await page.getByLabel('API key or admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Connect' }).click();
  });
  expect(await page.locator('#identity').innerText()).toMatch(/admin/i);
  expect(variables.admin).toBe(true);
  const stats = await expectPageEqualsStats(variables.filter, asAdmin);
  expect(stats.summary.requests).toBe(120);

  const { projects } = await gql(
    'query($s: DateTime, $e: DateTime) { projects { key name usage(startDate: $s, endDate: $e) { cost requests } } }',
    { s: variables.filter.startDate, e: variables.filter.endDate },
    asAdmin,
  );
  const shown = (await tableRows('project-table')).map((r) => ({
    key: r.key,
    name: r.cells.name.text,
    requests: Number(r.cells.requests.value),
    cost: Number(r.cells.cost.value),
    costText: r.cells.cost.text,
  }));
  expect(shown.sort((a, b) => a.key.localeCompare(b.key))).toEqual(
    projects
      .map((p: Json) => ({
        key: p.key,
        name: p.name,
        requests: p.usage.requests,
        cost: p.usage.cost,
        costText: usd(p.usage.cost),
      }))
      .sort((a: Json, b: Json) => a.key.localeCompare(b.key)),
  );

  variables = await loaded(() =>
    page.getByLabel('Project', { exact: true }).selectOption({ label: 'Client B (client-b)' }),
  );
  expect(variables.filter.projectId).toBe(clientB.id);
  expect((await expectPageEqualsStats(variables.filter, asAdmin)).summary.requests).toBe(30);
  expect(await page.locator('#logs-table tbody tr td code').first().innerText()).toBe('client-b');

  variables = await loaded(() =>
    page.getByLabel('Project', { exact: true }).selectOption({ label: 'All projects' }),
  );
  expect(variables.filter.projectId).toBeUndefined();
});

test('a reload keeps the key for this tab; the screenshot', async () => {
  // Reloading starts afresh (default sort orders) and connects with the key kept in sessionStorage.
  await loaded(() => page.reload());
  expect(await page.locator('#identity').innerText()).toMatch(/admin/i);
  await page
    .getByRole('button', { name: /^Verify receipt/ })
    .first()
    .click();
  await page.locator('#logs-table output').filter({ hasText: 'Valid' }).first().waitFor();
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  // docs/dashboard.png is the README's picture: written when missing or when asked for, so
  // that a test run does not change a committed file.
  if (!existsSync(docsScreenshot) || process.env.UPDATE_DOCS_SCREENSHOT === '1') {
    mkdirSync(path.dirname(docsScreenshot), { recursive: true });
    copyFileSync(screenshot, docsScreenshot);
  }
  expect(existsSync(screenshot)).toBe(true);
});
