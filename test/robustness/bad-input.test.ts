/**
 * Bad input over HTTP, as a careless or hostile client would send it: every LogUsageInput field
 * with wrong types, negatives, NaN and Infinity, numbers past 2^31 and 2^53, empty and
 * multi-megabyte strings, NUL bytes and lone surrogates, deep, oversized or non-object metadata,
 * invalid dates and offsets; malformed cursors, unknown enum values and time zones; malformed
 * JSON bodies, wrong content types, a mutation over GET; the request limits (depth, aliases,
 * tokens, cost, directives, body size, batch size). Each gets a 4xx or a GraphQL error with the
 * expected code and a message naming the problem, never a 500, and stores nothing.
 *
 * Then fast-check sends random LogUsageInputs (valid ones with random fields replaced by random
 * JSON): every answer is either a success that stored exactly one complete row, or an error that
 * stored nothing.
 *
 * JSON cannot hold NaN, Infinity, lone surrogates or NUL literally: bodies are written as raw
 * JSON text so that `1e999`, `"\u0000"` and `"\ud800"` reach the server exactly as spelled.
 */
import fc from 'fast-check';
import {
  BUDGETS_QUERY,
  dashboardQuery,
  DELIVERIES_SHOWN,
  LOG_PAGE,
  LOGS_QUERY,
  PRICE_HISTORY_QUERY,
  PRICES_QUERY,
  SESSION_QUERY,
} from '../../dashboard/queries';
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  startSiblingServer,
  startTestServer,
  type TestProject,
  type TestServer,
} from '../helpers/server';

const BATCH_LIMIT = 50;

let server: TestServer;
let project: TestProject;

beforeAll(async () => {
  // A smaller batch limit than the default shows LLMRING_MAX_BATCH_SIZE takes effect.
  server = await startTestServer({ LLMRING_MAX_BATCH_SIZE: String(BATCH_LIMIT) });
  project = await createProjectWithKey(server, 'robust');
});
afterAll(() => server?.close());

const LOG =
  'mutation($input: LogUsageInput!) { logUsage(input: $input) { replayed usageLog { id } receipt { receiptId } } }';
const BATCH =
  'mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { usageLog { id } } } }';

interface Answer {
  status: number;
  text: string;
}

async function stored(): Promise<{ logs: number; receipts: number }> {
  const [{ n: logs }] = await server.app.db('usage_logs').count({ n: '*' });
  const [{ n: receipts }] = await server.app.db('receipts').count({ n: '*' });
  return { logs: Number(logs), receipts: Number(receipts) };
}

/** POSTs `body` as it is (raw text) to /graphql with the project's key. */
async function post(body: string, headers: Record<string, string> = {}, url = server.url): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': project.secret, ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

const BASE: Record<string, string> = {
  provider: '"openai"',
  model: '"gpt-4o"',
  inputTokens: '10',
  outputTokens: '5',
};

/** A logUsage request whose input has `field` set to the raw JSON text `value` (undefined: left out). */
function logUsageBody(field: string, value: string | undefined): string {
  const fields = { ...BASE };
  if (value === undefined) delete fields[field];
  else fields[field] = value;
  const input = `{${Object.entries(fields)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;
  return `{"query":${JSON.stringify(LOG)},"variables":{"input":${input}}}`;
}

/** The same with the input written inline in the document, `field: literal`. */
function inlineBody(field: string, literal: string): string {
  const query = `mutation { logUsage(input: {provider: "openai", model: "gpt-4o", inputTokens: 10, outputTokens: 5, ${field}: ${literal}}) { usageLog { id } } }`;
  return JSON.stringify({ query });
}

interface ErrorBody {
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
  data?: Record<string, unknown> | null;
  message?: string;
  statusCode?: number;
}

/**
 * The answer is a rejection: HTTP 4xx, or a GraphQL error with one of `codes` and no data; a
 * message matches `message`; nothing was stored.
 */
async function expectRejected(send: () => Promise<Answer>, codes: string[], message: RegExp) {
  const before = await stored();
  const { status, text } = await send();
  expect(status).toBeLessThan(500);
  expect(text).not.toContain('INTERNAL_SERVER_ERROR');
  let body: ErrorBody;
  try {
    body = JSON.parse(text) as ErrorBody;
  } catch {
    throw new Error(`not a JSON answer (HTTP ${status}): ${text.slice(0, 200)}`);
  }
  const messages = body.errors ? body.errors.map((e) => e.message) : [String(body.message)];
  if (body.errors) {
    expect(body.errors.map((e) => e.extensions?.code).filter((c) => !codes.includes(String(c)))).toEqual([]);
    expect(Object.values(body.data ?? {}).filter((v) => v !== null)).toEqual([]);
  } else {
    // A Fastify-level rejection: not GraphQL at all, so only a 4xx will do.
    expect(status).toBeGreaterThanOrEqual(400);
  }
  expect(messages.join(' | ')).toMatch(message);
  expect(await stored()).toEqual(before);
}

const INPUT = ['BAD_USER_INPUT'];
const INVALID = ['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED'];
const MB3 = 'x'.repeat(3 * 1024 * 1024);

const STRING_FIELDS = ['provider', 'model', 'aliasName', 'origin', 'idAtOrigin', 'profile', 'idempotencyKey'];
const INT_FIELDS = ['inputTokens', 'outputTokens', 'cachedInputTokens', 'latencyMs'];

/** [description, field, raw JSON value, message pattern] for LogUsageInput variables. */
const FIELD_CASES: Array<[string, string, string, RegExp]> = [];
for (const f of STRING_FIELDS) {
  const named = new RegExp(`input\\.${f}`);
  FIELD_CASES.push(
    [`${f} as a number`, f, '5', named],
    [`${f} as a boolean`, f, 'true', named],
    [`${f} as an object`, f, '{"a":1}', named],
    [`${f} as a list`, f, '["openai"]', named],
    [`${f} of 3 MiB`, f, JSON.stringify(MB3), new RegExp(`input\\.${f}.*at most \\d+ characters`)],
    [`${f} with a NUL byte`, f, '"gpt\\u0000"', new RegExp(`input\\.${f}.*NUL`)],
    [`${f} with a lone high surrogate`, f, '"gpt\\ud800"', new RegExp(`input\\.${f}.*surrogate`)],
    [`${f} with a lone low surrogate`, f, '"\\udc00gpt"', new RegExp(`input\\.${f}.*surrogate`)],
  );
}
for (const f of ['provider', 'model', 'profile', 'idempotencyKey']) {
  FIELD_CASES.push(
    [`${f} empty`, f, '""', new RegExp(`input\\.${f}.*empty`)],
    [`${f} only spaces`, f, '"   "', new RegExp(`input\\.${f}.*empty`)],
  );
}
for (const f of ['provider', 'model', 'inputTokens', 'outputTokens']) {
  FIELD_CASES.push(
    [`${f} null`, f, 'null', new RegExp(`input\\.${f}.*null`)],
    [`${f} missing`, f, undefined as unknown as string, new RegExp(`"${f}" of required type`)],
  );
}
for (const f of INT_FIELDS) {
  const named = new RegExp(`input\\.${f}`);
  FIELD_CASES.push(
    [`${f} as a numeric string`, f, '"5"', named],
    [`${f} as a hex string`, f, '"0x10"', named],
    [`${f} as a fraction`, f, '1.5', named],
    [`${f} as a boolean`, f, 'false', named],
    [`${f} as an object`, f, '{}', named],
    [`${f} as a list`, f, '[1]', named],
    [`${f} negative`, f, '-1', named],
    [`${f} "NaN"`, f, '"NaN"', named],
    [`${f} "Infinity"`, f, '"Infinity"', named],
    [`${f} 1e999 (Infinity)`, f, '1e999', named],
    [`${f} -1e999 (-Infinity)`, f, '-1e999', named],
    [`${f} 2^31`, f, '2147483648', new RegExp(`input\\.${f}.*at most 2147483647`)],
    [`${f} 2^53`, f, '9007199254740992', new RegExp(`input\\.${f}.*safe integer`)],
    [`${f} 2^64`, f, '18446744073709551616', named],
    [`${f} 1e21 (read as 1 by parseInt)`, f, '1e21', new RegExp(`input\\.${f}.*safe integer`)],
    [`${f} 1.5e300`, f, '1.5e300', new RegExp(`input\\.${f}.*safe integer`)],
  );
}
FIELD_CASES.push(
  ['cost as a string', 'cost', '"0.5"', /input\.cost/],
  ['cost as a boolean', 'cost', 'true', /input\.cost/],
  ['cost negative', 'cost', '-0.01', /input\.cost.*non-negative/],
  ['cost "NaN"', 'cost', '"NaN"', /input\.cost/],
  ['cost 1e999 (Infinity)', 'cost', '1e999', /input\.cost.*finite/],
  ['cost -1e999', 'cost', '-1e999', /input\.cost/],
  ['cost 1e300', 'cost', '1e300', /input\.cost.*finite number from 0 to/],
  ['cost 2^53', 'cost', '9007199254740992', /input\.cost.*finite number from 0 to/],
  [
    'cachedInputTokens over inputTokens',
    'cachedInputTokens',
    '11',
    /input\.cachedInputTokens.*must not exceed/,
  ],
  ['metadata as a list', 'metadata', '[{"a":1}]', /input\.metadata.*JSONObject/],
  ['metadata as a string', 'metadata', '"{\\"a\\":1}"', /input\.metadata.*JSONObject/],
  ['metadata as a number', 'metadata', '42', /input\.metadata.*JSONObject/],
  ['metadata as a boolean', 'metadata', 'true', /input\.metadata.*JSONObject/],
  [
    'metadata nested 21 levels',
    'metadata',
    `${'{"a":'.repeat(21)}1${'}'.repeat(21)}`,
    /input\.metadata.*nest/,
  ],
  [
    'metadata nested 100,000 levels',
    'metadata',
    `${'{"a":['.repeat(100_000)}1${']}'.repeat(100_000)}`,
    /input\.metadata.*nest/,
  ],
  ['metadata over 16 KiB', 'metadata', JSON.stringify({ s: 'x'.repeat(17_000) }), /input\.metadata.*bytes/],
  ['metadata with a 3 MiB string', 'metadata', JSON.stringify({ s: MB3 }), /input\.metadata.*bytes/],
  [
    'metadata with 100,000 keys',
    'metadata',
    JSON.stringify(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))),
    /input\.metadata.*bytes/,
  ],
  ['metadata with a NUL in a value', 'metadata', '{"a":"x\\u0000"}', /input\.metadata.*NUL/],
  ['metadata with a NUL in a key', 'metadata', '{"a\\u0000":1}', /input\.metadata.*NUL/],
  [
    'metadata with a lone surrogate in a value',
    'metadata',
    '{"a":["\\ud800"]}',
    /input\.metadata.*surrogate/,
  ],
  ['metadata with a lone surrogate in a key', 'metadata', '{"\\udfff":1}', /input\.metadata.*surrogate/],
  ['occurredAt not a date', 'occurredAt', '"yesterday"', /input\.occurredAt.*DateTime/],
  ['occurredAt month 13', 'occurredAt', '"2025-13-01T00:00:00Z"', /input\.occurredAt.*DateTime/],
  ['occurredAt February 30', 'occurredAt', '"2025-02-30T00:00:00Z"', /input\.occurredAt.*DateTime/],
  ['occurredAt hour 25', 'occurredAt', '"2025-01-01T25:00:00Z"', /input\.occurredAt.*DateTime/],
  ['occurredAt without an offset', 'occurredAt', '"2025-01-01T00:00:00"', /input\.occurredAt.*DateTime/],
  [
    'occurredAt with offset +25:00',
    'occurredAt',
    '"2025-01-01T00:00:00+25:00"',
    /input\.occurredAt.*DateTime/,
  ],
  [
    'occurredAt with a zone name',
    'occurredAt',
    '"2025-01-01T00:00:00 Europe/Berlin"',
    /input\.occurredAt.*DateTime/,
  ],
  [
    'occurredAt with a bracketed zone',
    'occurredAt',
    '"2025-01-01T00:00:00Z[Europe/Berlin]"',
    /input\.occurredAt.*DateTime/,
  ],
  ['occurredAt as epoch milliseconds', 'occurredAt', '1735689600000', /input\.occurredAt.*DateTime/],
  ['occurredAt empty', 'occurredAt', '""', /input\.occurredAt.*DateTime/],
  ['occurredAt in year 0', 'occurredAt', '"0000-01-01T00:00:00Z"', /input\.occurredAt.*after 2000-01-01/],
  ['occurredAt in 1999', 'occurredAt', '"1999-12-31T23:59:59Z"', /input\.occurredAt.*after 2000-01-01/],
  ['occurredAt in 9999', 'occurredAt', '"9999-12-31T23:59:59Z"', /input\.occurredAt.*future/],
  [
    'occurredAt past the end of time',
    'occurredAt',
    '"+275760-09-13T00:00:01Z"',
    /input\.occurredAt.*DateTime/,
  ],
  ['an unknown field', 'colour', '"red"', /"colour" is not defined by type "LogUsageInput"/],
);

describe('every LogUsageInput field, as a variable', () => {
  test.each(FIELD_CASES)('%s', (_name, field, value, message) =>
    expectRejected(() => post(logUsageBody(field, value)), INPUT, message),
  );

  test.each([
    ['input null', 'null', /\$input.*null/],
    ['input a list', '[{"provider":"openai"}]', /\$input/],
    ['input a string', '"openai"', /\$input/],
  ])('%s', (_name, input, message) =>
    expectRejected(
      () => post(`{"query":${JSON.stringify(LOG)},"variables":{"input":${input}}}`),
      INPUT,
      message,
    ),
  );

  test('no variables at all', () =>
    expectRejected(() => post(JSON.stringify({ query: LOG })), INPUT, /\$input.*was not provided/));
});

describe('LogUsageInput fields written inline in the document', () => {
  test.each([
    ['inputTokens as a string', 'inputTokens', '"5"', /integer/],
    ['inputTokens as a fraction', 'inputTokens', '1.5', /integer/],
    ['inputTokens negative', 'inputTokens', '-1', /non-negative/],
    ['inputTokens 1e999', 'inputTokens', '1e999', /integer/],
    ['inputTokens 2^53', 'inputTokens', '9007199254740992', /safe integer/],
    ['latencyMs 2^31', 'latencyMs', '2147483648', /input\.latencyMs.*at most 2147483647/],
    ['cost NaN', 'cost', 'NaN', /floating point/],
    ['cost as a string', 'cost', '"0.5"', /floating point/],
    ['cost negative', 'cost', '-0.5', /non-negative/],
    ['metadata as a list', 'metadata', '[1]', /JSONObject/],
    ['metadata as a string', 'metadata', '"x"', /JSONObject/],
    ['aliasName with a NUL escape', 'aliasName', '"a\\u0000"', /input\.aliasName.*NUL/],
    ['aliasName with a lone surrogate escape', 'aliasName', '"a\\ud800"', /Unicode escape/],
    ['occurredAt invalid', 'occurredAt', '"2025-02-30T00:00:00Z"', /DateTime/],
    ['an unknown enum-like value', 'profile', 'PROD', /String cannot represent/],
  ])('%s', (_name, field, literal, message) =>
    expectRejected(
      () => post(inlineBody(field, literal)),
      ['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED'],
      message,
    ),
  );
});

describe('logUsageBatch', () => {
  const item = { provider: 'openai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1 };

  test(`over LLMRING_MAX_BATCH_SIZE (${BATCH_LIMIT} here): BAD_USER_INPUT naming the limit`, () =>
    expectRejected(
      () => post(JSON.stringify({ query: BATCH, variables: { inputs: Array(BATCH_LIMIT + 1).fill(item) } })),
      INPUT,
      new RegExp(`inputs: a batch holds at most ${BATCH_LIMIT} items.*LLMRING_MAX_BATCH_SIZE`),
    ));

  test('one bad item among good ones: BAD_USER_INPUT naming the item, nothing stored', () =>
    expectRejected(
      () =>
        post(
          `{"query":${JSON.stringify(BATCH)},"variables":{"inputs":[${JSON.stringify(item)},{"provider":"openai","model":"gpt-4o","inputTokens":1,"outputTokens":1,"aliasName":"\\u0000"}]}}`,
        ),
      INPUT,
      /inputs\[1\]\.aliasName.*NUL/,
    ));

  test('inputs not a list of objects', () =>
    expectRejected(
      () => post(`{"query":${JSON.stringify(BATCH)},"variables":{"inputs":[1,"x",null]}}`),
      INPUT,
      /\$inputs/,
    ));

  test(`exactly ${BATCH_LIMIT} items are stored`, async () => {
    const before = await stored();
    const res = await server.gql(
      BATCH,
      { inputs: Array(BATCH_LIMIT).fill(item) },
      { 'x-api-key': project.secret },
    );
    expect(dataOf(res).logUsageBatch.results).toHaveLength(BATCH_LIMIT);
    expect((await stored()).logs).toBe(before.logs + BATCH_LIMIT);
  });
});

describe('reads with bad arguments', () => {
  const cursor = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
  const UUID = '0b3c51c5-7c0d-4c5c-9a59-2d1c0b0a0e0f';
  const CURSORS: Array<[string, string]> = [
    ['not base64', '!!!'],
    ['base64 of nonsense', cursor('hello')],
    ['no id', cursor('1700000000000000:')],
    ['an id that is no UUID', cursor('1700000000000000:abc')],
    ['a negative timestamp', cursor(`-1:${UUID}`)],
    ['a timestamp past bigint', cursor(`99999999999999999999:${UUID}`)],
    ['a timestamp past year 9999', cursor(`9999999999999999999:${UUID}`)],
    ['10,000 characters', 'A'.repeat(10_000)],
    ['a NUL byte', 'abc\u0000'],
    ['a lone surrogate', 'abc\ud800'],
  ];
  test.each(
    CURSORS.flatMap(([name, after]) => [
      ['usageLogs', name, after] as const,
      ['receipts', name, after] as const,
    ]),
  )('%s with a cursor of %s: BAD_USER_INPUT naming after', (field, _name, after) =>
    expectRejected(
      () =>
        post(
          JSON.stringify({
            query: `query($after: String) { ${field}(after: $after) { edges { cursor } } }`,
            variables: { after },
          }),
        ),
      INPUT,
      /after: is not a cursor returned by this API/,
    ),
  );

  test.each([
    [
      'groupBy: YEAR (literal)',
      '{ usageStats(groupBy: YEAR) { summary { requests } } }',
      {},
      /"YEAR" does not exist in "TimeBucket"/,
    ],
    [
      'groupBy: "DAY" (a string literal)',
      '{ usageStats(groupBy: "DAY") { summary { requests } } }',
      {},
      /TimeBucket/,
    ],
    [
      'groupBy: YEAR (variable)',
      'query($g: TimeBucket) { usageStats(groupBy: $g) { summary { requests } } }',
      { g: 'YEAR' },
      /"YEAR" does not exist in "TimeBucket"/,
    ],
    [
      'groupBy: day (lowercase variable)',
      'query($g: TimeBucket) { usageStats(groupBy: $g) { summary { requests } } }',
      { g: 'day' },
      /TimeBucket/,
    ],
    ['breakdown by: [COLOR]', '{ usageStats { breakdown(by: [COLOR]) { requests } } }', {}, /UsageDimension/],
    [
      'breakdown by: [] ',
      '{ usageStats { breakdown(by: []) { requests } } }',
      {},
      /by: name at least one dimension/,
    ],
    [
      'breakdown limit: 0',
      '{ usageStats { breakdown(by: [MODEL], limit: 0) { requests } } }',
      {},
      /limit: must be from 1/,
    ],
    [
      'timeZone Mars/Olympus_Mons',
      '{ usageStats(timeZone: "Mars/Olympus_Mons") { byPeriod { periodStart } } }',
      {},
      /timeZone.*not a time zone this server knows/,
    ],
    ['timeZone empty', '{ usageStats(timeZone: "") { byPeriod { periodStart } } }', {}, /timeZone/],
    ['timeZone +05:00', '{ usageStats(timeZone: "+05:00") { byPeriod { periodStart } } }', {}, /timeZone/],
    [
      'timeZone with a NUL',
      'query($tz: String) { usageStats(timeZone: $tz) { byPeriod { periodStart } } }',
      { tz: 'UTC\u0000' },
      /timeZone/,
    ],
    [
      'timeZone of 100,000 characters',
      'query($tz: String) { usageStats(timeZone: $tz) { byPeriod { periodStart } } }',
      { tz: 'Europe/'.repeat(15_000) },
      /timeZone/,
    ],
    [
      'startDate not a date',
      '{ usageStats(filter: { startDate: "last week" }) { summary { requests } } }',
      {},
      /DateTime/,
    ],
    [
      'startDate February 30',
      'query($f: UsageFilter) { usageStats(filter: $f) { summary { requests } } }',
      { f: { startDate: '2025-02-30T00:00:00Z' } },
      /DateTime/,
    ],
    [
      'startDate after endDate',
      '{ usageStats(filter: { startDate: "2025-02-01T00:00:00Z", endDate: "2025-01-01T00:00:00Z" }) { summary { requests } } }',
      {},
      /filter\.startDate: must be before the end of the range/,
    ],
    [
      'projectId not a UUID',
      '{ usageLogs(filter: { projectId: "robust" }) { edges { cursor } } }',
      {},
      /UUID/,
    ],
    [
      '1001 models in a filter',
      'query($m: [String!]) { usageLogs(filter: { models: $m }) { edges { cursor } } }',
      { m: Array.from({ length: 1001 }, (_, i) => `m${i}`) },
      /filter\.models: must have at most 1000/,
    ],
    [
      'a model with a NUL in a filter',
      'query($m: [String!]) { usageLogs(filter: { models: $m }) { edges { cursor } } }',
      { m: ['gpt\u0000'] },
      /filter\.models.*NUL/,
    ],
    ['first: -1', '{ usageLogs(first: -1) { edges { cursor } } }', {}, /first: must be from 0 to 500/],
    ['first: 501', '{ receipts(first: 501) { edges { cursor } } }', {}, /first: must be from 0 to 500/],
    ['first: 2^31', '{ usageLogs(first: 2147483648) { edges { cursor } } }', {}, /Int cannot represent/],
    [
      'first: "10" (a string variable)',
      'query($n: Int) { usageLogs(first: $n) { edges { cursor } } }',
      { n: '10' },
      /Int cannot represent/,
    ],
    [
      'receipt with a NUL in its id',
      'query($r: String!) { receipt(receiptId: $r) { receiptId } }',
      { r: 'rcpt_\u0000' },
      /receiptId.*NUL/,
    ],
  ])('%s', (_name, query, variables, message) =>
    expectRejected(() => post(JSON.stringify({ query, variables })), INVALID, message),
  );
});

describe('HTTP bodies and methods', () => {
  test.each([
    ['truncated JSON', '{"query": ', /not valid JSON/],
    ['JSON with trailing garbage', '{"query": "{ __typename }"} x', /JSON/],
    ['JSON with unquoted keys', '{query: "{ __typename }"}', /JSON/],
    ['an empty body', '', /body is empty/],
    ['a lone NUL byte', '\u0000', /JSON/],
    ['a __proto__ key', '{"query": "{ __typename }", "__proto__": {"admin": true}}', /"__proto__" key/],
    [
      'a __proto__ key in metadata',
      `{"query": ${JSON.stringify(LOG)}, "variables": {"input": {"provider": "openai", "model": "gpt-4o", "inputTokens": 1, "outputTokens": 1, "metadata": {"__proto__": []}}}}`,
      /"__proto__" key.*metadata included/,
    ],
    [
      'a constructor.prototype key',
      '{"query": "{ __typename }", "variables": {"constructor": {"prototype": {}}}}',
      /"constructor" key holding "prototype"/,
    ],
    ['JSON null', 'null', /POST body/],
    ['a JSON string', '"{ __typename }"', /POST body/],
    ['a JSON list (a batch)', '[{"query": "{ __typename }"}]', /batching/i],
    ['query as a number', '{"query": 5}', /must be strings/],
    ['no query', '{"variables": {}}', /query/],
    ['variables as a string', `{"query": ${JSON.stringify(LOG)}, "variables": "{}"}`, /variables/],
    ['operationName as an object', '{"query": "{ __typename }", "operationName": {}}', /operationName/],
    ['a document that does not parse', '{"query": "mutation { logUsage(input: { "}', /Syntax Error/],
  ])('%s: 400', async (_name, body, message) => {
    await expectRejected(
      async () => {
        const answer = await post(body);
        expect(answer.status).toBe(400);
        return answer;
      },
      ['BAD_REQUEST', 'GRAPHQL_PARSE_FAILED'],
      message,
    );
  });

  const mutation = JSON.stringify({
    query:
      'mutation { logUsage(input: {provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1}) { usageLog { id } } }',
  });
  test.each([
    ['text/plain', 400, /CSRF|Content-Type/i],
    ['application/x-www-form-urlencoded', 415, /Unsupported Media Type/],
    ['multipart/form-data; boundary=x', 415, /Unsupported Media Type/],
    ['application/xml', 415, /Unsupported Media Type/],
    ['application/json; charset=utf-16', 415, /charset 'utf-16': request bodies must be UTF-8/],
    ['application/json; charset=latin1', 415, /charset 'latin1'/],
  ])('a mutation sent as %s: %s', async (contentType, status, message) => {
    await expectRejected(
      async () => {
        const answer = await post(mutation, { 'content-type': contentType });
        expect(answer.status).toBe(status);
        return answer;
      },
      ['BAD_REQUEST'],
      message,
    );
  });

  test('a mutation without a content-type: 4xx', () =>
    expectRejected(
      async () => {
        const res = await fetch(server.url, {
          method: 'POST',
          headers: { 'x-api-key': project.secret },
          body: new Blob([mutation]),
        });
        return { status: res.status, text: await res.text() };
      },
      ['BAD_REQUEST'],
      /Media Type|Content-Type|CSRF/i,
    ));

  test('a mutation over GET: 405, not executed', () =>
    expectRejected(
      async () => {
        const query = encodeURIComponent(JSON.parse(mutation).query);
        const res = await fetch(`${server.url}?query=${query}`, {
          headers: { 'x-api-key': project.secret, 'apollo-require-preflight': 'true' },
        });
        expect(res.status).toBe(405);
        return { status: res.status, text: await res.text() };
      },
      ['BAD_REQUEST'],
      /GET requests only support query operations, not mutation/,
    ));

  test('a body of 5 MiB: 413 naming LLMRING_MAX_BODY_BYTES', () =>
    expectRejected(
      async () => {
        const answer = await post(logUsageBody('aliasName', JSON.stringify('x'.repeat(5 * 1024 * 1024))));
        expect(answer.status).toBe(413);
        return answer;
      },
      [],
      /larger than the server's limit of 4194304 bytes \(LLMRING_MAX_BODY_BYTES\)/,
    ));
});

describe('operation limits', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startSiblingServer(server, {
      LLMRING_MAX_QUERY_DEPTH: '4',
      LLMRING_MAX_ALIASES: '3',
      LLMRING_MAX_TOKENS: '60',
      LLMRING_MAX_QUERY_COST: '50',
      LLMRING_MAX_DIRECTIVES: '2',
      LLMRING_MAX_BODY_BYTES: '2048',
    });
  });
  afterAll(() => limited?.close());

  const send = (query: string) => () => post(JSON.stringify({ query }), {}, limited.url);

  test.each([
    [
      'depth',
      '{ usageLogs { edges { node { receipt { receiptId } } } } }',
      /Query depth limit of 4 exceeded, found 5.*LLMRING_MAX_QUERY_DEPTH/,
    ],
    [
      'aliases',
      '{ a: currentProject { id } b: currentProject { id } c: currentProject { id } d: currentProject { id } }',
      /Aliases limit of 3 exceeded, found 4.*LLMRING_MAX_ALIASES/,
    ],
    [
      'cost',
      '{ usageLogs(first: 10) { edges { node { id model } } } }',
      /Query Cost limit of 50 exceeded.*LLMRING_MAX_QUERY_COST/,
    ],
    [
      'directives',
      '{ currentProject @include(if: true) { id @skip(if: false) key @skip(if: false) } }',
      /Directives limit of 2 exceeded, found 3.*LLMRING_MAX_DIRECTIVES/,
    ],
  ])(
    '%s over its limit: GRAPHQL_VALIDATION_FAILED (400) naming the setting',
    async (_name, query, message) => {
      await expectRejected(send(query), ['GRAPHQL_VALIDATION_FAILED'], message);
      expect((await send(query)()).status).toBe(400);
    },
  );

  test('tokens over the limit: GRAPHQL_PARSE_FAILED (400) naming LLMRING_MAX_TOKENS', async () => {
    const query = `{ ${Array(61).fill('__typename').join(' ')} }`;
    await expectRejected(
      send(query),
      ['GRAPHQL_PARSE_FAILED'],
      /Token limit of 60 exceeded.*LLMRING_MAX_TOKENS/,
    );
    expect((await send(query)()).status).toBe(400);
  });

  test('a logUsage within every limit still works there', async () => {
    const before = await stored();
    const { status, text } = await post(logUsageBody('aliasName', '"limits"'), {}, limited.url);
    expect(status).toBe(200);
    expect(JSON.parse(text).data.logUsage.usageLog.id).toBeTruthy();
    expect((await stored()).logs).toBe(before.logs + 1);
  });

  test('a body over LLMRING_MAX_BODY_BYTES: 413 with the configured number', () =>
    expectRejected(
      () => post(logUsageBody('aliasName', JSON.stringify('x'.repeat(3000))), {}, limited.url),
      [],
      /limit of 2048 bytes \(LLMRING_MAX_BODY_BYTES\)/,
    ));

  test("the default limits let the dashboard's queries through", async () => {
    // The dashboard's own documents (dashboard/queries.ts, what the browser bundle sends); its
    // request with the most metadata keys a server may promote is in test/dashboard.test.ts.
    const documents = [
      dashboardQuery(0),
      LOGS_QUERY,
      PRICES_QUERY,
      PRICE_HISTORY_QUERY,
      SESSION_QUERY,
      BUDGETS_QUERY,
    ];
    // Statistics cover at most 10 years at a time.
    const window = { startDate: '2020-01-01T00:00:00Z', endDate: '2030-01-01T00:00:00Z' };
    const variables = {
      filter: window,
      facetFilter: window,
      groupBy: 'DAY',
      timeZone: 'Europe/Berlin',
      admin: true,
      logs: LOG_PAGE,
      first: LOG_PAGE,
      deliveries: DELIVERIES_SHOWN,
      after: null,
      projectId: null,
      provider: 'openai',
      model: 'gpt-4o',
      ...window,
    };
    for (const query of documents) {
      const res = await server.gql(query, variables, asAdmin);
      expect(res.body.errors ?? []).toEqual([]);
      expect(res.status).toBe(200);
    }
  });

  test('the default limits let a 1000-item logUsageBatch written inline, with every field, parse', async () => {
    const item = (i: number) =>
      `{provider: "openai", model: "gpt-4o", aliasName: "a${i}", inputTokens: 100, outputTokens: 10, cachedInputTokens: 5, cost: 0.01, latencyMs: 250, origin: "svc", idAtOrigin: "resp_${i}", profile: "prod", metadata: {team: "core", tags: ["x", "y"]}, occurredAt: "2025-01-01T00:00:00Z", idempotencyKey: "inline-${i}"}`;
    const query = `mutation { logUsageBatch(inputs: [${Array.from({ length: 1000 }, (_, i) => item(i)).join(' ')}]) { results { replayed } } }`;
    // This server's batch limit is 50: the document passes parsing and validation and reaches the service.
    await expectRejected(
      () => post(JSON.stringify({ query })),
      INPUT,
      /a batch holds at most 50 items \(got 1000/,
    );
  });
});

describe('fuzzing LogUsageInput', () => {
  const FIELDS = [...STRING_FIELDS, ...INT_FIELDS, 'cost', 'metadata', 'occurredAt'] as const;
  const INFINITY = '\u0001inf\u0001';
  const weirdChar = fc.oneof(
    fc.constantFrom('\u0000', '\ud800', '\udfff', '\u2028', '\ufeff', '"', '\\', 'é', '😀', ' '),
    fc.string({ minLength: 1, maxLength: 1 }),
  );
  const weirdString = fc.oneof(
    fc.string({ unit: weirdChar, maxLength: 40 }),
    fc.string({ maxLength: 300 }),
    fc.constantFrom('', ' ', 'NaN', 'Infinity', '-1', '1e999', '2025-02-30T00:00:00Z', 'x'.repeat(256)),
  );
  const anyValue: fc.Arbitrary<unknown> = fc.oneof(
    weirdString,
    fc.integer(),
    fc.double(), // NaN and ±Infinity serialize to null
    fc.constantFrom(INFINITY, 2 ** 31, 2 ** 53, -0, 0.5, -1, null, true, [], {}),
    fc.jsonValue({ maxDepth: 4 }),
    fc.dictionary(weirdString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  );
  const valid = fc.record(
    {
      provider: fc.constantFrom('openai', 'anthropic', 'google', 'acme'),
      model: fc.constantFrom('gpt-4o', 'gpt-4.1', 'claude-sonnet-4', 'unknown-model'),
      aliasName: fc.string({ maxLength: 20 }),
      inputTokens: fc.nat({ max: 1_000_000 }),
      outputTokens: fc.nat({ max: 100_000 }),
      cost: fc.double({ min: 0, max: 1000, noNaN: true }),
      latencyMs: fc.nat({ max: 600_000 }),
      origin: fc.string({ maxLength: 20 }),
      idAtOrigin: fc.string({ maxLength: 20 }),
      profile: fc.constantFrom('default', 'prod', 'dev'),
      metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
      occurredAt: fc
        .date({ min: new Date('2000-01-02T00:00:00Z'), max: new Date(), noInvalidDate: true })
        .map((d) => d.toISOString()),
      idempotencyKey: fc.uuid(),
    },
    { requiredKeys: ['provider', 'model', 'inputTokens', 'outputTokens'] },
  );
  const mutation = fc.record({
    field: fc.constantFrom(...FIELDS),
    value: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 6, arbitrary: anyValue }),
  });
  const fuzzedInput = fc.tuple(valid, fc.array(mutation, { maxLength: 3 })).map(([input, changes]) => {
    const out: Record<string, unknown> = { ...input };
    for (const { field, value } of changes) {
      if (value === undefined) delete out[field];
      else out[field] = value;
    }
    return out;
  });

  test('every answer is a success with exactly one complete new row, or an error with none', async () => {
    let successes = 0;
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(fuzzedInput, async (input) => {
        const before = await stored();
        const body = `{"query":${JSON.stringify(LOG)},"variables":{"input":${JSON.stringify(input).replaceAll(`"${INFINITY}"`, '1e999')}}}`;
        const { status, text } = await post(body);
        expect(status).toBeLessThan(500);
        const parsed = JSON.parse(text) as {
          data?: {
            logUsage: { replayed: boolean; usageLog: { id: string }; receipt: { receiptId: string } } | null;
          };
          errors?: Array<{ message: string; extensions?: { code?: string } }>;
        };
        const after = await stored();
        const result = parsed.data?.logUsage;
        if (result && !parsed.errors) {
          successes++;
          expect(status).toBe(200);
          const added = result.replayed ? 0 : 1;
          expect(after).toEqual({ logs: before.logs + added, receipts: before.receipts + added });
          const row = await server.app.db('usage_logs').where({ id: result.usageLog.id }).first();
          expect(row).toBeDefined();
          expect(row.project_id).toBe(project.id);
          // A replay returns the first call's row, whatever this input said.
          const sent = result.replayed
            ? null
            : (JSON.parse(JSON.stringify(input)) as Record<string, unknown>);
          if (sent)
            expect({
              provider: row.provider,
              model: row.model,
              input_tokens: row.input_tokens,
              output_tokens: row.output_tokens,
            }).toEqual({
              provider: sent.provider,
              model: sent.model,
              input_tokens: sent.inputTokens,
              output_tokens: sent.outputTokens,
            });
          const receipt = await server.app
            .db('receipts')
            .where({ receipt_id: result.receipt.receiptId })
            .first();
          expect(receipt?.usage_log_id).toBe(result.usageLog.id);
        } else {
          failures++;
          expect(parsed.errors?.length).toBeGreaterThan(0);
          // Bad input; or a body the prototype guard refuses (fast-check makes "__proto__" keys).
          const notInput = parsed.errors!.filter(
            (e) =>
              e.extensions?.code !== 'BAD_USER_INPUT' &&
              e.extensions?.code !== 'GRAPHQL_VALIDATION_FAILED' &&
              !(e.extensions?.code === 'BAD_REQUEST' && e.message.includes('"__proto__" key')),
          );
          expect(notInput).toEqual([]);
          expect(after).toEqual(before);
        }
      }),
      { numRuns: 150 },
    );
    // Both outcomes were exercised.
    expect(successes).toBeGreaterThan(10);
    expect(failures).toBeGreaterThan(10);
  });
});
