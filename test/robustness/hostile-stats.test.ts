/**
 * Issue 22's findings about statistics and credentials, reproduced as the hostile client sent
 * them, over HTTP against the real server:
 *
 * - 2: a stats request over years 0001-9999, or in many spellings of one zone, neither blocks
 *   the event loop (/health keeps answering meanwhile) nor grows memory with each new
 *   spelling: the range is refused, the zone is looked up in a bounded list;
 * - 7: a zone Intl knows but Postgres does not ('US/Pacific-New'), and a year-0000 date, are
 *   client errors (BAD_USER_INPUT / HTTP 400), not INTERNAL_SERVER_ERROR with SQL in the log;
 * - 9: an empty X-API-Key beside a revoked bearer key is an invalid credential (401), not an
 *   anonymous request.
 */
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
  project = await createProjectWithKey(server, 'hostile-stats');
});
afterAll(() => server?.close());

const STATS = `query($f: UsageFilter, $z: String!) { usageStats(filter: $f, timeZone: $z, groupBy: DAY) {
  summary { requests } byPeriod { periodStart } } }`;

/**
 * The bound on a /health answer while hostile requests run (bench/hostile-health.ts measures
 * it against the 100 ms target). Before the fix one such request
 * held the event loop for 1.2-1.7 s; the bound sits well under that and well over what a
 * loaded two-core CI machine adds to a quick answer, so the check fails only on the finding.
 */
const HEALTH_MS = 750;

/** The longest /health answer while `work` runs, polling every 10 ms. */
async function slowestHealth(work: () => Promise<unknown>): Promise<number> {
  let slowest = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      const t = performance.now();
      await server.http('/health');
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    await work();
  } finally {
    done = true;
    await poll;
  }
  return slowest;
}

/** Case variations of one zone name: every one is a different string. */
function spellings(zone: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    out.push([...zone].map((c, j) => ((i >> j) & 1 ? c.toUpperCase() : c.toLowerCase())).join(''));
  }
  return out;
}

describe('finding 2: statistics requests are bounded before any work', () => {
  it('years 0001-9999 are refused at once, naming the range, while /health keeps answering', async () => {
    const requests = spellings('etc/universal', 16).map((z) =>
      server.gql(
        STATS,
        { f: { startDate: '0001-01-01T00:00:00Z', endDate: '9999-12-31T00:00:00Z' }, z },
        withKey(project.secret),
      ),
    );
    const slowest = await slowestHealth(() => Promise.all(requests));
    for (const res of await Promise.all(requests)) {
      expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.body.errors![0].extensions?.field).toBe('filter.startDate');
    }
    expect(slowest).toBeLessThan(HEALTH_MS);
    const rest = await server.http('/api/v1/stats?start_date=0001-01-01&end_date=9999-12-30', {
      headers: withKey(project.secret),
    });
    expect(rest.status).toBe(400);
  });

  it('hundreds of spellings of one zone in ten-year ranges: answered, /health fast, memory flat', async () => {
    const f = { startDate: '2016-01-02T00:00:00Z', endDate: '2026-01-01T00:00:00Z' };
    const ask = (z: string) => server.gql(STATS, { f, z }, withKey(project.secret));
    dataOf(await ask('Etc/Universal')); // warm: the zone list is read once
    global.gc?.();
    const before = process.memoryUsage().rss;
    const names = spellings('etc/universal', 200);
    let answers: Awaited<ReturnType<typeof ask>>[] = [];
    const slowest = await slowestHealth(async () => {
      for (let i = 0; i < names.length; i += 20) {
        answers = answers.concat(await Promise.all(names.slice(i, i + 20).map(ask)));
      }
    });
    for (const res of answers) expect(res.body.errors).toBeUndefined();
    expect(slowest).toBeLessThan(HEALTH_MS);
    // The zone list is the only cache: 200 new spellings add nothing per spelling to keep. The
    // finding grew RSS by ~10 MB a request (2 GB for these 200); the bound leaves room for the
    // server's workers and the test runner, which share this process (bench/hostile-health.ts
    // prints the growth itself).
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });
});

describe('finding 7: client input never becomes an internal error', () => {
  it.each([
    ['a zone Intl knows and Postgres does not', { z: 'US/Pacific-New' }, 'timeZone'],
    ['a date in year 0000', { z: 'UTC', f: { startDate: '0000-01-01T00:00:00Z' } }, 'filter.startDate'],
  ])('%s: BAD_USER_INPUT naming the field, nothing logged as an error', async (_what, variables, field) => {
    const res = await server.gql(STATS, variables, withKey(project.secret));
    expect([res.status, errorCodes(res)]).toEqual([200, ['BAD_USER_INPUT']]);
    expect(res.body.errors![0].extensions?.field).toBe(field);
    expect(server.logs()).not.toMatch(/"level":50[^\n]*usageStats/);
  });

  it('REST answers 400 for the same zone', async () => {
    const res = await server.http('/api/v1/stats?time_zone=US%2FPacific-New', {
      headers: withKey(project.secret),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { field: string }).field).toBe('time_zone');
  });
});

describe('finding 9: a credential header that is present but empty', () => {
  it('beside a revoked bearer key is an invalid credential: 401 on a public operation too', async () => {
    const revoked = await createProjectWithKey(server, 'hostile-stats-revoked');
    dataOf(
      await server.gql(
        'mutation($id: UUID!) { revokeApiKey(id: $id) { id } }',
        { id: revoked.apiKeyId },
        asAdmin,
      ),
    );
    const res = await server.gql(
      '{ receiptPublicKeys { keyId } }',
      {},
      {
        'X-API-Key': '',
        Authorization: `Bearer ${revoked.secret}`,
      },
    );
    expect([res.status, errorCodes(res)]).toEqual([401, ['UNAUTHENTICATED']]);
    expect(res.body.errors![0].message).not.toContain(revoked.secret);
  });
});
