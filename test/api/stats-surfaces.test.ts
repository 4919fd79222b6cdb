/**
 * Statistics as every surface serves them, through HTTP (GraphQL, REST) and the CLI, on the
 * same database: the same totals for the same range and zone, local days as dates, promoted
 * metadata keys, and the bounds on what may be asked (range, zone names), with errors that
 * name the field in each surface's own terms.
 */
import { runCli } from '../../src/cli/program';
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

const ZONE = 'America/Los_Angeles';
/** Logs around local midnights in Los Angeles (08:00 UTC in March before DST, 07:00 after). */
const TIMES = [
  '2025-03-01T07:30:00Z', // 28 Feb local
  '2025-03-01T08:30:00Z', // 1 Mar local
  '2025-03-09T06:59:00Z', // 8 Mar local (23:59 PST)
  '2025-03-10T06:30:00Z', // 9 Mar local (23:30 PDT, after the change)
  '2025-03-10T07:30:00Z', // 10 Mar local
  '2025-03-31T06:59:00Z', // 30 Mar local
  '2025-03-31T07:00:00Z', // 31 Mar local
  '2025-04-01T07:30:00Z', // 1 Apr local: outside March
];

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => ((out += s), true), once: () => undefined },
    stderr: { write: (s: string) => ((err += s), true), once: () => undefined },
    env: { LLMRING_ENV: 'test', LLMRING_METADATA_DIMENSIONS: 'feature' },
    db: server.app.db,
  });
  return { code, out, err };
}

beforeAll(async () => {
  server = await startTestServer({ LLMRING_METADATA_DIMENSIONS: 'feature' });
  project = await createProjectWithKey(server, 'surfaces');
  const inputs = TIMES.map((occurredAt, i) => ({
    provider: 'openai',
    model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini',
    aliasName: i % 3 ? 'summarizer' : null,
    inputTokens: 100 * (i + 1),
    outputTokens: 10 * (i + 1),
    cost: (i + 1) / 100,
    metadata: { feature: i % 2 ? 'chat' : 'search', user: `u${i}` },
    occurredAt,
  }));
  dataOf(
    await server.gql(
      'mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed } } }',
      { inputs },
      withKey(project.secret),
    ),
  );
  await server.app.services.rollups.runOnce();
});
afterAll(() => server.close());

/** March 2025 in Los Angeles, as the instants the API takes. */
const MARCH = { startDate: '2025-03-01T08:00:00.000Z', endDate: '2025-04-01T07:00:00.000Z' };

describe('the same range and zone on every surface', () => {
  it('GraphQL, REST and the CLI give the same totals and the same local days', async () => {
    const gql = dataOf(
      await server.gql(
        `query($f: UsageFilter) { usageStats(filter: $f, groupBy: DAY, timeZone: "${ZONE}") {
          summary { requests cost inputTokens } byPeriod { periodStart requests } asOf fromReplica } }`,
        { f: MARCH },
        withKey(project.secret),
      ),
    ).usageStats;
    expect(gql.summary).toEqual({ requests: 6, cost: 0.27, inputTokens: 2700 });
    expect(gql.fromReplica).toBe(false);
    expect(Math.abs(new Date(gql.asOf).getTime() - Date.now())).toBeLessThan(60_000);

    const rest = await server.http(
      `/api/v1/stats?start_date=2025-03-01&end_date=2025-03-31&time_zone=${encodeURIComponent(ZONE)}`,
      { headers: withKey(project.secret) },
    );
    expect(rest.status).toBe(200);
    const body = (await rest.json()) as {
      summary: unknown;
      by_day: Array<{ date: string; requests: number }>;
    };
    expect(body.summary).toMatchObject({ total_requests: 6, total_cost: '0.27000000' });
    // Local days, newest first: every bucket is a whole day of March in Los Angeles.
    expect(body.by_day.map((d: { date: string; requests: number }) => [d.date, d.requests])).toEqual([
      ['2025-03-31', 1],
      ['2025-03-30', 1],
      ['2025-03-10', 1],
      ['2025-03-09', 1],
      ['2025-03-08', 1],
      ['2025-03-01', 1],
    ]);
    expect(gql.byPeriod.map((p: { requests: number }) => p.requests)).toEqual([1, 1, 1, 1, 1, 1]);

    const cli = await run(
      'stats',
      '--project',
      'surfaces',
      '--start',
      '2025-03-01',
      '--end',
      '2025-03-31',
      '--time-zone',
      ZONE,
      '--group-by',
      'day',
      '--json',
    );
    expect(cli.code).toBe(0);
    const printed = JSON.parse(cli.out);
    expect(printed.summary).toMatchObject({ requests: 6, cost: '0.27000000', inputTokens: 2700 });
    expect(printed.start).toBe(MARCH.startDate);
    expect(printed.end).toBe(MARCH.endDate);
    expect(printed.byPeriod.map((p: { localStart: string }) => p.localStart.slice(0, 10))).toEqual(
      [...body.by_day.map((d: { date: string }) => d.date)].reverse(),
    );
  });
});

describe('promoted metadata keys', () => {
  it('filter and group usage in GraphQL and the CLI', async () => {
    const stats = dataOf(
      await server.gql(
        `query($f: UsageFilter, $chat: UsageFilter) {
          all: usageStats(filter: $f) { breakdown(by: [], metadataKeys: ["feature"]) { metadata { key value } requests } }
          chat: usageStats(filter: $chat) { summary { requests } breakdown(by: [ALIAS], metadataKeys: ["feature"]) { aliasName metadata { value } requests } }
        }`,
        { f: MARCH, chat: { ...MARCH, metadata: [{ key: 'feature', values: ['chat'] }] } },
        withKey(project.secret),
      ),
    );
    expect(stats.all.breakdown).toEqual(
      expect.arrayContaining([
        { metadata: [{ key: 'feature', value: 'chat' }], requests: 3 },
        { metadata: [{ key: 'feature', value: 'search' }], requests: 3 },
      ]),
    );
    expect(stats.chat.summary.requests).toBe(3);
    expect(
      stats.chat.breakdown.every(
        (g: { metadata: Array<{ value: string }> }) => g.metadata[0].value === 'chat',
      ),
    ).toBe(true);

    const cli = await run(
      'stats',
      '--project',
      'surfaces',
      '--start',
      '2025-03-01',
      '--end',
      '2025-03-31',
      '--time-zone',
      ZONE,
      '--metadata',
      'feature=chat',
      '--by-metadata',
      'feature',
      '--json',
    );
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.out).byMetadata.feature).toEqual([
      expect.objectContaining({ requests: 3, metadata: [{ key: 'feature', value: 'chat' }] }),
    ]);
  });

  it('are listed for any caller with a credential, and for nobody without', async () => {
    expect(dataOf(await server.gql('{ metadataDimensions }', {}, withKey(project.secret)))).toEqual({
      metadataDimensions: ['feature'],
    });
    expect(errorCodes(await server.gql('{ metadataDimensions }'))).toEqual(['UNAUTHENTICATED']);
  });

  it('refuse a key that is not promoted, naming it and the promoted ones', async () => {
    const res = await server.gql(
      '{ usageStats { breakdown(by: [], metadataKeys: ["user"]) { requests } } }',
      {},
      withKey(project.secret),
    );
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].message).toMatch(
      /metadataKeys: metadata key 'user' is not a promoted dimension \(the promoted keys are 'feature'/,
    );
    const filtered = await server.gql(
      'query($f: UsageFilter) { usageLogs(filter: $f) { edges { node { id } } } }',
      { f: { metadata: [{ key: 'user', values: ['u1'] }] } },
      withKey(project.secret),
    );
    expect(filtered.body.errors![0].extensions?.field).toBe('filter.metadata');
    const cli = await run('stats', '--metadata', 'user=u1');
    expect(cli.code).toBe(2);
    expect(cli.err).toMatch(/--metadata: metadata key 'user' is not a promoted dimension/);
  });
});

describe('what a caller may ask for', () => {
  it('a range over 10 years is refused, naming the field in each surface', async () => {
    const res = await server.gql(
      '{ usageStats(filter: { startDate: "2000-01-01T00:00:00Z", endDate: "2020-01-01T00:00:00Z" }) { summary { requests } } }',
      {},
      withKey(project.secret),
    );
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].message).toMatch(
      /^filter\.startDate: statistics cover at most 10 years at a time; this range is 20\.0 years long/,
    );
    const rest = await server.http('/api/v1/stats?start_date=0001-01-01&end_date=9999-12-30', {
      headers: withKey(project.secret),
    });
    expect(rest.status).toBe(400);
    expect(await rest.json()).toMatchObject({
      field: 'start_date',
      detail: expect.stringMatching(/^start_date: statistics cover at most 10 years/),
    });
    const cli = await run('stats', '--start', '2000-01-01', '--end', '2020-01-01');
    expect(cli.code).toBe(2);
    expect(cli.err).toMatch(/--start: statistics cover at most 10 years/);
  });

  it('dates outside years 1 to 9999 are refused as bad input, not failures', async () => {
    const res = await server.gql(
      '{ usageStats(filter: { startDate: "0000-01-01T00:00:00Z" }) { summary { requests } } }',
      {},
      withKey(project.secret),
    );
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].message).toMatch(
      /filter\.startDate: must be a date-time from year 1 to year 9999/,
    );
  });

  it.each([
    ['etc/universal', 'Etc/Universal'],
    ['EUROPE/berlin', 'Europe/Berlin'],
  ])('a zone in any case (%s) is the zone Postgres knows', async (given, canonical) => {
    const ask = (zone: string) =>
      server.gql(
        'query($z: String!, $f: UsageFilter) { usageStats(filter: $f, timeZone: $z) { byPeriod { periodStart requests } } }',
        { z: zone, f: MARCH },
        withKey(project.secret),
      );
    expect(dataOf(await ask(given))).toEqual(dataOf(await ask(canonical)));
  });

  it.each(['US/Pacific-New', 'EDT', 'UTC+3', 'Mars/Olympus_Mons', 'x'.repeat(100)])(
    'a zone that is not an IANA name Postgres has (%s) is refused before any work',
    async (zone) => {
      const res = await server.gql(
        'query($z: String!) { usageStats(timeZone: $z) { summary { requests } } }',
        { z: zone },
        asAdmin,
      );
      expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.body.errors![0].extensions?.field).toBe('timeZone');
      const rest = await server.http(`/api/v1/stats?time_zone=${encodeURIComponent(zone)}`, {
        headers: withKey(project.secret),
      });
      expect(rest.status).toBe(400);
      expect(((await rest.json()) as { field: string }).field).toBe('time_zone');
    },
  );
});

describe('credentials', () => {
  it('an empty credential header is an invalid credential, never anonymous', async () => {
    const revoked = await createProjectWithKey(server, 'surfaces-revoked');
    dataOf(
      await server.gql(
        'mutation($id: UUID!) { revokeApiKey(id: $id) { id } }',
        { id: revoked.apiKeyId },
        asAdmin,
      ),
    );
    const cases: Array<Record<string, string>> = [
      { 'X-API-Key': '', Authorization: `Bearer ${revoked.secret}` },
      { 'X-API-Key': '   ' },
      { Authorization: 'Bearer ' },
    ];
    for (const headers of cases) {
      const res = await server.gql('{ receiptPublicKeys { keyId } }', {}, headers);
      expect([res.status, errorCodes(res)]).toEqual([401, ['UNAUTHENTICATED']]);
      const rest = await server.http('/api/v1/stats', { headers });
      expect(rest.status).toBe(401);
    }
  });

  it('two different credentials in one request are refused; the same key twice is fine', async () => {
    const other = await createProjectWithKey(server, 'surfaces-other');
    const both = await server.gql(
      '{ currentProject { key } }',
      {},
      { 'X-API-Key': project.secret, Authorization: `Bearer ${other.secret}` },
    );
    expect([both.status, errorCodes(both)]).toEqual([401, ['UNAUTHENTICATED']]);
    expect(both.body.errors![0].message).toMatch(/different credentials/);
    const same = await server.gql(
      '{ currentProject { key } }',
      {},
      { 'X-API-Key': project.secret, Authorization: `Bearer ${project.secret}` },
    );
    expect(dataOf(same).currentProject.key).toBe('surfaces');
  });
});
