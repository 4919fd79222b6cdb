/** Settings from the environment (src/config.ts): the database ones added for scale-out and ingest, and the HTTP timeouts. */
import { ConfigError, loadConfig } from '../src/config';

const PRIMARY = 'postgres://app@db.internal:5432/llmring';
const REPLICA = 'postgres://app@replica.internal:5432/llmring';

test('DATABASE_READ_URL reaches the configuration (statistics read from it)', () => {
  expect(loadConfig({ DATABASE_URL: PRIMARY, DATABASE_READ_URL: REPLICA }).database).toMatchObject({
    url: PRIMARY,
    readUrl: REPLICA,
  });
  expect(loadConfig({ DATABASE_URL: PRIMARY }).database.readUrl).toBeUndefined();
  expect(() => loadConfig({ DATABASE_READ_URL: REPLICA })).toThrow(/DATABASE_READ_URL: needs DATABASE_URL/);
});

test('DATABASE_INGEST_STATEMENTS: 2 by default, at most DATABASE_POOL_MAX', () => {
  expect(loadConfig({}).database.ingestStatements).toBe(2);
  expect(
    loadConfig({ DATABASE_INGEST_STATEMENTS: '8', DATABASE_POOL_MAX: '20' }).database.ingestStatements,
  ).toBe(8);
  const tooMany = () => loadConfig({ DATABASE_INGEST_STATEMENTS: '12', DATABASE_POOL_MAX: '10' });
  expect(tooMany).toThrow(ConfigError);
  expect(tooMany).toThrow(/DATABASE_INGEST_STATEMENTS: must not exceed DATABASE_POOL_MAX \(10\)/);
  expect(() => loadConfig({ DATABASE_INGEST_STATEMENTS: '0' })).toThrow(/DATABASE_INGEST_STATEMENTS/);
});

test('LLMRING_REQUEST_TIMEOUT_MS and LLMRING_KEEPALIVE_TIMEOUT_MS: 60 s and 72 s by default, never 0', () => {
  expect(loadConfig({}).http).toMatchObject({ requestTimeoutMs: 60_000, keepAliveTimeoutMs: 72_000 });
  expect(
    loadConfig({ LLMRING_REQUEST_TIMEOUT_MS: '5000', LLMRING_KEEPALIVE_TIMEOUT_MS: '65000' }).http,
  ).toMatchObject({ requestTimeoutMs: 5000, keepAliveTimeoutMs: 65_000 });
  // 0 would turn the limit off, as Fastify's default does: refused, naming the variable.
  expect(() => loadConfig({ LLMRING_REQUEST_TIMEOUT_MS: '0' })).toThrow(/LLMRING_REQUEST_TIMEOUT_MS/);
  expect(() => loadConfig({ LLMRING_KEEPALIVE_TIMEOUT_MS: 'soon' })).toThrow(/LLMRING_KEEPALIVE_TIMEOUT_MS/);
});
