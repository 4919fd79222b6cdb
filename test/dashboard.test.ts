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
import { formatUsd } from '../dashboard/format';
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
