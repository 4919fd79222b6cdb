/**
 * GET /dashboard without a browser: the page and its bundle are served by the server itself with
 * nothing from elsewhere, and the page's calendar arithmetic agrees with the server's buckets.
 * The page in a real browser is tested by test/browser/dashboard.test.ts.
 */
import fc from 'fast-check';
import {
  addDays,
  bucketStarts,
  dateIn,
  dayRange,
  startOfDay,
  wallClock,
  type Bucket,
} from '../dashboard/time';
import { addDecimals, formatAsOf, formatUsd, formatUsdDecimal, formatUsdExact } from '../dashboard/format';
import { dashboardQuery, LOG_PAGE, LOGS_QUERY } from '../dashboard/queries';
import { startTestServer, withKey, type TestServer } from './helpers/server';

let s: TestServer;
let origin: string;

beforeAll(async () => {
  s = await startTestServer();
  origin = new URL(s.url).origin;
});
afterAll(() => s?.close());

const get = (path: string) => fetch(`${origin}${path}`, { redirect: 'manual' });

describe('GET /dashboard', () => {
  let html: string;
  let page: Response;

  beforeAll(async () => {
    page = await get('/dashboard');
    html = await page.text();
  });

  test('serves an HTML page that loads its own bundle and nothing else', async () => {
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const scripts = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)].map((m) => m[1]);
    const styles = [...html.matchAll(/<link\b[^>]*\bhref="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toEqual([expect.stringMatching(/^dashboard\/assets\/app-[A-Z0-9]+\.js$/)]);
    expect(styles).toEqual([expect.stringMatching(/^dashboard\/assets\/app-[A-Z0-9]+\.css$/)]);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<script\b(?![^>]*\bsrc=)[^>]*>/); // no inline script
  });

  test('forbids the page to load or contact anything but this server', () => {
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(page.headers.get('cache-control')).toBe('no-cache');
  });

  test('serves the bundle with JS and CSS content types, cacheable forever under its hashed name', async () => {
    const [jsPath, cssPath] = [/src="([^"]+\.js)"/, /href="([^"]+\.css)"/].map(
      (re) => `/${re.exec(html)![1]}`,
    );
    const js = await get(jsPath);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^(text|application)\/javascript/);
    expect(js.headers.get('cache-control')).toContain('immutable');
    const source = await js.text();
    expect(source).toContain('graphql'); // it is the dashboard, talking to /graphql
    // The only absolute URLs in the bundle are XML namespaces (uPlot's SVG), never fetched.
    const urls = [...source.matchAll(/https?:\/\/[^\s"'`)]+/g)].map((m) => m[0]);
    expect(urls.filter((u) => !u.startsWith('http://www.w3.org/'))).toEqual([]);
    expect(source.length).toBeLessThan(150 * 1024);
    // Node's fetch asks for gzip and decompresses: the bundle went over the wire compressed.
    expect(js.headers.get('content-encoding')).toBe('gzip');
    const plain = await fetch(`${origin}${jsPath}`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(source);

    const css = await get(cssPath);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await css.text()).not.toMatch(/url\(\s*["']?(https?:)?\/\//);
  });

  test('answers 404 for an unknown asset and redirects /dashboard/ to /dashboard', async () => {
    expect((await get('/dashboard/assets/app-NOPE.js')).status).toBe(404);
    const slash = await get('/dashboard/');
    expect(slash.status).toBe(308);
    expect(new URL(slash.headers.get('location')!, `${origin}/dashboard/`).pathname).toBe('/dashboard');
  });
});

describe('the page’s calendar arithmetic', () => {
  const zones = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
    'America/Santiago',
  ];

  test('a day starts at midnight in its zone, also on DST changes', () => {
    expect(new Date(startOfDay('2026-03-29', 'Europe/Berlin')).toISOString()).toBe(
      '2026-03-28T23:00:00.000Z',
    );
    expect(new Date(startOfDay('2026-03-30', 'Europe/Berlin')).toISOString()).toBe(
      '2026-03-29T22:00:00.000Z',
    );
    expect(new Date(startOfDay('2026-11-01', 'America/New_York')).toISOString()).toBe(
      '2026-11-01T04:00:00.000Z',
    );
    expect(new Date(startOfDay('2026-11-02', 'America/New_York')).toISOString()).toBe(
      '2026-11-02T05:00:00.000Z',
    );
    expect(dayRange('2026-01-01', '2026-01-31', 'Asia/Kolkata')).toEqual({
      startDate: '2025-12-31T18:30:00.000Z',
      endDate: '2026-01-31T18:30:00.000Z',
    });
  });

  test('startOfDay is the first instant of that date in the zone, for any date and zone', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2001-01-01'), max: new Date('2037-12-31'), noInvalidDate: true }),
        fc.constantFrom(...zones),
        (d, zone) => {
          const date = d.toISOString().slice(0, 10);
          const t = startOfDay(date, zone);
          expect(dateIn(t, zone)).toBe(date);
          expect(dateIn(t - 1000, zone)).toBe(addDays(date, -1));
        },
      ),
      { numRuns: 500 },
    );
  });

  test('bucket starts fall on hours, midnights, Mondays and 1sts in the zone', () => {
    const start = startOfDay('2026-02-20', 'Europe/Berlin');
    const end = startOfDay('2026-04-10', 'Europe/Berlin');
    const days = bucketStarts(start, end, 'DAY', 'Europe/Berlin');
    expect(days).toHaveLength(49);
    expect(days.every((t) => wallClock(t, 'Europe/Berlin').hour === 0)).toBe(true);
    const weeks = bucketStarts(start, end, 'WEEK', 'Europe/Berlin');
    expect(weeks[0]).toBeLessThanOrEqual(start);
    expect(
      weeks.map((t) =>
        new Date(t).toLocaleDateString('en-US', { weekday: 'short', timeZone: 'Europe/Berlin' }),
      ),
    ).toEqual(Array(weeks.length).fill('Mon'));
    const months = bucketStarts(start, end, 'MONTH', 'Europe/Berlin').map((t) => dateIn(t, 'Europe/Berlin'));
    expect(months).toEqual(['2026-02-01', '2026-03-01', '2026-04-01']);
    const hours = bucketStarts(
      startOfDay('2026-03-29', 'Europe/Berlin'),
      startOfDay('2026-03-30', 'Europe/Berlin'),
      'HOUR',
      'Europe/Berlin',
    );
    expect(hours).toHaveLength(23); // the night the clocks go forward
  });

  test('the server’s byPeriod buckets are among the page’s bucket starts', async () => {
    const now = Date.now();
    const inputs = [0, 1, 3, 9, 26, 40, 71, 130].map((hoursAgo, i) => ({
      provider: 'openai',
      model: 'gpt-4o',
      inputTokens: 10 + i,
      outputTokens: 5,
      cost: 0.001,
      occurredAt: new Date(now - hoursAgo * 3_600_000 - i * 61_000).toISOString(),
    }));
    const logged = await s.gql(
      'mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed } } }',
      { inputs },
      withKey(s.firstKey),
    );
    expect(logged.body.errors).toBeUndefined();
    for (const timeZone of ['Asia/Kolkata', 'America/New_York', 'Australia/Lord_Howe']) {
      const last = dateIn(now, timeZone);
      const range = dayRange(addDays(last, -9), last, timeZone);
      for (const bucket of ['HOUR', 'DAY', 'WEEK', 'MONTH'] as Bucket[]) {
        const res = await s.gql(
          'query($f: UsageFilter, $b: TimeBucket, $tz: String) { usageStats(filter: $f, groupBy: $b, timeZone: $tz) { byPeriod { periodStart } } }',
          { f: range, b: bucket, tz: timeZone },
          withKey(s.firstKey),
        );
        expect(res.body.errors).toBeUndefined();
        const starts = new Set(
          bucketStarts(Date.parse(range.startDate), Date.parse(range.endDate), bucket, timeZone),
        );
        const periods = res.body.data!.usageStats.byPeriod as Array<{ periodStart: string }>;
        expect(periods.length).toBeGreaterThan(0);
        for (const p of periods)
          expect({
            timeZone,
            bucket,
            start: p.periodStart,
            known: starts.has(Date.parse(p.periodStart)),
          }).toEqual({ timeZone, bucket, start: p.periodStart, known: true });
      }
    }
  });

  test('small costs keep their digits', () => {
    expect(formatUsd(0, 'en-US')).toBe('$0.00');
    expect(formatUsd(0.00015, 'en-US')).toBe('$0.000150');
    expect(formatUsd(0.268, 'en-US')).toBe('$0.2680');
    expect(formatUsd(0.1234, 'en-US')).toBe('$0.1234');
    expect(formatUsd(1234.567, 'en-US')).toBe('$1,234.57');
  });
});

describe('exact money', () => {
  test('a Decimal string is rounded exactly, with formatUsd’s digits', () => {
    expect(formatUsdDecimal('0.00000000', 'en-US')).toBe('$0.00');
    expect(formatUsdDecimal('0.00015000', 'en-US')).toBe('$0.000150');
    expect(formatUsdDecimal('0.26800000', 'en-US')).toBe('$0.2680');
    expect(formatUsdDecimal('1234.56700000', 'en-US')).toBe('$1,234.57');
    expect(formatUsdDecimal('0.00999999', 'en-US')).toBe('$0.010000');
    expect(formatUsdDecimal('-0.00450000', 'en-US', true)).toBe('-$0.004500');
    expect(formatUsdDecimal('0.00450000', 'en-US', true)).toBe('+$0.004500');
    // Past a float's precision: the float of this cost rounds up a cent it does not have.
    expect(formatUsdDecimal('1234567890123.00499999', 'en-US')).toBe('$1,234,567,890,123.00');
    expect(formatUsd(Number('1234567890123.00499999'), 'en-US')).toBe('$1,234,567,890,123.01');
  });

  test('every digit of a price or a bill line, at least cents', () => {
    expect(formatUsdExact('3.0000000000', 'en-US')).toBe('$3.00');
    expect(formatUsdExact('0.36000000', 'en-US')).toBe('$0.36');
    expect(formatUsdExact('0.0000015', 'en-US')).toBe('$0.0000015');
    expect(formatUsdExact('0.43350000', 'en-US')).toBe('$0.4335');
    expect(formatUsdExact('-0.00450000', 'en-US', true)).toBe('-$0.0045');
    expect(formatUsdExact('12', 'en-US')).toBe('$12.00');
  });

  test('sums of Decimal strings are exact where sums of floats are not', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(addDecimals(['0.10000000', '0.20000000'])).toBe('0.30000000');
    expect(addDecimals(['0.1', '0.00000002', '3'])).toBe('3.10000002');
    expect(addDecimals(['0.0045', '-0.0100'])).toBe('-0.0055');
    expect(addDecimals([])).toBe('0');
    const many = Array<string>(1000).fill('0.00000001');
    expect(addDecimals(many)).toBe('0.00001000');
    expect(() => addDecimals(['1e-8'])).toThrow(RangeError);
  });

  test('freshness reads as a time of day today, with its date otherwise', () => {
    const now = Date.parse('2026-03-03T12:00:00Z');
    expect(formatAsOf('2026-03-03T11:03:05.120Z', 'Europe/Berlin', now, 'en-US')).toBe('12:03:05');
    expect(formatAsOf('2026-03-02T22:59:59.000Z', 'Europe/Berlin', now, 'en-US')).toBe(
      'Mar 2, 2026, 23:59:59',
    );
  });
});

describe('the page’s requests', () => {
  test('one refresh is one request within the server’s limits, with as many metadata keys as may be promoted', async () => {
    const keys = Array.from({ length: 32 }, (_, i) => `key${i}`);
    const wide = await startTestServer({
      LLMRING_MAX_METADATA_DIMENSIONS: '32',
      LLMRING_METADATA_DIMENSIONS: keys.join(','),
    });
    try {
      const now = Date.now();
      const filter = {
        startDate: new Date(now - 30 * 86_400_000).toISOString(),
        endDate: new Date(now + 60_000).toISOString(),
      };
      const variables: Record<string, unknown> = {
        filter: { ...filter, metadata: [{ key: 'key3', values: ['x', null] }] },
        facetFilter: filter,
        groupBy: 'DAY',
        timeZone: 'Europe/Berlin',
        admin: false,
        ...filter,
        logs: LOG_PAGE,
      };
      keys.forEach((k, i) => (variables[`key${i}`] = k));
      const res = await wide.gql(dashboardQuery(keys.length), variables, withKey(wide.firstKey));
      expect(res.body.errors).toBeUndefined();
      const data = res.body.data!;
      expect(Object.keys(data).filter((k) => k.startsWith('metadata'))).toHaveLength(64);
      expect(data.stats.asOf).toEqual(expect.any(String));
      const more = await wide.gql(LOGS_QUERY, { filter, first: 20, after: null }, withKey(wide.firstKey));
      expect(more.body.errors).toBeUndefined();
    } finally {
      await wide.close();
    }
  });
});
