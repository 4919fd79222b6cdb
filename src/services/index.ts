/** The services of one server process, built once from the database and configuration. */
import type { Knex } from 'knex';
import type { Config } from '../config';
import { databaseKind } from '../db/connection';
import type { Logger } from '../logger';
import { PricingService } from '../pricing/service';
import { ReceiptKeyring } from '../receipts';
import { ApiKeyService } from './apiKeys';
import { ProjectService } from './projects';
import { ReceiptService } from './receipts';
import { StatsService } from './stats';
import { UsageService } from './usage';
import { RollupService } from './rollups';

export interface Services {
  db: Knex;
  /** Where statistics read from: DATABASE_READ_URL's replica, or the primary. */
  readDb: Knex;
  projects: ProjectService;
  apiKeys: ApiKeyService;
  usage: UsageService;
  stats: StatsService;
  receipts: ReceiptService;
  pricing: PricingService;
  rollups: RollupService;
}

export async function createServices(deps: {
  db: Knex;
  readDb?: Knex;
  config: Config;
  logger: Logger;
}): Promise<Services> {
  const { db, config, logger } = deps;
  const readDb = deps.readDb ?? db;
  const keyring = await ReceiptKeyring.load({ settings: config.receipts, db, logger });
  const pricing = new PricingService({
    registryUrl: config.registry.url,
    ttlSeconds: config.registry.ttlSeconds,
    logger,
  });
  const receipts = new ReceiptService({ db, keyring });
  const apiKeys = new ApiKeyService({ db });
  return {
    db,
    readDb,
    // Archiving a project drops its keys from this instance's lookup cache at once.
    projects: new ProjectService({ db, onArchived: (id) => apiKeys.forgetProject(id) }),
    apiKeys,
    usage: new UsageService({
      db,
      pricing,
      receipts,
      limits: { batchSize: config.limits.batchSize },
      // PGlite runs one statement at a time anyway.
      ingestStatements: databaseKind(config.database) === 'pglite' ? 1 : config.database.ingestStatements,
    }),
    stats: new StatsService({ db: readDb }),
    receipts,
    pricing,
    rollups: new RollupService({ db, logger, intervalMs: config.rollupIntervalMs }),
  };
}
