/**
 * The real server on a fresh database, listening on a loopback port, with a small client
 * that talks to it over HTTP as any client would.
 */
import { Writable } from 'node:stream';
import { loadConfig, type Config, type Env } from '../../src/config';
import { createApp, type App } from '../../src/app';
import { createLogger } from '../../src/logger';
import { createTestDatabase } from './db';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  body: {
    data?: T | null;
    errors?: Array<{ message: string; extensions?: { code?: string; field?: string } }>;
  };
}

export interface TestServer {
  app: App;
  url: string;
  /** Everything the server logged, as text. */
  logs: () => string;
  /** The first project's API key, created on start. */
  firstKey: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read loosely typed JSON
  gql<T = Record<string, any>>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export const asAdmin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
export const withKey = (secret: string) => ({ 'X-API-Key': secret });

export async function startTestServer(env: Env = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  // The app opens its own connection; the test database handle only creates and drops it.
  await database.db.destroy();
  const config: Config = loadConfig({
    LLMRING_ENV: 'test',
    LLMRING_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'info',
    ...env,
  });
  config.database = { ...database.settings, poolMax: database.settings.url ? 10 : 1 };
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination: sink });
  const app = await createApp(config, logger);
  const address = await app.server.listen({ port: 0, host: '127.0.0.1' });
  const url = `${address}/graphql`;
  return {
    app,
    url,
    logs: () => logText,
    firstKey: app.firstProject!.secret,
    async gql(query, variables, headers = {}) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as GraphQLResponse<never>['body'] };
    },
    async close() {
      await app.close();
      await database.destroy().catch(() => undefined);
    },
  };
}
