/**
 * The fast path (hourly rollups + the raw tail and edges) must give exactly the answers of
 * a raw aggregation, whatever was rolled up when: random logs (aliases including none,
 * several models and origins, times over 40 days, late logs stored after their hour was
 * rolled up), rollup rounds at random points, random filters, buckets and time zones.
 */
import fc from 'fast-check';
import type { StatsService } from '../../src/services/stats';
import type { TimeBucket, UsageDimension, UsageQuery } from '../../src/domain/types';
import type { LogUsageInput } from '../../src/services/usage';
import {
  createServiceHarness,
  rawStats,
  withoutAsOf,
  recordAll,
  seedProject,
  type ServiceHarness,
  ZERO_TOTALS,
} from '../helpers/fixtures';

const NOW = Date.now();
const DAY = 24 * 3600 * 1000;
const ALIASES = [null, 'summarizer', 'chat', 'extract'];
const MODELS: Array<[string, string]> = [
  ['openai', 'gpt-4o'],
  ['openai', 'gpt-4o-mini'],
  ['anthropic', 'claude-3-5-haiku-20241022'],
  ['google', 'gemini-2.5-flash'],
];
const ORIGINS = [null, 'web', 'batch'];
const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Asia/Kolkata',
  'Australia/Lord_Howe',
  'Asia/Kathmandu',
];
const BUCKETS: TimeBucket[] = ['hour', 'day', 'week', 'month'];
/** Promoted metadata keys (LLMRING_METADATA_DIMENSIONS) and the values logs carry for them. */
const KEYS = ['feature', 'customer'];
const FEATURES = [undefined, null, 'chat', 'search', 42, true, { nested: 1 }];
const CUSTOMERS = [undefined, 'acme', 'globex'];
const DIMENSIONS: UsageDimension[] = ['alias', 'model', 'provider', 'origin', 'profile'];

/** Log times: anywhere in 40 days, or within two hours of one of the query's edges. */
const agoArb = (edges: number[]) =>
  fc.oneof(
    fc.integer({ min: 0, max: 40 * DAY }),
    fc
      .tuple(fc.constantFrom(...edges), fc.integer({ min: -2 * 3_600_000, max: 2 * 3_600_000 }))
      .map(([edge, delta]) => Math.max(0, edge + delta)),
  );

const logFields = {
  alias: fc.constantFrom(...ALIASES),
  model: fc.constantFrom(...MODELS),
  origin: fc.constantFrom(...ORIGINS),
  profile: fc.constantFrom('default', 'staging'),
  feature: fc.constantFrom(...FEATURES),
  customer: fc.constantFrom(...CUSTOMERS),
  inputTokens: fc.integer({ min: 0, max: 100_000 }),
  outputTokens: fc.integer({ min: 0, max: 10_000 }),
  clientCost: fc.option(
    fc.integer({ min: 0, max: 5_000_000 }).map((c) => c / 1e6),
    { nil: null },
  ),
};
const logArb = fc.record({ ...logFields, agoMs: fc.integer({ min: 0, max: 40 * DAY }) });
type LogSpec = typeof logArb extends fc.Arbitrary<infer T> ? T : never;

const stepsArb = (edges: number[]) =>
  fc.array(
    fc.record({
      logs: fc.array(fc.record({ ...logFields, agoMs: agoArb(edges) }), { minLength: 0, maxLength: 15 }),
      rollUp: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4 },
  );

const queryArb = fc.record({
  startAgoMs: fc.integer({ min: 0, max: 42 * DAY }),
  lengthMs: fc.integer({ min: 60_000, max: 42 * DAY }),
  aliases: fc.option(fc.subarray(ALIASES, { minLength: 1 }), { nil: undefined }),
  models: fc.option(
    fc.subarray(
      MODELS.map((m) => m[1]),
      { minLength: 1 },
    ),
    { nil: undefined },
  ),
  origins: fc.option(fc.subarray(['web', 'batch']), { nil: undefined }),
  zone: fc.constantFrom(...ZONES),
  bucket: fc.constantFrom(...BUCKETS),
  dims: fc.subarray(DIMENSIONS, { minLength: 1 }),
  // Metadata: a filter on one key, a breakdown by keys; two keys together read raw logs.
  metadataFilter: fc.option(
    fc.record({
      key: fc.constantFrom(...KEYS),
      values: fc.subarray(['chat', 'search', '42', 'true', 'acme', null], { minLength: 1 }),
    }),
    { nil: undefined },
  ),
  metadataKeys: fc.subarray(KEYS),
});

function toInput(log: LogSpec): LogUsageInput {
  return {
    provider: log.model[0],
    model: log.model[1],
    aliasName: log.alias,
    metadata: Object.fromEntries(
      Object.entries({ feature: log.feature, customer: log.customer }).filter(([, v]) => v !== undefined),
    ),
    origin: log.origin,
    profile: log.profile,
    inputTokens: log.inputTokens,
    outputTokens: log.outputTokens,
    cachedInputTokens: Math.floor(log.inputTokens / 3),
    cost: log.clientCost,
    occurredAt: new Date(NOW - log.agoMs),
  };
}

describe('stats from rollups equal stats from raw logs', () => {
  let h: ServiceHarness;
  let raw: StatsService;

  beforeAll(async () => {
    h = await createServiceHarness({ LLMRING_METADATA_DIMENSIONS: KEYS.join(',') });
    raw = rawStats(h);
  });
  afterAll(() => h.close());

  test('for random logs, rollup rounds, filters, buckets and time zones', async () => {
    let rolledUp = 0;
    await fc.assert(
      fc.asyncProperty(
        queryArb.chain((qa) =>
          fc.tuple(fc.constant(qa), stepsArb([qa.startAgoMs, Math.max(0, qa.startAgoMs - qa.lengthMs)])),
        ),
        async ([qa, steps]) => {
          const { caller, project } = await seedProject(h.services);
          for (const step of steps) {
            await recordAll(h.services, caller, step.logs.map(toInput));
            if (step.rollUp) rolledUp += (await h.services.rollups.runOnce()).logs;
          }
          const start = new Date(NOW - qa.startAgoMs);
          const q: UsageQuery = {
            projectIds: [project.id],
            start,
            end: new Date(start.getTime() + qa.lengthMs),
            aliasNames: qa.aliases,
            models: qa.models,
            origins: qa.origins,
          };
          const fast = h.services.stats;
          expect(await fast.summary(q)).toEqual(await raw.summary(q));
          expect(await fast.byAlias(q)).toEqual(await raw.byAlias(q));
          expect(await fast.byModel(q)).toEqual(await raw.byModel(q));
          expect(await fast.byOrigin(q)).toEqual(await raw.byOrigin(q));
          expect(await fast.byPeriod(q, qa.bucket, qa.zone)).toEqual(
            await raw.byPeriod(q, qa.bucket, qa.zone),
          );
          expect(await fast.breakdown(q, qa.dims, 1000)).toEqual(await raw.breakdown(q, qa.dims, 1000));
          // Everything at once, with metadata: one statement (rollups of one key, or raw logs).
          const mq: UsageQuery = { ...q, metadata: qa.metadataFilter ? [qa.metadataFilter] : undefined };
          const request = {
            overview: true,
            byPeriod: { bucket: qa.bucket, timeZone: qa.zone },
            breakdowns: [
              { by: [], metadataKeys: qa.metadataKeys.length ? qa.metadataKeys : ['feature'] },
              { by: ['model' as const], metadataKeys: qa.metadataKeys },
              { by: qa.dims, limit: 3 },
            ],
          };
          const fastAll = withoutAsOf(await fast.query(mq, request));
          const rawAll = withoutAsOf(await raw.query(mq, request));
          expect(fastAll).toEqual(rawAll);
          // Several ranges of one filter in one statement (spike alerts): each range's total,
          // and zeros for an empty one.
          const middle = new Date(start.getTime() + Math.floor(qa.lengthMs / 3));
          const ranges = [
            { start, end: q.end },
            { start: middle, end: q.end },
            { start, end: middle },
            { start: q.end, end: start },
          ];
          const each = await Promise.all(
            ranges.map(async (r) =>
              r.end > r.start ? (await raw.query({ ...mq, ...r }, { total: true })).total : undefined,
            ),
          );
          expect(await fast.totalsOver(mq, ranges)).toEqual(each.map((t) => t ?? ZERO_TOTALS));
          // What usageStats asks for in one query equals the four separate raw aggregations.
          expect(await fast.overview(q)).toEqual({
            summary: await raw.summary(q),
            byAlias: await raw.byAlias(q),
            byModel: await raw.byModel(q),
            byOrigin: await raw.byOrigin(q),
          });
        },
      ),
      { numRuns: 30, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) },
    );
    // The property must have exercised the rollups, not only the raw tail.
    expect(rolledUp).toBeGreaterThan(0);
    for (const table of ['usage_rollups_hourly', 'usage_rollups_daily']) {
      const [{ n }] = await h.db(table).count({ n: '*' });
      expect(Number(n)).toBeGreaterThan(0);
    }
  });

  test('a late log lands in its own past hour, counted once before and after the rollup', async () => {
    const { caller, project } = await seedProject(h.services);
    const hourAgo = new Date(Math.floor((NOW - 5 * DAY) / 3_600_000) * 3_600_000);
    const at = (minutes: number) => new Date(hourAgo.getTime() + minutes * 60_000);
    await recordAll(h.services, caller, [toInput({ ...sample(), agoMs: NOW - at(10).getTime() })]);
    await h.services.rollups.runOnce();
    const q: UsageQuery = { projectIds: [project.id], start: new Date(NOW - 10 * DAY), end: new Date(NOW) };
    expect((await h.services.stats.summary(q)).requests).toBe(1);
    await recordAll(h.services, caller, [toInput({ ...sample(), agoMs: NOW - at(20).getTime() })]);
    expect((await h.services.stats.summary(q)).requests).toBe(2); // in the raw tail
    await h.services.rollups.runOnce();
    expect((await h.services.stats.summary(q)).requests).toBe(2); // folded into the same hour
    const hours = await h.services.stats.byPeriod(q, 'hour', 'UTC');
    expect(hours).toEqual([expect.objectContaining({ periodStart: hourAgo, requests: 2 })]);
  });
});

function sample(): LogSpec {
  return fc.sample(logArb, 1)[0];
}
