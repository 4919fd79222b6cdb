/**
 * Start-up: open the database, migrate (unless turned off), build the services, make sure a
 * first project exists, and serve. Shutdown closes in reverse order.
 */
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import type { Config } from './config';
import { createDb, createEmbeddedDatabaseFiles, databaseKind } from './db/connection';
import { migrationConfig } from './db/migrations';
import type { Logger } from './logger';
import { createServices, type Services } from './services';
import { buildServer } from './http/server';

export interface App {
  config: Config;
  db: Knex;
  services: Services;
  server: FastifyInstance;
  /** Set when this start created the first project: its key's secret, shown once. */
  firstProject?: { projectKey: string; secret: string };
  close(): Promise<void>;
}

export async function createApp(config: Config, logger: Logger): Promise<App> {
  if (await createEmbeddedDatabaseFiles(config.database)) {
    logger.info({ dataDir: config.database.dataDir }, 'created the embedded database');
  }
  const db = createDb(config.database);
  const readDb = config.database.readUrl
    ? createDb({ ...config.database, url: config.database.readUrl })
    : db;
  try {
    if (config.autoMigrate) {
      const [, applied] = await db.migrate.latest(migrationConfig);
      if (applied.length) logger.info({ migrations: applied }, 'applied database migrations');
    }
    const services = await createServices({ db, readDb, config, logger });
    const firstProject = await services.projects.ensureFirstProject();
    await services.rollups.registerDimensions(config.metadataDimensions.keys);
    const server = await buildServer({ config, logger, services });
    services.pricing.start();
    services.priceBook.start();
    services.rollups.start();
    services.alerts.start();
    services.webhookSender.start();
    services.exportSchedules.start();
    services.ledger.start();
    return {
      config,
      db,
      services,
      server,
      firstProject,
      async close() {
        services.pricing.stop();
        services.priceBook.stop();
        await server.close();
        await services.rollups.stop();
        await services.alerts.stop();
        await services.webhookSender.stop();
        await services.exportSchedules.stop();
        await services.ledger.stop();
        await services.receipts.close();
        if (readDb !== db) await readDb.destroy();
        await db.destroy();
      },
    };
  } catch (err) {
    if (readDb !== db) await readDb.destroy();
    await db.destroy();
    throw err;
  }
}

export function describeDatabase(config: Config): string {
  return databaseKind(config.database) === 'postgres'
    ? 'PostgreSQL (DATABASE_URL)'
    : `embedded PGlite in ${config.database.dataDir}`;
}
