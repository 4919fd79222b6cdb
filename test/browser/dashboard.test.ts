/**
 * The dashboard in a real browser: Debian's Chromium, driven by playwright-core, against the real
 * server on a fresh database. Usage is logged through the API; every number the page shows is
 * compared with what usageStats answers for the same filter. Run with `npm run test:browser`.
 */
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page, type Request } from 'playwright-core';
import {
  addDecimals,
  COST_SOURCE_LABELS,
  formatAsOf,
  formatInt,
  formatUsdDecimal,
  formatUsdExact,
  TOKEN_TYPE_LABELS,
} from '../../dashboard/format';
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

/** The metadata keys the server promotes (LLMRING_METADATA_DIMENSIONS), as the page numbers them. */
const METADATA_KEYS = ['feature', 'customer'];
/** A logged value that would run script if the page wrote it as HTML. */
const HOSTILE = '<img src=x onerror="window.__injected=1">';

const TOKEN_PARTS = ['cachedInputTokens', 'cacheWriteTokens', 'cacheWrite1hTokens', 'reasoningTokens'];
const USAGE = `requests inputTokens outputTokens ${TOKEN_PARTS.join(' ')} costDecimal`;
// Both keys in one field: the raw logs, the reference the page's rollup-read answers must equal.
const STATS = `query($filter: UsageFilter, $tz: String) {
  usageStats(filter: $filter, groupBy: DAY, timeZone: $tz) {
    summary { ${USAGE} uniqueModels uniqueAliases uniqueOrigins }
    byPeriod { periodStart ${USAGE} }
    byAlias { aliasName ${USAGE} }
    byModel { provider model ${USAGE} }
    byOrigin { origin ${USAGE} }
    feature: breakdown(by: [], metadataKeys: ["feature"]) { metadata { value } ${USAGE} }
    customer: breakdown(by: [], metadataKeys: ["customer"]) { metadata { value } ${USAGE} }
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
  // The token parts and metadata from a generator of their own, so that the rest stays as it was.
  let y = seed + 1;
  const rand2 = () => (y = (y * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick2 = <T>(items: T[]): T => items[Math.floor(rand2() * items.length)];
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
      cachedInputTokens: rand2() < 0.5 ? Math.floor(inputTokens * 0.3) : 0,
      cacheWriteTokens: rand2() < 0.3 ? Math.floor(inputTokens * 0.1) : 0,
      cacheWrite1hTokens: rand2() < 0.2 ? Math.floor(inputTokens * 0.05) : 0,
      reasoningTokens: rand2() < 0.4 ? Math.floor(outputTokens * 0.4) : 0,
      metadata: {
        feature: pick2(['chat', 'search', 'summary', undefined]),
        customer: pick2(['acme', 'globex', HOSTILE, undefined]),
        note: 'not a promoted key',
      },
    };
  });
}

async function logUsageTo(server: TestServer, secret: string, inputs: Json[]): Promise<void> {
  const res = await server.gql(
    'mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed } } }',
    { inputs },
    withKey(secret),
  );
  if (res.body.errors) throw new Error(`GraphQL error: ${JSON.stringify(res.body.errors)}`);
}

const logUsage = (secret: string, inputs: Json[]) => logUsageTo(s, secret, inputs);

/** Closes any open dropdown, opens a filter's from the keyboard, and checks a value with Space. */
async function checkFromKeyboard(facet: string, label: string): Promise<void> {
  await page.keyboard.press('Escape');
  await page.locator(`#facet-${facet} summary`).focus();
  await page.keyboard.press('Enter');
  await page.locator(`#facet-${facet}`).getByLabel(label).focus();
  await page.keyboard.press('Space');
}

/** Puts a price in the operator's price book (admin), as the price command would. */
async function setPrice(input: Json): Promise<{ version: number }> {
  const data = await gql(
    'mutation($i: SetModelPriceInput!) { setModelPrice(input: $i) { version } }',
    { i: input },
    asAdmin,
  );
  return data.setModelPrice;
}

/** The data of the last Dashboard answer that loaded() saw. */
let lastAnswer: Json = {};

/** Runs `action` and waits until the page has shown the dashboard data it caused to load. */
async function loaded(action: () => Promise<unknown>): Promise<Json> {
  const request = page.waitForRequest(
    (r: Request) => r.url().endsWith('/graphql') && /query Dashboard\b/.test(r.postData() ?? ''),
  );
  await action();
  const variables = JSON.parse((await request).postData()!).variables as Json;
  const response = await (await request).response();
  lastAnswer = response?.ok() ? (((await response.json()) as Json).data ?? {}) : {};
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
  /** The token parts shown in the row (those that are not zero), by API field name. */
  parts: Record<string, number>;
}

/** A table's rows as the page shows them, read in one round trip. */
async function tableRows(tableId: string): Promise<Row[]> {
  return page.locator(`#${tableId} > tbody > tr[data-key]`).evaluateAll((trs) =>
    trs.map((tr) => {
      const cells: Record<string, { value: string | null; text: string }> = {};
      for (const cell of tr.querySelectorAll('[data-column]')) {
        cells[cell.getAttribute('data-column')!] = {
          value: cell.getAttribute('data-value'),
          text: (cell as unknown as { innerText: string }).innerText.trim(),
        };
      }
      const parts: Record<string, number> = {};
      for (const part of tr.querySelectorAll('.tokens [data-part]')) {
        parts[part.getAttribute('data-part')!] = Number(part.getAttribute('data-value'));
      }
      return { key: tr.getAttribute('data-key')!, cells, parts };
    }),
  );
}

const usd = (v: string) => formatUsdDecimal(v, LOCALE);
const int = (v: number) => formatInt(v, LOCALE);

/** The token parts of an API row that are not zero: what a row shows under its tokens. */
const partsOf = (r: Json): Record<string, number> =>
  Object.fromEntries(TOKEN_PARTS.filter((k) => r[k] > 0).map((k) => [k, r[k]]));

/** The totals on the page are the summary: exact values in data-value, formatted as text. */
async function expectTotals(summary: Json): Promise<void> {
  const shown: Json = {};
  const expected: Json = {};
  const words: Json = {
    cachedInputTokens: 'cached',
    cacheWriteTokens: 'cache write 5m',
    cacheWrite1hTokens: 'cache write 1h',
    reasoningTokens: 'reasoning',
  };
  for (const [id, field, format] of [
    ['cost', 'costDecimal', usd],
    ['requests', 'requests', int],
    ['input-tokens', 'inputTokens', int],
    ['cached-input-tokens', 'cachedInputTokens', (v: number) => `${int(v)} ${words.cachedInputTokens}`],
    ['cache-write-tokens', 'cacheWriteTokens', (v: number) => `${int(v)} ${words.cacheWriteTokens}`],
    ['cache-write-1h-tokens', 'cacheWrite1hTokens', (v: number) => `${int(v)} ${words.cacheWrite1hTokens}`],
    ['output-tokens', 'outputTokens', int],
    ['reasoning-tokens', 'reasoningTokens', (v: number) => `${int(v)} ${words.reasoningTokens}`],
    ['models', 'uniqueModels', int],
    ['aliases', 'uniqueAliases', int],
    ['origins', 'uniqueOrigins', int],
  ] as const) {
    const dd = page.locator(`#total-${id}`);
    shown[id] = { value: await dd.getAttribute('data-value'), text: await dd.innerText() };
    expected[id] = {
      value: String(summary[field]),
      text: (format as (v: never) => string)(summary[field] as never),
    };
  }
  expect(shown).toEqual(expected);
}

/** Each breakdown table holds exactly the API's rows, cell by cell. */
async function expectBreakdown(tableId: string, rows: Json[], key: (r: Json) => string): Promise<void> {
  const shown = (await tableRows(tableId)).map((r) => ({
    key: r.key,
    requests: Number(r.cells.requests.value),
    inputTokens: Number(r.cells.input.value),
    outputTokens: Number(r.cells.output.value),
    parts: r.parts,
    cost: r.cells.cost.value,
    costText: r.cells.cost.text,
  }));
  const expected = rows.map((r) => ({
    key: key(r),
    requests: r.requests,
    inputTokens: r.inputTokens,
    outputTokens: r.outputTokens,
    parts: partsOf(r),
    cost: r.costDecimal,
    costText: usd(r.costDecimal),
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
    for (const [i, key] of METADATA_KEYS.entries()) {
      await expectBreakdown(`meta-${i}-table`, stats[key], (r) => JSON.stringify(r.metadata[0].value));
    }
    const periods = (await tableRows('period-table')).map((r) => ({
      periodStart: r.key,
      requests: Number(r.cells.requests.value),
      inputTokens: Number(r.cells.input.value),
      outputTokens: Number(r.cells.output.value),
      parts: r.parts,
      costDecimal: r.cells.cost.value,
    }));
    expect(periods).toEqual(
      stats.byPeriod.map((p: Json) => ({
        periodStart: p.periodStart,
        requests: p.requests,
        inputTokens: p.inputTokens,
        outputTokens: p.outputTokens,
        parts: partsOf(p),
        costDecimal: p.costDecimal,
      })),
    );
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
  s = await startTestServer({
    LLMRING_METADATA_DIMENSIONS: METADATA_KEYS.join(','),
    LLMRING_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
  });
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
  expect(await page.locator('#prices-section').isHidden()).toBe(true); // the admin's only
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

const LOG_FIELDS = `id costDecimal originalCost costSource ${TOKEN_PARTS.join(' ')} receipt { receiptId }
  pricing { source version longContext lines { type tokens perMillion amount } }
  adjustments { adjustmentId previousCost newCost difference costSource priceBookVersion }`;

/** The rows of the latest calls, as the page shows them. */
async function logRows(): Promise<Json[]> {
  return (await tableRows('logs-table')).map((r) => ({
    id: r.key,
    costDecimal: r.cells.cost.value,
    costText: r.cells.cost.text.split('\n')[0],
    originalCost: r.parts.originalCost === undefined ? null : r.cells.cost.text.split('\n')[1],
    costSource: r.cells.source.value,
    sourceText: r.cells.source.text,
    parts: Object.fromEntries(Object.entries(r.parts).filter(([k]) => k !== 'originalCost')),
  }));
}

const expectedLogRow = (n: Json): Json => ({
  id: n.id,
  costDecimal: n.costDecimal,
  costText: usd(n.costDecimal),
  originalCost: n.originalCost === null ? null : `re-priced, was ${usd(n.originalCost)}`,
  costSource: n.costSource,
  sourceText: COST_SOURCE_LABELS[n.costSource],
  parts: partsOf(n),
});

/** Opens a call's detail view from the keyboard and returns it. */
async function openDetail(id: string) {
  const toggle = page.locator(`#logs-table tr[data-key="${id}"] button.details`);
  expect(await toggle.getAttribute('aria-expanded')).toBe('false');
  await toggle.focus();
  await page.keyboard.press('Enter');
  expect(await toggle.getAttribute('aria-expanded')).toBe('true');
  const detail = page.locator(`#${await toggle.getAttribute('aria-controls')}`);
  await detail.waitFor();
  expect(await detail.getAttribute('data-detail-for')).toBe(id);
  return detail;
}

test('the latest calls are the newest usageLogs, with exact costs, token parts and where each cost came from', async () => {
  const { usageLogs } = await gql(
    `query($f: UsageFilter) { usageLogs(filter: $f, first: 20) { edges { node { ${LOG_FIELDS} } } } }`,
    { f: (await loaded(() => page.getByRole('button', { name: 'Update' }).click())).filter },
    withKey(s.firstKey),
  );
  const nodes: Json[] = usageLogs.edges.map((e: Json) => e.node);
  expect(await logRows()).toEqual(nodes.map(expectedLogRow));
  // The sample has client-priced and registry-priced calls, and calls with token parts.
  expect(new Set(nodes.map((n) => n.costSource))).toEqual(new Set(['CLIENT', 'REGISTRY']));
  expect(nodes.some((n) => Object.keys(partsOf(n)).length > 1)).toBe(true);
  // The first page came with the statistics, in the same request.
  expect(lastAnswer.logs.edges.map((e: Json) => e.node.id)).toEqual(nodes.map((n) => n.id));

  const first = nodes[0];
  const verify = page.getByRole('button', { name: `Verify receipt ${first.receipt.receiptId}` });
  const call = page.waitForRequest((r) => /verifyReceipt/.test(r.postData() ?? ''));
  await verify.focus();
  await page.keyboard.press('Enter');
  expect(JSON.parse((await call).postData()!).variables.document.receipt_id).toBe(first.receipt.receiptId);
  const result = page.locator(`#logs-table tr[data-key="${first.id}"] output`);
  await result.filter({ hasText: 'Valid signature' }).waitFor();
  expect(await result.innerText()).toMatch(/^✓ Valid signature\s+key \S+$/);
  // The receipt id says where the receipt is in the project's ledger (or that it is not yet).
  const id = page.locator(`#logs-table tr[data-key="${first.id}"] code.receipt-id`);
  expect(await id.getAttribute('title')).toMatch(
    new RegExp(
      `^${first.receipt.receiptId}: (entry \\d+ of the project's ledger|not in the project's ledger yet)$`,
    ),
  );

  // More pages of logs load on demand.
  await page.getByRole('button', { name: 'Show more' }).click();
  await page.locator('#logs-table > tbody > tr[data-key]').nth(20).waitFor();
  expect(await page.locator('#logs-table > tbody > tr[data-key]').count()).toBe(40);
});

test('a call’s details show its bill line by line, or why it has none', async () => {
  await logUsage(s.firstKey, [
    { provider: 'acme', model: 'no-such-model', inputTokens: 10, outputTokens: 5, aliasName: HOSTILE },
  ]);
  const filter = (await loaded(() => page.getByRole('button', { name: 'Update' }).click())).filter;
  const { usageLogs } = await gql(
    `query($f: UsageFilter) { usageLogs(filter: $f, first: 20) { edges { node { ${LOG_FIELDS} } } } }`,
    { f: filter },
    withKey(s.firstKey),
  );
  const nodes: Json[] = usageLogs.edges.map((e: Json) => e.node);
  const priced = nodes.find((n) => n.costSource === 'REGISTRY' && n.pricing.lines.length > 2)!;
  expect(priced).toBeDefined();
  const detail = await openDetail(priced.id);
  expect(await detail.locator('.bill-about').innerText()).toBe(
    `Priced from the model registry, ${priced.pricing.version}.`,
  );
  const lines = await detail.locator('table.bill-lines tbody tr').evaluateAll((rows) =>
    rows.map((r) => ({
      type: r.getAttribute('data-type'),
      cells: [...r.children].map((c) => [
        c.getAttribute('data-value'),
        (c as { innerText: string }).innerText,
      ]),
    })),
  );
  expect(lines).toEqual(
    priced.pricing.lines.map((l: Json) => ({
      type: l.type,
      cells: [
        [null, TOKEN_TYPE_LABELS[l.type]],
        [String(l.tokens), int(l.tokens)],
        [l.perMillion, formatUsdExact(l.perMillion, LOCALE)],
        [l.amount, formatUsdExact(l.amount, LOCALE)],
      ],
    })),
  );
  expect(await detail.locator('table.bill-lines tfoot td').getAttribute('data-value')).toBe(
    priced.costDecimal,
  );
  // Enter again closes it.
  await page.keyboard.press('Enter');
  expect(await detail.isHidden()).toBe(true);

  const client = nodes.find((n) => n.costSource === 'CLIENT')!;
  expect((await (await openDetail(client.id)).innerText()).trim()).toBe(
    'The client sent this cost: the server charged no prices of its own.',
  );
  const unpriced = nodes.find((n) => n.costSource === 'UNPRICED')!;
  expect((await (await openDetail(unpriced.id)).innerText()).trim()).toMatch(/^No price is known/);
});

test('a re-priced call shows its original cost and its signed adjustments; book-priced calls say so', async () => {
  // The operator's price book lowers gpt-4o-mini for the whole sample period, then re-prices.
  const project = (await gql('{ currentProject { id } }', {}, withKey(s.firstKey))).currentProject.id;
  const setModelPrice = await setPrice({
    provider: 'openai',
    model: 'gpt-4o-mini',
    inputPerMillion: '0.1',
    outputPerMillion: '0.4',
    effectiveFrom: new Date(Date.now() - 60 * 86_400_000).toISOString(),
  });
  const { repriceUsage } = await gql(
    'mutation($f: UsageFilter) { repriceUsage(filter: $f, dryRun: false) { changedLogs } }',
    { f: { projectId: project, startDate: new Date(Date.now() - 59 * 86_400_000).toISOString() } },
    asAdmin,
  );
  expect(repriceUsage.changedLogs).toBeGreaterThan(0);
  await logUsage(s.firstKey, [
    { provider: 'openai', model: 'gpt-4o-mini', inputTokens: 1000, outputTokens: 100 },
  ]);

  const filter = (await loaded(() => page.getByRole('button', { name: 'Update' }).click())).filter;
  const { usageLogs } = await gql(
    `query($f: UsageFilter) { usageLogs(filter: $f, first: 100, after: null) { edges { node { ${LOG_FIELDS} } } } }`,
    { f: filter },
    withKey(s.firstKey),
  );
  const nodes: Json[] = usageLogs.edges.map((e: Json) => e.node);
  // The new call is the newest: priced from the book.
  expect(nodes[0].costSource).toBe('PRICE_BOOK');
  const shown = await logRows();
  expect(shown[0]).toEqual(expectedLogRow(nodes[0]));
  expect(shown[0].sourceText).toBe('price book');
  expect(await (await openDetail(nodes[0].id)).locator('.bill-about').innerText()).toBe(
    `Priced from the price book, price-book@${setModelPrice.version}.`,
  );

  // Walk "Show more" until a re-priced call is on the page.
  const repriced = nodes.find((n) => n.adjustments.length > 0)!;
  expect(repriced).toBeDefined();
  while ((await page.locator(`#logs-table tr[data-key="${repriced.id}"]`).count()) === 0) {
    await page.getByRole('button', { name: 'Show more' }).click();
    await page.locator('#status').filter({ hasText: 'more calls shown' }).waitFor();
  }
  expect((await logRows()).find((r) => r.id === repriced.id)).toEqual(expectedLogRow(repriced));
  const detail = await openDetail(repriced.id);
  expect(await detail.locator('.adjustments > p').innerText()).toBe(
    `Re-priced once: first charged ${formatUsdExact(repriced.originalCost, LOCALE)}, now ` +
      `${formatUsdExact(repriced.costDecimal, LOCALE)}. The receipt keeps the first amount; each re-pricing is signed on its own.`,
  );
  const [adjustment] = repriced.adjustments;
  const row = detail.locator(`.adjustments-table tr[data-key="${adjustment.adjustmentId}"]`);
  expect(
    await row.locator('td[data-value]').evaluateAll((tds) => tds.map((td) => td.getAttribute('data-value'))),
  ).toEqual([adjustment.previousCost, adjustment.newCost, adjustment.difference]);
  expect(await row.locator('td').nth(2).innerText()).toBe(
    formatUsdExact(adjustment.difference, LOCALE, true),
  );
  await row.getByRole('button', { name: `Verify adjustment ${adjustment.adjustmentId}` }).click();
  await row.locator('output').filter({ hasText: 'Valid signature' }).waitFor();
});

test('statistics say how fresh they are, and when a read replica answered', async () => {
  await loaded(() => page.getByRole('button', { name: 'Update' }).click());
  const asOf = lastAnswer.stats.asOf as string;
  expect(lastAnswer.stats.fromReplica).toBe(false);
  const freshness = page.locator('#freshness');
  expect(await freshness.locator('time').getAttribute('datetime')).toBe(asOf);
  expect(await freshness.innerText()).toBe(
    `Statistics as of ${formatAsOf(asOf, TIME_ZONE, Date.now(), LOCALE)} (${TIME_ZONE}).`,
  );
  // This server has no replica (test/replica.test.ts has a real one): the answer is changed on its
  // way to the page, as a replica's would be, to see what the page makes of it.
  const replicaAsOf = new Date(Date.now() - 3_000).toISOString();
  await page.route('**/graphql', async (route) => {
    if (!/query Dashboard\b/.test(route.request().postData() ?? '')) return route.continue();
    const response = await route.fetch();
    const body = await response.json();
    body.data.stats = { ...body.data.stats, asOf: replicaAsOf, fromReplica: true };
    await route.fulfill({ response, json: body });
  });
  try {
    await loaded(() => page.getByRole('button', { name: 'Update' }).click());
    expect(await freshness.innerText()).toBe(
      `Statistics as of ${formatAsOf(replicaAsOf, TIME_ZONE, Date.now(), LOCALE)} (${TIME_ZONE}), ` +
        'from a read replica: calls logged since then are not counted yet.',
    );
  } finally {
    await page.unroute('**/graphql');
  }
});

test('a breakdown and a filter per promoted metadata key; logged values stay text', async () => {
  await loaded(() => page.getByRole('button', { name: 'Update' }).click());
  for (const [i, key] of METADATA_KEYS.entries()) {
    expect(await page.locator(`#meta-${i}-title`).innerText()).toBe(`Cost by “${key}” (metadata)`);
    expect(await page.locator(`#facet-meta-${i} .label`).innerText()).toBe(key);
  }
  // Keys that are not promoted (the sample's `note`) get nothing.
  expect(await page.locator('#breakdowns section[data-metadata-place]').count()).toBe(METADATA_KEYS.length);
  // A hostile value is shown as the text it is, in the table, the bars and the filter.
  expect(await page.locator('#meta-1-table').getByText(HOSTILE, { exact: true }).count()).toBe(1);
  expect(await page.locator('#meta-1-bars').getByText(HOSTILE, { exact: true }).count()).toBe(1);
  expect(await page.locator('#facet-meta-1').getByText(HOSTILE, { exact: true }).count()).toBe(1);
  expect(await page.evaluate('document.querySelectorAll("img").length')).toBe(0);
  expect(await page.evaluate('window.__injected')).toBeUndefined();

  let variables = await loaded(async () => {
    await page.locator('#facet-meta-0 summary').click();
    await page.locator('#facet-meta-0').getByLabel('chat', { exact: true }).check();
  });
  expect(variables.filter.metadata).toEqual([{ key: 'feature', values: ['chat'] }]);
  const stats = await expectPageEqualsStats(variables.filter, withKey(s.firstKey));
  expect(stats.summary.requests).toBeGreaterThan(0);
  // The filter still offers the other values, and calls without one.
  expect(await page.locator('#facet-meta-0 input[type=checkbox]').evaluateAll((cs) => cs.length)).toBe(4);

  variables = await loaded(() => checkFromKeyboard('meta-1', '(no value)'));
  expect(variables.filter.metadata).toEqual([
    { key: 'feature', values: ['chat'] },
    { key: 'customer', values: [null] },
  ]);
  await expectPageEqualsStats(variables.filter, withKey(s.firstKey));
  for (const id of ['meta-0', 'meta-1']) {
    await loaded(async () => {
      await page.locator(`#facet-${id} summary`).click();
      await page.locator(`#facet-${id}`).getByRole('button', { name: 'Clear' }).click();
    });
  }
  await page.keyboard.press('Escape');
});

test('without promoted metadata keys, no metadata filter or breakdown is shown', async () => {
  const plain = await startTestServer();
  const context = await browser.newContext({ locale: LOCALE, timezoneId: TIME_ZONE });
  try {
    await logUsageTo(plain, plain.firstKey, sampleUsage(5, 3, Date.now()));
    const other = await context.newPage();
    await other.goto(`${new URL(plain.url).origin}/dashboard`);
    const request = other.waitForRequest((r) => /query Dashboard\b/.test(r.postData() ?? ''));
    await other.getByLabel('API key or admin token').fill(plain.firstKey);
    await other.keyboard.press('Enter');
    expect((await request).postData()).not.toMatch(/metadataKeys/);
    await other
      .locator('#status')
      .filter({ hasText: /calls?,/ })
      .waitFor();
    expect(await other.locator('#model-table').count()).toBe(1);
    expect(await other.locator('[data-metadata-place], [id^="meta-"], [id^="facet-meta-"]').count()).toBe(0);
  } finally {
    await context.close();
    await plain.close();
  }
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
  variables = await loaded(() => checkFromKeyboard('origin', 'web-app'));
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
  expect(stats.summary.requests).toBe(122); // the sample's 120, the unpriced and the book-priced call

  const { projects } = await gql(
    'query($s: DateTime, $e: DateTime) { projects { key name usage(startDate: $s, endDate: $e) { costDecimal requests } } }',
    { s: variables.filter.startDate, e: variables.filter.endDate },
    asAdmin,
  );
  const shown = (await tableRows('project-table')).map((r) => ({
    key: r.key,
    name: r.cells.name.text,
    requests: Number(r.cells.requests.value),
    cost: r.cells.cost.value,
    costText: r.cells.cost.text,
  }));
  expect(shown.sort((a, b) => a.key.localeCompare(b.key))).toEqual(
    projects
      .map((p: Json) => ({
        key: p.key,
        name: p.name,
        requests: p.usage.requests,
        cost: p.usage.costDecimal,
        costText: usd(p.usage.costDecimal),
      }))
      .sort((a: Json, b: Json) => a.key.localeCompare(b.key)),
  );
  // The total is the exact sum of the projects' exact costs.
  expect(await page.locator('#project-table tfoot td').nth(2).innerText()).toBe(
    usd(addDecimals(projects.map((p: Json) => p.usage.costDecimal))),
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

test('with the admin token: the prices in effect, where each comes from, and a book-priced model’s history', async () => {
  const setModelPrice = await setPrice({
    provider: 'google',
    model: 'gemini-2.5-flash',
    inputPerMillion: '0.25',
    outputPerMillion: '2',
    cachedInputPerMillion: '0.025',
    effectiveFrom: new Date(Date.now() - 86_400_000).toISOString(),
    note: HOSTILE,
  });
  const isPrices = (r: Request) => /query DashboardPrices\b/.test(r.postData() ?? '');
  let request = page.waitForRequest(isPrices);
  await page.locator('#prices-details summary').focus();
  await page.keyboard.press('Enter');
  expect(JSON.parse((await request).postData()!).variables.projectId).toBeNull();
  const status = page.locator('#prices-status');
  await status.filter({ hasText: 'models shown' }).waitFor();

  const { modelPricing } = await gql(
    `{ modelPricing { provider model source priceBookVersion longContextThresholdTokens
       prices { input output cachedInput cacheWrite cacheWrite1h reasoning inputLongContext outputLongContext } } }`,
    {},
    asAdmin,
  );
  const parts = ['input', 'output', 'cachedInput', 'cacheWrite', 'cacheWrite1h', 'reasoning'];
  const shownPrices = async () =>
    (await tableRows('prices-table')).map((r) => ({
      key: r.key,
      source: r.cells.source.text,
      prices: parts.map((p) => [r.cells[p].value, r.cells[p].text]),
      long: r.cells.long.text,
    }));
  const expected = (m: Json) => ({
    key: JSON.stringify([m.provider, m.model]),
    source: m.source === 'PRICE_BOOK' ? `price book v${m.priceBookVersion} history` : 'registry',
    prices: parts.map((p) =>
      m.prices[p] === null ? ['', '–'] : [m.prices[p], formatUsdExact(m.prices[p], LOCALE)],
    ),
    long:
      m.longContextThresholdTokens === null
        ? '–'
        : `above ${int(m.longContextThresholdTokens)} input tokens: ${formatUsdExact(m.prices.inputLongContext, LOCALE)} in, ${formatUsdExact(m.prices.outputLongContext, LOCALE)} out`,
  });
  const byKey = (a: Json, b: Json) => a.key.localeCompare(b.key);
  expect((await shownPrices()).sort(byKey)).toEqual(modelPricing.map(expected).sort(byKey));
  const book = modelPricing.filter((m: Json) => m.source === 'PRICE_BOOK');
  expect(book.map((m: Json) => m.model).sort()).toEqual(['gemini-2.5-flash', 'gpt-4o-mini']);
  expect(modelPricing.some((m: Json) => m.longContextThresholdTokens !== null)).toBe(true);

  await page.getByLabel('Find a model').fill('GEMINI-2.5');
  const gemini = modelPricing.filter((m: Json) => m.model.includes('gemini-2.5'));
  expect((await shownPrices()).map((r) => r.key).sort()).toEqual(
    gemini
      .map(expected)
      .map((r: Json) => r.key)
      .sort(),
  );
  await page.getByLabel('Only price-book prices').check();
  expect((await shownPrices()).map((r) => r.key)).toEqual([JSON.stringify(['google', 'gemini-2.5-flash'])]);

  await page.getByRole('button', { name: 'Price-book history of gemini-2.5-flash (google)' }).click();
  await page.locator('#price-history-table').waitFor();
  expect(await page.evaluate('document.activeElement.id')).toBe('price-history-title');
  const { modelPrices } = await gql(
    '{ modelPrices(provider: "google", model: "gemini-2.5-flash") { id version note inputPerMillion effectiveTo } }',
    {},
    asAdmin,
  );
  expect(modelPrices).toHaveLength(1);
  const [entry] = await tableRows('price-history-table');
  expect(entry.key).toBe(modelPrices[0].id);
  expect(entry.cells.version.text).toBe(int(setModelPrice.version));
  expect(entry.cells.input.value).toBe(modelPrices[0].inputPerMillion);
  expect(entry.cells.to.text).toBe('open-ended');
  expect(entry.cells.scope.text).toBe('every project');
  expect(entry.cells.note.text).toBe(HOSTILE); // the note is text, never markup
  expect(await page.evaluate('document.querySelectorAll("img").length')).toBe(0);
  await page.getByRole('button', { name: 'Close the history' }).click();
  expect(await page.locator('#price-history').isHidden()).toBe(true);

  // Choosing a project shows the prices in effect for it.
  request = page.waitForRequest(isPrices);
  await loaded(() =>
    page.getByLabel('Project', { exact: true }).selectOption({ label: 'Client B (client-b)' }),
  );
  expect(JSON.parse((await request).postData()!).variables.projectId).toBe(clientB.id);
  await loaded(() => page.getByLabel('Project', { exact: true }).selectOption({ label: 'All projects' }));
});

test('with the admin token: a budget’s progress bar and forecast, and the latest webhook deliveries', async () => {
  const { createBudget } = await gql(
    `mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }`,
    {
      i: {
        projectId: clientB.id,
        name: HOSTILE,
        amount: '0.5',
        period: 'MONTH',
        timeZone: TIME_ZONE,
        thresholds: [50, 100, 400],
      },
    },
    asAdmin,
  );
  const { createWebhook } = await gql(
    `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }`,
    { i: { projectId: clientB.id, url: 'http://127.0.0.1:9/hook', events: ['BUDGET_THRESHOLD_CROSSED'] } },
    asAdmin,
  );
  await gql(
    'mutation($id: UUID!) { testWebhook(id: $id) { id } }',
    { id: createWebhook.webhook.id },
    asAdmin,
  );
  const budgetsLoaded = page.waitForResponse((r) =>
    /query DashboardBudgets\b/.test(r.request().postData() ?? ''),
  );
  await loaded(() =>
    page.getByLabel('Project', { exact: true }).selectOption({ label: 'Client B (client-b)' }),
  );
  await budgetsLoaded;
  const { budgetStatus: status } = await gql(
    'query($id: UUID!) { budgetStatus(id: $id) { spent percent thresholdsCrossed forecast } }',
    { id: createBudget.id },
    asAdmin,
  );
  const budget = page.locator('#budgets-list li.budget');
  await budget.waitFor();
  expect(await budget.locator('strong').innerText()).toBe(HOSTILE); // text, never markup
  expect(await budget.locator('.budget-amount').innerText()).toBe(
    `${usd(status.spent)} of ${usd('0.5')} this month (${status.percent.toFixed(1)}%)`,
  );
  expect(await budget.getByRole('progressbar').getAttribute('aria-valuenow')).toBe(
    String(Math.min(100, Math.round(status.percent))),
  );
  const meta = await budget.locator('.budget-meta').innerText();
  expect(meta).toContain(`forecast at period end ${usd(status.forecast)}`);
  if (status.thresholdsCrossed.length)
    expect(meta).toContain(
      `thresholds crossed: ${status.thresholdsCrossed.map((t: number) => `${t}%`).join(', ')}`,
    );
  const deliveries = await tableRows('deliveries');
  expect(deliveries.map((r) => [r.cells.eventType.text, r.cells.url.text])).toEqual([
    ['webhook.test', 'http://127.0.0.1:9/hook'],
  ]);
  expect(['pending', 'delivered', 'failed']).toContain(deliveries[0].cells.status.text);
  await loaded(() => page.getByLabel('Project', { exact: true }).selectOption({ label: 'All projects' }));
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
