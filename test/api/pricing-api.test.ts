/**
 * Costs on every surface (issue 16), through HTTP like a client: every hand-computed case of
 * test/helpers/pricingCases.ts through GraphQL and REST, to the last decimal, with its bill
 * and its signed version-2 receipt; token parts that exceed their totals refused; the price
 * book (a price with an effective date in the past changes new logs of that occurredAt, its
 * history, its errors); re-pricing whose dry run reports exactly what applying it then does to
 * usageStats, idempotent, with signed adjustments; exact decimals beside every float.
 */
import Decimal from 'decimal.js';
import { runCli } from '../../src/cli/program';
import { PRICING_CASES } from '../helpers/pricingCases';
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  errorCodes,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let project: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'pricing');
});
afterAll(() => server?.close());

const LOG = `mutation($input: LogUsageInput!) { logUsage(input: $input) {
  usageLog { id cost costDecimal costSource cacheWriteTokens cacheWrite1hTokens reasoningTokens
    pricing { longContext source version lines { type tokens perMillion amount } } }
  receipt { receiptId document cacheWriteTokens reasoningTokens costDecimal } } }`;

const LOGS = `query($f: UsageFilter) { usageLogs(filter: $f, first: 500) { edges { node {
  id cost costDecimal costSource originalCost pricing { source version }
  adjustments { adjustmentId receiptId previousCost newCost difference priceBookVersion document } } } } }`;

const STATS = `query($f: UsageFilter) { usageStats(filter: $f) { summary { requests cost costDecimal
  cacheWriteTokens cacheWrite1hTokens reasoningTokens } byModel { model costDecimal reasoningTokens } } }`;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => ((out += s), true), once: () => undefined },
    stderr: { write: (s: string) => ((err += s), true), once: () => undefined },
    env: { LLMRING_ENV: 'test' },
    db: server.app.db,
  });
  return { code, out, err };
}

describe('every token type, computed by hand, through GraphQL and REST', () => {
  it.each(PRICING_CASES)('GraphQL: $name', async (c) => {
    const res = await server.gql(
      LOG,
      { input: { provider: c.provider, model: c.model, ...c.tokens } },
      withKey(project.secret),
    );
    const { usageLog, receipt } = dataOf(res).logUsage;
    expect(usageLog.costDecimal).toBe(c.cost);
    expect(usageLog.cost).toBe(Number(c.cost));
    expect(usageLog.costSource).toBe(c.costSource.toUpperCase());
    expect(receipt.costDecimal).toBe(c.cost);
    expect(receipt.document.version).toBe(2);
    expect(receipt.document.tokens).toEqual({
      input: c.tokens.inputTokens,
      output: c.tokens.outputTokens,
      cached_input: c.tokens.cachedInputTokens ?? 0,
      cache_write_5m: c.tokens.cacheWriteTokens ?? 0,
      cache_write_1h: c.tokens.cacheWrite1hTokens ?? 0,
      reasoning: c.tokens.reasoningTokens ?? 0,
    });
    if (c.costSource === 'unpriced') {
      expect(usageLog.pricing).toBeNull();
      expect(receipt.document.pricing).toBeNull();
    } else {
      expect(usageLog.pricing.longContext).toBe(c.longContext ?? false);
      expect(
        usageLog.pricing.lines.map((l: Record<string, unknown>) => [
          l.type,
          l.tokens,
          l.perMillion,
          l.amount,
        ]),
      ).toEqual(c.lines);
      // The signed bill: the same lines, and they add up to the cost.
      const lines = receipt.document.pricing.lines as Array<{ per_million: string; amount: string }>;
      expect(lines.map((l) => [l.per_million, l.amount])).toEqual(c.lines.map((l) => [l[2], l[3]]));
      expect(lines.reduce((sum, l) => sum.plus(l.amount), new Decimal(0)).toFixed(8)).toBe(c.cost);
    }
    const verified = await server.gql('query($d: JSONObject!) { verifyReceipt(document: $d) { valid } }', {
      d: receipt.document,
    });
    expect(dataOf(verified).verifyReceipt.valid).toBe(true);
  });

  it.each(PRICING_CASES)('REST /api/v1/log: $name', async (c) => {
    const res = await server.http('/api/v1/log', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...withKey(project.secret) },
      body: JSON.stringify({
        provider: c.provider,
        model: c.model,
        input_tokens: c.tokens.inputTokens,
        output_tokens: c.tokens.outputTokens,
        cached_input_tokens: c.tokens.cachedInputTokens ?? 0,
        cache_write_tokens: c.tokens.cacheWriteTokens ?? 0,
        cache_write_1h_tokens: c.tokens.cacheWrite1hTokens ?? 0,
        reasoning_tokens: c.tokens.reasoningTokens ?? 0,
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      log_id: string;
      cost: number;
      receipt: { cost: { amount: string } };
    };
    expect(body.receipt.cost.amount).toBe(c.cost);
    expect(body.cost).toBe(Number(c.cost));
  });

  it.each([
    [
      'cachedInputTokens',
      { inputTokens: 100, outputTokens: 1, cachedInputTokens: 101 },
      /must not exceed the input tokens/,
    ],
    [
      'cacheWrite1hTokens',
      { inputTokens: 100, outputTokens: 1, cachedInputTokens: 60, cacheWrite1hTokens: 41 },
      /with the other parts/,
    ],
    [
      'reasoningTokens',
      { inputTokens: 100, outputTokens: 10, reasoningTokens: 11 },
      /must not exceed the output tokens/,
    ],
  ])('parts over their totals: BAD_USER_INPUT naming %s, nothing stored', async (field, tokens, message) => {
    const before = await server.app.db('usage_logs').count({ n: '*' });
    const res = await server.gql(
      LOG,
      { input: { provider: 'openai', model: 'gpt-4o', ...tokens } },
      withKey(project.secret),
    );
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].extensions?.field).toBe(`input.${field}`);
    expect(res.body.errors![0].message).toMatch(message);
    const after = await server.app.db('usage_logs').count({ n: '*' });
    expect(Number(after[0].n)).toBe(Number(before[0].n));
  });
});

describe('the price book, and re-pricing that keeps the books auditable', () => {
  let book: TestProject;
  const MODEL = { provider: 'anthropic', model: 'claude-sonnet-4-5-20250929' };
  const JUNE = '2025-06-15T12:00:00Z';
  const MAY = '2025-05-15T12:00:00Z';
  const tokens = { inputTokens: 10_000, outputTokens: 1_000 };
  const range = { startDate: '2025-05-01T00:00:00Z', endDate: '2025-08-01T00:00:00Z' };

  const set = (input: Record<string, unknown>) =>
    server.gql(
      'mutation($i: SetModelPriceInput!) { setModelPrice(input: $i) { id version effectiveFrom effectiveTo inputPerMillion } }',
      { i: input },
      asAdmin,
    );
  const log = async (occurredAt: string) =>
    dataOf(await server.gql(LOG, { input: { ...MODEL, ...tokens, occurredAt } }, withKey(book.secret)))
      .logUsage.usageLog;
  const stats = async () =>
    dataOf(await server.gql(STATS, { f: { ...range, projectId: book.id } }, asAdmin)).usageStats;
  const reprice = async (dryRun: boolean) =>
    dataOf(
      await server.gql(
        `mutation($f: UsageFilter, $d: Boolean) { repriceUsage(filter: $f, dryRun: $d) {
          applied priceBookVersion changedLogs difference groups { project { key } provider model requests costBefore costAfter difference } } }`,
        { f: { ...range, projectId: book.id }, d: dryRun },
        asAdmin,
      ),
    ).repriceUsage;

  beforeAll(async () => {
    book = await createProjectWithKey(server, 'pricing-book');
  });

  it('a price with a past effective date prices new logs of that occurredAt; others stay registry-priced', async () => {
    // Registry: 10,000 x 3 + 1,000 x 15 = 45,000 / 1e6 = 0.045
    const mayBefore = await log(MAY);
    const juneBefore = await log(JUNE);
    expect([mayBefore.costDecimal, juneBefore.costDecimal]).toEqual(['0.04500000', '0.04500000']);

    const created = dataOf(
      await set({
        ...MODEL,
        projectId: book.id,
        inputPerMillion: '2.5',
        outputPerMillion: '12',
        effectiveFrom: '2025-06-01T00:00:00Z',
        note: 'contract A',
      }),
    );
    // Book: 10,000 x 2.5 + 1,000 x 12 = 37,000 / 1e6 = 0.037
    const june = await log(JUNE);
    expect(june).toMatchObject({ costDecimal: '0.03700000', costSource: 'PRICE_BOOK' });
    expect(june.pricing).toMatchObject({
      source: 'PRICE_BOOK',
      version: `price-book@${created.setModelPrice.version}`,
    });
    expect((await log(MAY)).costDecimal).toBe('0.04500000');
    // Another project is not affected.
    const other = dataOf(
      await server.gql(LOG, { input: { ...MODEL, ...tokens, occurredAt: JUNE } }, withKey(project.secret)),
    );
    expect(other.logUsage.usageLog.costDecimal).toBe('0.04500000');

    const pricing = dataOf(
      await server.gql(
        `query($p: UUID) { modelPricing(provider: "anthropic", projectId: $p) { model source priceBookVersion prices { input output } } }`,
        { p: book.id },
        withKey(book.secret),
      ),
    ).modelPricing.find((m: { model: string }) => m.model === MODEL.model);
    expect(pricing).toMatchObject({ source: 'PRICE_BOOK', prices: { input: '2.5', output: '12' } });
    const anonymous = dataOf(await server.gql('{ modelPricing(provider: "anthropic") { model source } }'));
    expect(anonymous.modelPricing.find((m: { model: string }) => m.model === MODEL.model).source).toBe(
      'REGISTRY',
    );
  });

  it('refuses a negative price, a backwards or overlapping range, an unknown project; closes an open-ended one', async () => {
    const base = { ...MODEL, projectId: book.id, inputPerMillion: '2', outputPerMillion: '10' };
    for (const [input, field, message] of [
      [
        { ...base, inputPerMillion: '-1', effectiveFrom: '2026-01-01T00:00:00Z' },
        'inputPerMillion',
        /must not be negative/,
      ],
      [
        { ...base, effectiveFrom: '2026-02-01T00:00:00Z', effectiveTo: '2026-01-01T00:00:00Z' },
        'effectiveTo',
        /must be after effectiveFrom/,
      ],
      [
        { ...base, effectiveFrom: '2025-05-01T00:00:00Z', effectiveTo: '2025-06-15T00:00:00Z' },
        'effectiveFrom',
        /overlaps the book's entry/,
      ],
      [
        { ...base, projectId: '00000000-0000-4000-8000-000000000000', effectiveFrom: '2026-01-01T00:00:00Z' },
        'projectId',
        /no project has this id/,
      ],
    ] as const) {
      const res = await set(input);
      expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.body.errors![0].extensions?.field).toBe(field);
      expect(res.body.errors![0].message).toMatch(message);
    }
    // A later start closes the open-ended June price there; the history shows both.
    dataOf(
      await set({
        ...base,
        inputPerMillion: '2.4',
        outputPerMillion: '12',
        effectiveFrom: '2025-07-01T00:00:00Z',
      }),
    );
    const history = dataOf(
      await server.gql(
        `query($p: UUID) { modelPrices(provider: "anthropic", model: "${MODEL.model}", projectId: $p) { inputPerMillion effectiveFrom effectiveTo } }`,
        { p: book.id },
        asAdmin,
      ),
    ).modelPrices;
    expect(history).toEqual([
      {
        inputPerMillion: '2.5',
        effectiveFrom: '2025-06-01T00:00:00.000Z',
        effectiveTo: '2025-07-01T00:00:00.000Z',
      },
      { inputPerMillion: '2.4', effectiveFrom: '2025-07-01T00:00:00.000Z', effectiveTo: null },
    ]);
    expect(errorCodes(await set({ ...base, effectiveFrom: '2027-01-01T00:00:00Z' }))).toEqual([]);
    const forbidden = await server.gql(
      'mutation($i: SetModelPriceInput!) { setModelPrice(input: $i) { id } }',
      { i: { ...base, effectiveFrom: '2030-01-01T00:00:00Z' } },
      withKey(book.secret),
    );
    expect(errorCodes(forbidden)).toEqual(['FORBIDDEN']);
  });

  it('a dry run reports exactly the difference applying it then makes to usageStats, once', async () => {
    // June: the May-15 logs (registry) stay; the June logs registry-priced before the book
    // existed change from 0.045 to 0.037.
    const before = await stats();
    const preview = await reprice(true);
    expect(preview.applied).toBe(false);
    expect(preview.changedLogs).toBe(1);
    expect(preview.difference).toBe('-0.00800000');
    expect(preview.groups).toEqual([
      {
        project: { key: 'pricing-book' },
        ...MODEL,
        requests: 1,
        costBefore: '0.04500000',
        costAfter: '0.03700000',
        difference: '-0.00800000',
      },
    ]);
    expect((await stats()).summary.costDecimal).toBe(before.summary.costDecimal); // a dry run changes nothing

    await server.app.services.rollups.runOnce(); // some logs are in the rollups, some not
    const applied = await reprice(false);
    expect(applied).toMatchObject({ applied: true, changedLogs: 1, difference: '-0.00800000' });
    const after = await stats();
    expect(new Decimal(after.summary.costDecimal).minus(before.summary.costDecimal).toFixed(8)).toBe(
      preview.difference,
    );
    expect(after.summary.requests).toBe(before.summary.requests);

    // Idempotent: nothing left to change, and statistics stay.
    expect((await reprice(false)).changedLogs).toBe(0);
    await server.app.services.rollups.runOnce();
    expect((await stats()).summary.costDecimal).toBe(after.summary.costDecimal);
    // Raw logs agree with the rollups.
    const [{ sum }] = await server.app.db('usage_logs').where({ project_id: book.id }).sum({ sum: 'cost' });
    expect(new Decimal(sum).toFixed(8)).toBe(after.summary.costDecimal);
  });

  it('the adjusted log shows its current and original cost and a signed adjustment naming its receipt', async () => {
    const logs = dataOf(
      await server.gql(LOGS, { f: { ...range, projectId: book.id } }, asAdmin),
    ).usageLogs.edges.map((e: { node: unknown }) => e.node);
    const adjusted = logs.filter((l: { adjustments: unknown[] }) => l.adjustments.length > 0);
    expect(adjusted).toHaveLength(1);
    const [l] = adjusted;
    expect(l).toMatchObject({
      costDecimal: '0.03700000',
      originalCost: '0.04500000',
      costSource: 'PRICE_BOOK',
    });
    const [a] = l.adjustments;
    expect(a).toMatchObject({ previousCost: '0.04500000', newCost: '0.03700000', difference: '-0.00800000' });
    expect(a.document).toMatchObject({ type: 'adjustment', receipt_id: a.receiptId, usage_log_id: l.id });
    const verified = await server.gql('query($d: JSONObject!) { verifyReceipt(document: $d) { valid } }', {
      d: a.document,
    });
    expect(dataOf(verified).verifyReceipt.valid).toBe(true);
    // The receipt itself never changes: it still says what was first charged.
    const receipt = await server.app.db('receipts').where({ receipt_id: a.receiptId }).first();
    expect(receipt.document.cost.amount).toBe('0.04500000');

    const rest = await server.http(`/api/v1/logs?start_date=2025-06-15&end_date=2025-06-15`, {
      headers: withKey(book.secret),
    });
    const entries = (await rest.json()) as Array<{ id: string; cost: number; original_cost: number }>;
    expect(entries.find((e) => e.id === l.id)).toMatchObject({ cost: 0.037, original_cost: 0.045 });
  });

  it('the CLI sets, lists and dry-runs', async () => {
    const set = await cli(
      'price',
      'set',
      'openai',
      'gpt-4o',
      '--input',
      '2',
      '--output',
      '8',
      '--project',
      'pricing-book',
      '--from',
      '2025-05-01',
      '--note',
      'cli',
    );
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/Price book version \d+: openai\/gpt-4o at 2 in, 8 out per million/);
    const list = await cli('price', 'list', '--project', 'pricing-book');
    expect(list.out).toMatch(/pricing-book\s+openai\s+gpt-4o\s+2\s+8/);
    const bad = await cli(
      'price',
      'set',
      'openai',
      'gpt-4o',
      '--input',
      '-2',
      '--output',
      '8',
      '--from',
      '2025-05-01',
    );
    expect([bad.code, bad.err]).toEqual([2, expect.stringMatching(/--input: must not be negative/)]);
    const dry = await cli(
      'reprice',
      '--project',
      'pricing-book',
      '--start',
      '2025-05-01',
      '--end',
      '2025-07-31',
      '--json',
    );
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ applied: false, changedLogs: 0 });
  });
});
