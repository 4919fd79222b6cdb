/**
 * StatsService on a real database (PGlite, or Postgres with TEST_DATABASE_URL), checked
 * against a reference computed in JS from the logs the UsageService returned, with costs
 * summed exactly (decimal.js).
 */
import type {
  TimeBucket,
  UsageDimension,
  UsageGroup,
  UsageLog,
  UsageQuery,
  UsageTotals,
} from '../../src/domain/types';
import type { LogUsageInput } from '../../src/services/usage';
import { resolveUsageQuery } from '../../src/services/scope';
import {
  createServiceHarness,
  expectServiceError,
  groupLogs,
  matchesQuery,
  recordAll,
  seedProject,
  seededRandom,
  sumTotals,
  totalsOf,
  totalsPart,
  ZERO_TOTALS,
  type SeededProject,
  type ServiceHarness,
} from '../helpers/fixtures';

const ALIASES: Array<string | null> = [null, 'summarizer', 'résumé-摘要', '🦄 writer', 'a'.repeat(255)];
const MODELS = [
  { provider: 'openai', model: 'gpt-4o' },
  { provider: 'openai', model: 'gpt-4o-mini' },
  { provider: 'anthropic', model: 'claude-3-5-haiku-20241022' },
  { provider: 'local', model: 'house-model' }, // unknown to the registry: unpriced when no cost is sent
];
const ORIGINS: Array<string | null> = [null, 'web', 'cli', 'batch-job'];
const PROFILES = ['default', 'prod', 'dev'];
const DIMENSIONS: UsageDimension[] = ['alias', 'model', 'provider', 'origin', 'profile', 'project'];

const RANGE_START = new Date('2025-01-01T00:00:00.000Z');
const RANGE_END = new Date('2025-03-01T00:00:00.000Z');
const DAY = 24 * 3600 * 1000;

/** Random but reproducible usage within [RANGE_START, RANGE_END). */
function generateUsage(seed: number, count: number, extraAliases: string[] = []): LogUsageInput[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const aliases = [...ALIASES, ...extraAliases];
  return Array.from({ length: count }, () => {
    const { provider, model } = pick(MODELS);
    const inputTokens = Math.floor(random() * 5000);
    const r = random();
    // Client costs with up to 8 decimals (some that floats cannot hold exactly), registry prices, big ones.
    const cost =
      r < 0.5 ? Math.round(random() * 1e9) / 1e8 : r < 0.6 ? 1234.56789012 : r < 0.65 ? 0.1 : undefined;
    return {
      provider,
      model,
      aliasName: pick(aliases),
      inputTokens,
      outputTokens: Math.floor(random() * 2000),
      cachedInputTokens: Math.floor(random() * inputTokens * 0.5),
      cost,
      origin: pick(ORIGINS),
      profile: pick(PROFILES),
      occurredAt: new Date(
        RANGE_START.getTime() + Math.floor(random() * (RANGE_END.getTime() - RANGE_START.getTime())),
      ),
    };
  });
}

function valueOf(log: UsageLog, d: UsageDimension): string | null {
  switch (d) {
    case 'alias':
      return log.aliasName;
    case 'project':
      return log.projectId;
    default:
      return log[d];
  }
}

function groupValue(group: UsageGroup, d: UsageDimension): string | null | undefined {
  switch (d) {
    case 'alias':
      return group.aliasName;
    case 'project':
      return group.projectId;
    default:
      return group[d];
  }
}

const FIELD_OF: Record<UsageDimension, string> = {
  alias: 'aliasName',
  model: 'model',
  provider: 'provider',
  origin: 'origin',
  profile: 'profile',
  project: 'projectId',
};

/** Rows keyed by a string and sorted by it, for order-independent comparison with good diffs. */
function keyed<T>(rows: readonly T[], keyOf: (row: T) => unknown, valueOf: (row: T) => unknown) {
  return rows
    .map((r) => [JSON.stringify(keyOf(r)), valueOf(r)] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

function expectMostExpensiveFirst(rows: readonly UsageTotals[]) {
  for (let i = 1; i < rows.length; i++) {
    expect(Number(rows[i - 1].cost)).toBeGreaterThanOrEqual(Number(rows[i].cost));
  }
}

function expectSummaryOf(actual: Awaited<ReturnType<StatsLike['summary']>>, logs: UsageLog[]) {
  const totals = totalsOf(logs);
  expect(actual).toEqual({
    ...totals,
    totalTokens: totals.inputTokens + totals.outputTokens,
    uniqueModels: new Set(logs.map((l) => l.model)).size,
    uniqueAliases: new Set(logs.map((l) => l.aliasName).filter((a) => a !== null)).size,
    uniqueOrigins: new Set(logs.map((l) => l.origin).filter((o) => o !== null)).size,
  });
}

type StatsLike = ServiceHarness['services']['stats'];

/** Every non-empty subset of the dimensions. */
function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let mask = 1; mask < 1 << items.length; mask++) out.push(items.filter((_, i) => mask & (1 << i)));
  return out;
}

let h: ServiceHarness;
let a: SeededProject;
let b: SeededProject;
let empty: SeededProject;
let logsA: UsageLog[];
let logsB: UsageLog[];
let all: UsageLog[];

beforeAll(async () => {
  h = await createServiceHarness();
  a = await seedProject(h.services, { key: 'stats-a' });
  b = await seedProject(h.services, { key: 'stats-b' });
  empty = await seedProject(h.services, { key: 'stats-empty' });
  const edges: LogUsageInput[] = [
    // The edges of the range: start is inclusive, end exclusive.
    {
      provider: 'openai',
      model: 'gpt-4o',
      aliasName: 'edge',
      inputTokens: 1,
      outputTokens: 1,
      cost: 0.00000001,
      occurredAt: RANGE_START,
    },
    {
      provider: 'openai',
      model: 'gpt-4o',
      aliasName: 'edge',
      inputTokens: 2,
      outputTokens: 2,
      cost: 0.00000002,
      occurredAt: new Date(RANGE_END.getTime() - 1),
    },
    {
      provider: 'openai',
      model: 'gpt-4o',
      aliasName: 'edge',
      inputTokens: 4,
      outputTokens: 4,
      cost: 0.00000004,
      occurredAt: RANGE_END,
    },
    {
      provider: 'openai',
      model: 'gpt-4o',
      aliasName: 'edge',
      inputTokens: 8,
      outputTokens: 8,
      cost: 0.00000008,
      occurredAt: new Date(RANGE_START.getTime() - 1),
    },
  ];
  logsA = await recordAll(h.services, a.caller, [...generateUsage(1, 160), ...edges]);
  // B shares names with A (so a missing project filter would show) and has one of its own.
  logsB = await recordAll(h.services, b.caller, generateUsage(2, 60, ['only-in-b']));
  all = [...logsA, ...logsB];
});

afterAll(async () => {
  await h?.close();
});

const inRange = (projectIds: string[] | null, extra: Partial<UsageQuery> = {}): UsageQuery => ({
  projectIds,
  start: RANGE_START,
  end: RANGE_END,
  ...extra,
});

describe('the seeded data', () => {
  it('mixes client, registry and unpriced costs, with and without aliases and origins', () => {
    const sources = new Set(all.map((l) => l.costSource));
    expect(sources).toEqual(new Set(['client', 'registry', 'unpriced']));
    expect(logsA.some((l) => l.aliasName === null)).toBe(true);
    expect(logsA.some((l) => l.origin === null)).toBe(true);
    expect(logsA.filter((l) => matchesQuery(l, inRange([a.project.id])))).toHaveLength(162);
  });
});

describe('summary', () => {
  it('counts the calls of [start, end) for one project', async () => {
    const q = inRange([a.project.id]);
    expectSummaryOf(
      await h.services.stats.summary(q),
      all.filter((l) => matchesQuery(l, q)),
    );
  });

  it('includes a call at start and excludes one at end', async () => {
    const edge = await h.services.stats.summary(inRange([a.project.id], { aliasNames: ['edge'] }));
    expect(edge).toMatchObject({ requests: 2, inputTokens: 3, outputTokens: 3, cost: '0.00000003' });
  });

  it('counts every project for an admin query (projectIds null)', async () => {
    const q = inRange(null);
    expectSummaryOf(
      await h.services.stats.summary(q),
      all.filter((l) => matchesQuery(l, q)),
    );
  });

  it('gives zeros, not nulls, when nothing matches', async () => {
    expect(await h.services.stats.summary(inRange([empty.project.id]))).toEqual({
      ...ZERO_TOTALS,
      totalTokens: 0,
      uniqueModels: 0,
      uniqueAliases: 0,
      uniqueOrigins: 0,
    });
  });
});

describe('breakdowns add up to the summary', () => {
  const queries: Array<[string, () => UsageQuery]> = [
    ['project A', () => inRange([a.project.id])],
    ['every project', () => inRange(null)],
    ['project B, prod profile only', () => inRange([b.project.id], { profiles: ['prod'] })],
  ];

  describe.each(queries)('%s', (_name, makeQuery) => {
    let q: UsageQuery;
    let expected: UsageLog[];
    let summaryTotals: UsageTotals;

    beforeAll(async () => {
      q = makeQuery();
      expected = all.filter((l) => matchesQuery(l, q));
      summaryTotals = totalsPart(await h.services.stats.summary(q));
      expect(summaryTotals).toEqual(totalsOf(expected));
      expect(expected.length).toBeGreaterThan(10);
    });

    it('byAlias: one group per alias name, calls without an alias in the null group', async () => {
      const rows = await h.services.stats.byAlias(q);
      expect(sumTotals(rows)).toEqual(summaryTotals);
      const reference = [...groupLogs(expected, (l) => l.aliasName)].map(([aliasName, logs]) => ({
        aliasName,
        ...totalsOf(logs),
        models: [...new Set(logs.map((l) => l.model))].sort(),
      }));
      expect(
        keyed(
          rows,
          (r) => r.aliasName,
          (r) => ({ ...r, models: [...r.models].sort() }),
        ),
      ).toEqual(
        keyed(
          reference,
          (r) => r.aliasName,
          (r) => r,
        ),
      );
      if (expected.some((l) => l.aliasName === null)) {
        expect(rows.filter((r) => r.aliasName === null)).toHaveLength(1);
      }
      expectMostExpensiveFirst(rows);
    });

    it('byModel: one group per provider and model', async () => {
      const rows = await h.services.stats.byModel(q);
      expect(sumTotals(rows)).toEqual(summaryTotals);
      const reference = [...groupLogs(expected, (l) => `${l.provider}\n${l.model}`)].map(([, logs]) => ({
        provider: logs[0].provider,
        model: logs[0].model,
        ...totalsOf(logs),
      }));
      expect(
        keyed(
          rows,
          (r) => [r.provider, r.model],
          (r) => r,
        ),
      ).toEqual(
        keyed(
          reference,
          (r) => [r.provider, r.model],
          (r) => r,
        ),
      );
      expectMostExpensiveFirst(rows);
    });

    it('byOrigin: one group per origin, null for calls without one', async () => {
      const rows = await h.services.stats.byOrigin(q);
      expect(sumTotals(rows)).toEqual(summaryTotals);
      const reference = [...groupLogs(expected, (l) => l.origin)].map(([origin, logs]) => ({
        origin,
        ...totalsOf(logs),
      }));
      expect(
        keyed(
          rows,
          (r) => r.origin,
          (r) => r,
        ),
      ).toEqual(
        keyed(
          reference,
          (r) => r.origin,
          (r) => r,
        ),
      );
      expectMostExpensiveFirst(rows);
    });

    it('breakdown by every combination of dimensions', async () => {
      for (const dims of subsets(DIMENSIONS)) {
        const rows = await h.services.stats.breakdown(q, dims, 10_000);
        expect(sumTotals(rows)).toEqual(summaryTotals);
        for (const row of rows) {
          // Each group names exactly the dimensions asked for.
          expect(Object.keys(row).sort()).toEqual(
            [...Object.keys(ZERO_TOTALS), ...dims.map((d) => FIELD_OF[d])].sort(),
          );
        }
        const reference = [...groupLogs(expected, (l) => JSON.stringify(dims.map((d) => valueOf(l, d))))];
        expect(
          keyed(
            rows,
            (r) => dims.map((d) => groupValue(r, d)),
            (r) => totalsPart(r),
          ),
        ).toEqual(
          keyed(
            reference,
            ([key]) => JSON.parse(key),
            ([, logs]) => totalsOf(logs),
          ),
        );
        expectMostExpensiveFirst(rows);
      }
    });

    it.each<TimeBucket>(['hour', 'day', 'week', 'month'])('byPeriod(%s) in UTC', async (bucket) => {
      const rows = await h.services.stats.byPeriod(q, bucket, 'UTC');
      expect(sumTotals(rows)).toEqual(summaryTotals);
      const startOf = (d: Date): number => {
        const [y, m, day, hour] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()];
        if (bucket === 'hour') return Date.UTC(y, m, day, hour);
        if (bucket === 'day') return Date.UTC(y, m, day);
        if (bucket === 'month') return Date.UTC(y, m, 1);
        return Date.UTC(y, m, day) - ((d.getUTCDay() + 6) % 7) * DAY; // Monday
      };
      const reference = [...groupLogs(expected, (l) => startOf(l.occurredAt))]
        .sort(([x], [y]) => x - y)
        .map(([start, logs]) => ({ periodStart: new Date(start), ...totalsOf(logs) }));
      expect(rows.map((r) => ({ ...totalsPart(r), periodStart: r.periodStart }))).toEqual(reference);
      // topModel: the model with the highest cost in the bucket.
      for (const row of rows) {
        const logs = expected.filter((l) => startOf(l.occurredAt) === row.periodStart.getTime());
        const byModel = [...groupLogs(logs, (l) => l.model)].map(([model, ls]) => ({
          model,
          ...totalsOf(ls),
        }));
        const best = Math.max(...byModel.map((m) => Number(m.cost)));
        expect(byModel.filter((m) => Number(m.cost) === best).map((m) => m.model)).toContain(row.topModel);
      }
    });
  });

  it('breakdown honours its limit, keeping the most expensive groups', async () => {
    const q = inRange([a.project.id]);
    const full = await h.services.stats.breakdown(q, ['alias', 'model'], 10_000);
    const top = await h.services.stats.breakdown(q, ['alias', 'model'], 3);
    expect(top).toEqual(full.slice(0, 3));
    expect((await h.services.stats.breakdown(q, ['model'])).length).toBeLessThanOrEqual(100);
  });

  it('breakdown rejects no dimensions and a bad limit', async () => {
    const q = inRange([a.project.id]);
    await expectServiceError(h.services.stats.breakdown(q, []), 'BAD_USER_INPUT', 'by');
    await expectServiceError(h.services.stats.breakdown(q, ['model'], 0), 'BAD_USER_INPUT', 'limit');
    await expectServiceError(h.services.stats.breakdown(q, ['model'], 1.5), 'BAD_USER_INPUT', 'limit');
    await expectServiceError(h.services.stats.breakdown(q, ['model'], 10_001), 'BAD_USER_INPUT', 'limit');
  });

  it('a repeated dimension groups once', async () => {
    const q = inRange([a.project.id]);
    expect(await h.services.stats.breakdown(q, ['model', 'model'])).toEqual(
      await h.services.stats.breakdown(q, ['model']),
    );
  });
});

describe('every filter of UsageQuery', () => {
  const filters: Array<[string, () => UsageQuery]> = [
    ['no filter but the range', () => inRange([a.project.id])],
    ['one project of two', () => inRange([b.project.id])],
    ['two projects', () => inRange([a.project.id, b.project.id])],
    ['no project at all (empty list)', () => inRange([])],
    ['a project without usage', () => inRange([empty.project.id])],
    [
      'a narrower range',
      () => inRange(null, { start: new Date('2025-01-10T00:00:00Z'), end: new Date('2025-01-20T12:00:00Z') }),
    ],
    [
      'a range with nothing in it',
      () => inRange(null, { start: new Date('2024-01-01T00:00:00Z'), end: new Date('2024-02-01T00:00:00Z') }),
    ],
    ['one alias name', () => inRange(null, { aliasNames: ['summarizer'] })],
    ['calls without an alias only', () => inRange(null, { aliasNames: [null] })],
    ['an alias name or no alias', () => inRange(null, { aliasNames: ['🦄 writer', null] })],
    ['a 255-character alias name', () => inRange(null, { aliasNames: ['a'.repeat(255)] })],
    ['an alias name nobody used', () => inRange(null, { aliasNames: ['never-used'] })],
    ['an empty alias list', () => inRange(null, { aliasNames: [] })],
    ['models', () => inRange(null, { models: ['gpt-4o', 'house-model'] })],
    ['providers', () => inRange(null, { providers: ['anthropic'] })],
    ['origins', () => inRange(null, { origins: ['web', 'cli'] })],
    ['profiles', () => inRange(null, { profiles: ['dev'] })],
    ['an empty model list', () => inRange(null, { models: [] })],
    [
      'everything at once',
      () =>
        inRange([a.project.id], {
          start: new Date('2025-01-05T00:00:00Z'),
          end: new Date('2025-02-20T00:00:00Z'),
          aliasNames: [null, 'summarizer', 'résumé-摘要'],
          models: ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-haiku-20241022'],
          providers: ['openai', 'anthropic'],
          origins: ['web', 'batch-job'],
          profiles: ['default', 'prod'],
        }),
    ],
  ];

  it.each(filters)('%s', async (_name, makeQuery) => {
    const q = makeQuery();
    const expected = all.filter((l) => matchesQuery(l, q));
    expectSummaryOf(await h.services.stats.summary(q), expected);
    const byAlias = await h.services.stats.byAlias(q);
    expect(
      keyed(
        byAlias,
        (r) => r.aliasName,
        (r) => totalsPart(r),
      ),
    ).toEqual(
      keyed(
        [...groupLogs(expected, (l) => l.aliasName)],
        ([k]) => k,
        ([, logs]) => totalsOf(logs),
      ),
    );
    const byPeriod = await h.services.stats.byPeriod(q, 'day', 'UTC');
    expect(sumTotals(byPeriod)).toEqual(totalsOf(expected));
    const byProject = await h.services.stats.breakdown(q, ['project'], 10_000);
    expect(
      keyed(
        byProject,
        (r) => r.projectId,
        (r) => totalsPart(r),
      ),
    ).toEqual(
      keyed(
        [...groupLogs(expected, (l) => l.projectId)],
        ([k]) => k,
        ([, logs]) => totalsOf(logs),
      ),
    );
  });

  it('the filters select what they say (the reference is not vacuous)', () => {
    const count = (q: UsageQuery) => all.filter((l) => matchesQuery(l, q)).length;
    expect(count(inRange(null, { aliasNames: [null] }))).toBeGreaterThan(0);
    expect(count(inRange(null, { aliasNames: ['a'.repeat(255)] }))).toBeGreaterThan(0);
    expect(count(inRange(null, { origins: ['web', 'cli'] }))).toBeGreaterThan(0);
    expect(count(inRange(null, { providers: ['anthropic'] }))).toBeGreaterThan(0);
    expect(count(inRange([b.project.id], { aliasNames: ['only-in-b'] }))).toBeGreaterThan(0);
  });
});

describe('isolation between projects', () => {
  it('never counts one project’s calls for another', async () => {
    const qa = inRange([a.project.id]);
    const qb = inRange([b.project.id]);
    expectSummaryOf(
      await h.services.stats.summary(qb),
      logsB.filter((l) => matchesQuery(l, qb)),
    );
    expect(await h.services.stats.byAlias(inRange([a.project.id], { aliasNames: ['only-in-b'] }))).toEqual(
      [],
    );
    const sa = await h.services.stats.summary(qa);
    const sb = await h.services.stats.summary(qb);
    const both = await h.services.stats.summary(inRange([a.project.id, b.project.id]));
    expect(totalsPart(both)).toEqual(sumTotals([sa, sb]));
    const byProject = await h.services.stats.breakdown(inRange(null), ['project']);
    expect(new Set(byProject.map((g) => g.projectId))).toEqual(new Set([a.project.id, b.project.id]));
  });

  it('a project caller’s resolved filter sees only its own project', async () => {
    const q = resolveUsageQuery(b.principal, { startDate: RANGE_START, endDate: RANGE_END });
    expect(q.projectIds).toEqual([b.project.id]);
    expectSummaryOf(
      await h.services.stats.summary(q),
      logsB.filter((l) => matchesQuery(l, q)),
    );
    const aliases = (await h.services.stats.byAlias(q)).map((r) => r.aliasName);
    expect(aliases).not.toContain('edge'); // only A has 'edge'
  });

  it('summariesByProject gives one summary per id asked, in order, zeros where there is no usage', async () => {
    const ids = [a.project.id, empty.project.id, b.project.id, '00000000-0000-4000-8000-000000000000'];
    const summaries = await h.services.stats.summariesByProject(ids, RANGE_START, RANGE_END);
    expect(summaries).toHaveLength(4);
    expectSummaryOf(
      summaries[0],
      logsA.filter((l) => matchesQuery(l, inRange([a.project.id]))),
    );
    expectSummaryOf(summaries[1], []);
    expectSummaryOf(
      summaries[2],
      logsB.filter((l) => matchesQuery(l, inRange([b.project.id]))),
    );
    expectSummaryOf(summaries[3], []);
    expect(await h.services.stats.summariesByProject([], RANGE_START, RANGE_END)).toEqual([]);
  });
});

/** The local wall-clock fields of an instant in a time zone. */
function localParts(date: Date, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    weekday: 'short',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return {
    weekday: get('weekday'),
    day: Number(get('day')),
    hour: Number(get('hour')),
    minute: Number(get('minute')),
    second: Number(get('second')),
  };
}

describe('time-zone bucketing across daylight-saving changes', () => {
  /** Each call's inputTokens is a distinct power of two, so a bucket's inputTokens says exactly which calls it holds. */
  async function seedAt(instants: string[]): Promise<SeededProject> {
    const project = await seedProject(h.services);
    await recordAll(
      h.services,
      project.caller,
      instants.map((iso, i) => ({
        provider: 'openai',
        model: 'gpt-4o',
        inputTokens: 2 ** i,
        outputTokens: 0,
        cost: 0.01,
        occurredAt: new Date(iso),
      })),
    );
    return project;
  }
  const calls = (...indexes: number[]) => indexes.reduce((sum, i) => sum + 2 ** i, 0);

  async function buckets(
    project: SeededProject,
    bucket: TimeBucket,
    timeZone: string,
    start: string,
    end: string,
  ) {
    const rows = await h.services.stats.byPeriod(
      { projectIds: [project.project.id], start: new Date(start), end: new Date(end) },
      bucket,
      timeZone,
    );
    // Every bucket starts on its boundary in local time.
    for (const row of rows) {
      const local = localParts(row.periodStart, timeZone);
      expect(local.minute).toBe(0);
      expect(local.second).toBe(0);
      if (bucket !== 'hour') expect(local.hour).toBe(0);
      if (bucket === 'week') expect(local.weekday).toBe('Mon');
      if (bucket === 'month') expect(local.day).toBe(1);
    }
    return rows.map((r) => ({
      start: r.periodStart.toISOString(),
      calls: r.inputTokens,
      requests: r.requests,
    }));
  }
  const bucket = (start: string, ...indexes: number[]) => ({
    start,
    calls: calls(...indexes),
    requests: indexes.length,
  });

  describe('America/New_York, spring forward on 2026-03-08 (02:00 EST -> 03:00 EDT)', () => {
    const TZ = 'America/New_York';
    let ny: SeededProject;
    beforeAll(async () => {
      ny = await seedAt([
        '2026-03-08T04:59:59.999Z', // 0: Sat Mar 7, 23:59:59.999 EST
        '2026-03-08T05:00:00.000Z', // 1: Sun Mar 8, 00:00 EST
        '2026-03-08T06:59:59.999Z', // 2: 01:59:59.999 EST
        '2026-03-08T07:00:00.000Z', // 3: 03:00 EDT
        '2026-03-09T03:59:59.999Z', // 4: Sun Mar 8, 23:59:59.999 EDT
        '2026-03-09T04:00:00.000Z', // 5: Mon Mar 9, 00:00 EDT
        '2026-02-28T23:00:00.000Z', // 6: Sat Feb 28, 18:00 EST
        '2026-03-01T04:59:59.000Z', // 7: Sat Feb 28, 23:59:59 EST
        '2026-03-01T05:00:00.000Z', // 8: Sun Mar 1, 00:00 EST
        '2026-03-31T23:30:00.000Z', // 9: Tue Mar 31, 19:30 EDT
        '2026-04-01T04:00:00.000Z', // 10: Wed Apr 1, 00:00 EDT
        '2026-03-08T06:30:00.000Z', // 11: 01:30 EST
        '2026-03-08T07:30:00.000Z', // 12: 03:30 EDT
      ]);
    });

    it('DAY buckets start at local midnight; March 8 is 23 hours long', async () => {
      expect(await buckets(ny, 'day', TZ, '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z')).toEqual([
        bucket('2026-03-07T05:00:00.000Z', 0),
        bucket('2026-03-08T05:00:00.000Z', 1, 2, 3, 4, 11, 12),
        bucket('2026-03-09T04:00:00.000Z', 5),
      ]);
    });

    it('HOUR buckets are consecutive instants across the skipped hour', async () => {
      expect(await buckets(ny, 'hour', TZ, '2026-03-08T05:00:00Z', '2026-03-08T09:00:00Z')).toEqual([
        bucket('2026-03-08T05:00:00.000Z', 1), // 00:00 EST
        bucket('2026-03-08T06:00:00.000Z', 2, 11), // 01:00 EST
        bucket('2026-03-08T07:00:00.000Z', 3, 12), // 03:00 EDT: 02:00 does not exist
      ]);
    });

    it('WEEK buckets start on Monday at local midnight', async () => {
      expect(await buckets(ny, 'week', TZ, '2026-02-01T00:00:00Z', '2026-04-30T00:00:00Z')).toEqual([
        bucket('2026-02-23T05:00:00.000Z', 6, 7, 8),
        bucket('2026-03-02T05:00:00.000Z', 0, 1, 2, 3, 4, 11, 12),
        bucket('2026-03-09T04:00:00.000Z', 5),
        bucket('2026-03-30T04:00:00.000Z', 9, 10),
      ]);
    });

    it('MONTH buckets start on the 1st at local midnight, EST or EDT', async () => {
      expect(await buckets(ny, 'month', TZ, '2026-02-01T00:00:00Z', '2026-04-30T00:00:00Z')).toEqual([
        bucket('2026-02-01T05:00:00.000Z', 6, 7),
        bucket('2026-03-01T05:00:00.000Z', 0, 1, 2, 3, 4, 5, 8, 9, 11, 12),
        bucket('2026-04-01T04:00:00.000Z', 10),
      ]);
    });

    it('the same calls bucket by UTC days in UTC', async () => {
      expect(await buckets(ny, 'day', 'UTC', '2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z')).toEqual([
        bucket('2026-03-08T00:00:00.000Z', 0, 1, 2, 3, 11, 12),
        bucket('2026-03-09T00:00:00.000Z', 4, 5),
      ]);
    });
  });

  describe('Europe/Berlin, fall back on 2026-10-25 (03:00 CEST -> 02:00 CET)', () => {
    const TZ = 'Europe/Berlin';
    let berlin: SeededProject;
    beforeAll(async () => {
      berlin = await seedAt([
        '2026-10-24T21:59:59.999Z', // 0: Sat Oct 24, 23:59:59.999 CEST
        '2026-10-24T22:00:00.000Z', // 1: Sun Oct 25, 00:00 CEST
        '2026-10-25T00:30:00.000Z', // 2: 02:30 CEST (the first 02:30)
        '2026-10-25T00:59:59.999Z', // 3: 02:59:59.999 CEST
        '2026-10-25T01:00:00.000Z', // 4: 02:00 CET (the second 02:00)
        '2026-10-25T01:30:00.000Z', // 5: 02:30 CET (the second 02:30)
        '2026-10-25T02:00:00.000Z', // 6: 03:00 CET
        '2026-10-25T22:59:59.999Z', // 7: Sun Oct 25, 23:59:59.999 CET
        '2026-10-25T23:00:00.000Z', // 8: Mon Oct 26, 00:00 CET
        '2026-10-31T22:59:59.000Z', // 9: Sat Oct 31, 23:59:59 CET
        '2026-10-31T23:00:00.000Z', // 10: Sun Nov 1, 00:00 CET
      ]);
    });

    it('DAY buckets start at local midnight; October 25 is 25 hours long', async () => {
      expect(await buckets(berlin, 'day', TZ, '2026-10-23T00:00:00Z', '2026-10-27T00:00:00Z')).toEqual([
        bucket('2026-10-23T22:00:00.000Z', 0),
        bucket('2026-10-24T22:00:00.000Z', 1, 2, 3, 4, 5, 6, 7),
        bucket('2026-10-25T23:00:00.000Z', 8),
      ]);
    });

    it('HOUR buckets keep the repeated local hour apart: two buckets labelled 02:00', async () => {
      expect(await buckets(berlin, 'hour', TZ, '2026-10-24T22:00:00Z', '2026-10-25T03:00:00Z')).toEqual([
        bucket('2026-10-24T22:00:00.000Z', 1), // 00:00 CEST
        bucket('2026-10-25T00:00:00.000Z', 2, 3), // 02:00 CEST
        bucket('2026-10-25T01:00:00.000Z', 4, 5), // 02:00 CET
        bucket('2026-10-25T02:00:00.000Z', 6), // 03:00 CET
      ]);
    });

    it('HOUR buckets in a half-hour zone (Asia/Kolkata, UTC+05:30) start on the local hour', async () => {
      expect(
        await buckets(berlin, 'hour', 'Asia/Kolkata', '2026-10-25T00:00:00Z', '2026-10-25T03:00:00Z'),
      ).toEqual([
        bucket('2026-10-25T00:30:00.000Z', 2, 3, 4), // 06:00 IST
        bucket('2026-10-25T01:30:00.000Z', 5, 6), // 07:00 IST
      ]);
    });

    it('WEEK buckets start on Monday at local midnight', async () => {
      expect(await buckets(berlin, 'week', TZ, '2026-10-01T00:00:00Z', '2026-11-15T00:00:00Z')).toEqual([
        bucket('2026-10-18T22:00:00.000Z', 0, 1, 2, 3, 4, 5, 6, 7),
        bucket('2026-10-25T23:00:00.000Z', 8, 9, 10),
      ]);
    });

    it('MONTH buckets start on the 1st at local midnight, CEST or CET', async () => {
      expect(await buckets(berlin, 'month', TZ, '2026-09-01T00:00:00Z', '2026-11-15T00:00:00Z')).toEqual([
        bucket('2026-09-30T22:00:00.000Z', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
        bucket('2026-10-31T23:00:00.000Z', 10),
      ]);
    });
  });

  it('rejects an unknown time zone, naming timeZone', async () => {
    const q = inRange([a.project.id]);
    for (const tz of ['Mars/Olympus_Mons', '', "UTC'; --", 'x'.repeat(65)]) {
      await expectServiceError(h.services.stats.byPeriod(q, 'day', tz), 'BAD_USER_INPUT', 'timeZone');
    }
  });
});
