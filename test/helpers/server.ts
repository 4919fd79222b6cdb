/**
 * The real server on a fresh database, listening on a loopback port, with a small client
 * that talks to it over HTTP as any client would.
 */
import { Writable } from 'node:stream';
import { loadConfig, type Config, type Env } from '../../src/config';
import { buildServer } from '../../src/http/server';
import { createApp, type App } from '../../src/app';
import { createLogger, type Logger } from '../../src/logger';
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
  /** The GraphQL endpoint, http://127.0.0.1:<port>/graphql. */
  url: string;
  /** The server's origin, http://127.0.0.1:<port>, for other routes. */
  baseUrl: string;
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
  /** A plain HTTP request to a path of the server (e.g. '/health'). */
  http(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export const asAdmin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
export const withKey = (secret: string) => ({ 'X-API-Key': secret });

/** The `extensions.code` of each error of a response, in order. */
export const errorCodes = (res: GraphQLResponse<unknown>): Array<string | undefined> =>
  (res.body.errors ?? []).map((e) => e.extensions?.code);

/** The data of a response that must have no error; throws with the errors otherwise. */
export function dataOf<T>(res: GraphQLResponse<T>): T {
  if (res.body.errors?.length || res.status !== 200 || !res.body.data) {
    throw new Error(`unexpected GraphQL response ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res.body.data;
}

function testConfig(env: Env): Config {
  return loadConfig({ LLMRING_ENV: 'test', LLMRING_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: 'info', ...env });
}

/** The client half of a TestServer, for a server listening at `address`. */
function clientFor(address: string): Pick<TestServer, 'url' | 'baseUrl' | 'gql' | 'http'> {
  const url = `${address}/graphql`;
  return {
    url,
    baseUrl: address,
    async gql(query, variables, headers = {}) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as GraphQLResponse<never>['body'] };
    },
    http(path, init) {
      return fetch(`${address}${path}`, init);
    },
  };
}

export async function startTestServer(env: Env = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  // The app opens its own connection; the test database handle only creates and drops it.
  await database.db.destroy();
  const config = testConfig(env);
  config.database = { ...config.database, ...database.settings, poolMax: database.settings.url ? 10 : 1 };
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
  return {
    app,
    ...clientFor(address),
    logs: () => logText,
    firstKey: app.firstProject!.secret,
    async close() {
      await app.close();
      await database.destroy().catch(() => undefined);
    },
  };
}

/**
 * A second HTTP server (the real buildServer) over the services and database of a running test
 * server, with the settings of `env` (e.g. LLMRING_ENV=production): compares HTTP configurations
 * without paying for another database. close() stops only this listener.
 */
export async function startSiblingServer(base: TestServer, env: Env): Promise<TestServer> {
  const config = testConfig(env);
  config.database = base.app.config.database;
  const server = await buildServer({
    config,
    logger: base.app.server.log as Logger,
    services: base.app.services,
  });
  const address = await server.listen({ port: 0, host: '127.0.0.1' });
  return {
    ...base,
    app: { ...base.app, config, server },
    ...clientFor(address),
    async close() {
      await server.close();
    },
  };
}

export interface TestProject {
  id: string;
  key: string;
  /** The secret of the project's first API key. */
  secret: string;
  apiKeyId: string;
}

/** Creates a project and one API key for it through the API, as an admin would. */
export async function createProjectWithKey(server: TestServer, key: string): Promise<TestProject> {
  const { createProject } = dataOf(
    await server.gql<{ createProject: { id: string; key: string } }>(
      'mutation($input: CreateProjectInput!) { createProject(input: $input) { id key } }',
      { input: { key, name: `Project ${key}` } },
      asAdmin,
    ),
  );
  const { createApiKey } = dataOf(
    await server.gql<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
      'mutation($p: UUID!) { createApiKey(projectId: $p, name: "test") { secret apiKey { id } } }',
      { p: createProject.id },
      asAdmin,
    ),
  );
  return { id: createProject.id, key, secret: createApiKey.secret, apiKeyId: createApiKey.apiKey.id };
}
