/**
 * Several server instances on one Postgres database, as behind a load balancer: each the real
 * app (its workers included) listening on loopback, with `env` added to the test settings.
 * (The embedded database belongs to one process: tests using this run on Postgres only.)
 */
import { loadConfig } from '../../src/config';
import { createApp, type App } from '../../src/app';
import { createLogger } from '../../src/logger';
import { createTestDatabase, type TestDatabase } from './db';
import { ADMIN_TOKEN } from './server';

export interface Instances {
  apps: App[];
  /** Each instance's base URL (http://127.0.0.1:port). */
  bases: string[];
  database: TestDatabase;
  close(): Promise<void>;
}

export async function startInstances(n: number, env: Record<string, string> = {}): Promise<Instances> {
  const database = await createTestDatabase();
  await database.db.migrate.latest();
  const apps: App[] = [];
  const bases: string[] = [];
  for (let i = 0; i < n; i++) {
    const config = loadConfig({
      LLMRING_ENV: 'test',
      LOG_LEVEL: 'silent',
      LLMRING_ADMIN_TOKEN: ADMIN_TOKEN,
      ...env,
    });
    config.database = { ...config.database, ...database.settings };
    const app = await createApp(config, createLogger({ level: 'silent' }));
    apps.push(app);
    bases.push(await app.server.listen({ port: 0, host: '127.0.0.1' }));
  }
  return {
    apps,
    bases,
    database,
    async close() {
      for (const app of apps) await app.close();
      await database.destroy();
    },
  };
}
