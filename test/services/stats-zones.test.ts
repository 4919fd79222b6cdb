/**
 * Time buckets in zones whose offsets are not whole hours, or change by 30 minutes, or that
 * are UTC under another name, around their actual transitions: the rollup path must equal a
 * raw aggregation in SQL, and both must equal each log's local date as an independent
 * reference (Intl) computes it. Also promoted metadata keys, from the rollups, in every zone.
 */
import type { TimeBucket, UsageQuery } from '../../src/domain/types';
import type { StatsService } from '../../src/services/stats';
import type { LogUsageInput } from '../../src/services/usage';
import {
  createServiceHarness,
  rawStats,
  withoutAsOf,
  recordAll,
  seedProject,
  seededRandom,
  type ServiceHarness,
} from '../helpers/fixtures';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

/** Zones, and a month around a transition of theirs (or any month). */
const CASES: Array<{ zone: string; from: string; why: string }> = [
  { zone: 'Asia/Pyongyang', from: '2015-08-01', why: '+09:00, then +08:30 from 15 August 2015' },
  { zone: 'America/Caracas', from: '2007-11-25', why: '-04:00, then -04:30 from 9 December 2007' },
  { zone: 'Asia/Kolkata', from: '2025-03-01', why: '+05:30 all year' },
  {
    zone: 'Australia/Lord_Howe',
    from: '2025-03-20',
    why: '+11:00 to +10:30 on 6 April 2025 (30-minute DST)',
  },
  { zone: 'Etc/UTC', from: '2025-03-01', why: 'UTC by another name' },
  { zone: 'Africa/Abidjan', from: '2025-03-01', why: 'GMT all year' },
  { zone: 'Europe/Berlin', from: '2025-03-20', why: '+01:00 to +02:00 on 30 March 2025' },
];

/** YYYY-MM-DD of an instant in a zone, by Intl (an implementation independent of Postgres's). */
function localDay(at: Date, zone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(at);
}

/** Logs on every hour of the month, at :05, :25, :35 and :55 past some of them. */
function logsOver(from: Date, days: number, random: () => number): LogUsageInput[] {
  const logs: LogUsageInput[] = [];
  for (let h = 0; h < days * 24; h++) {
    for (const minute of [5, 25, 35, 55]) {
      if (random() < 0.4) continue;
      logs.push({
        provider: 'openai',
        model: random() < 0.5 ? 'gpt-4o' : 'gpt-4o-mini',
        aliasName: random() < 0.5 ? 'summarizer' : null,
        inputTokens: 100 + Math.floor(random() * 1000),
        outputTokens: Math.floor(random() * 100),
        cost: Math.floor(random() * 1e6) / 1e8,
        metadata: random() < 0.8 ? { feature: random() < 0.5 ? 'chat' : 'search' } : {},
        occurredAt: new Date(from.getTime() + h * HOUR + minute * 60_000),
      });
    }
  }
  return logs;
}

let h: ServiceHarness;
let raw: StatsService;

beforeAll(async () => {
  h = await createServiceHarness({ LLMRING_METADATA_DIMENSIONS: 'feature' });
  raw = rawStats(h);
});
afterAll(() => h.close());

describe.each(CASES)('time buckets in $zone ($why)', ({ zone, from }) => {
  const start = new Date(`${from}T00:00:00Z`);
  const days = 28;
  let q: UsageQuery;
  let counts: Map<string, number>;

  beforeAll(async () => {
    const { caller, project } = await seedProject(h.services);
    const logs = logsOver(start, days, seededRandom(zone.length * 7919));
    // Most logs folded into the rollups, the last ones still raw (past the watermark).
    await recordAll(h.services, caller, logs.slice(0, -40));
    await h.services.rollups.runOnce();
    await recordAll(h.services, caller, logs.slice(-40));
    // The local days that lie wholly inside the logged span, by Intl.
    counts = new Map();
    for (const log of logs) {
      const day = localDay(log.occurredAt!, zone);
      counts.set(day, (counts.get(day) ?? 0) + 1);
    }
    q = { projectIds: [project.id], start, end: new Date(start.getTime() + days * DAY) };
  });

  it.each<TimeBucket>(['hour', 'day', 'week', 'month'])(
    '%s buckets from rollups equal raw logs',
    async (bucket) => {
      const request = { overview: true, byPeriod: { bucket, timeZone: zone } };
      const fast = withoutAsOf(await h.services.stats.query(q, request));
      const reference = withoutAsOf(await raw.query(q, request));
      expect(fast).toEqual(reference);
      expect(fast.byPeriod!.reduce((n, p) => n + p.requests, 0)).toBe(fast.overview!.summary.requests);
    },
  );

  it('puts every log in the local day Intl says it is in', async () => {
    const periods = await h.services.stats.byPeriod(q, 'day', zone);
    const byDay = new Map(periods.map((p) => [p.localStart.slice(0, 10), p.requests]));
    expect(byDay).toEqual(counts);
  });

  it('filters and groups by a promoted metadata key from the rollups exactly', async () => {
    const request = {
      overview: true,
      byPeriod: { bucket: 'day' as const, timeZone: zone },
      breakdowns: [
        { by: [], metadataKeys: ['feature'] },
        { by: ['alias' as const], metadataKeys: ['feature'] },
      ],
    };
    for (const metadata of [
      undefined,
      [{ key: 'feature', values: ['chat'] }],
      [{ key: 'feature', values: [null] }],
    ]) {
      const mq = { ...q, metadata };
      const fast = withoutAsOf(await h.services.stats.query(mq, request));
      const reference = withoutAsOf(await raw.query(mq, request));
      expect(fast).toEqual(reference);
      expect(fast.breakdowns[0].length).toBeGreaterThan(0);
    }
  });
});
