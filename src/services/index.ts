/** The services of one server process (or CLI command), built once from the database and configuration. */
import type { Knex } from 'knex';
import type { Config } from '../config';
import { databaseKind, type DatabaseKind } from '../db/connection';
import type { Logger } from '../logger';
import { PricingService } from '../pricing/service';
import { ReceiptKeyring } from '../receipts';
import { AdminService } from './admin';
import { ApiKeyService } from './apiKeys';
import { AuditService } from './audit';
import { OperatorService } from './operators';
import { RateLimitService } from './rateLimits';
import { AuthService } from './auth';
import { DimensionService } from './dimensions';
import { PriceBookService } from './priceBook';
import { ProjectService } from './projects';
import { ReceiptService } from './receipts';
import { RepriceService } from './reprice';
import { RetentionService } from './retention';
import { RollupService } from './rollups';
import { StatsService } from './stats';
import { TimeZoneService } from './timeZones';
import { UsageService } from './usage';
import { UsageLogReader } from './usageReader';

export interface Services {
  db: Knex;
  /** Where statistics read from: DATABASE_READ_URL's replica, or the primary. */
  readDb: Knex;
  /** Which database this is: the embedded PGlite or a PostgreSQL server. */
  dbKind: DatabaseKind;
  auth: AuthService;
  projects: ProjectService;
  apiKeys: ApiKeyService;
  usage: UsageService;
  usageReader: UsageLogReader;
  retention: RetentionService;
  stats: StatsService;
  timeZones: TimeZoneService;
  dimensions: DimensionService;
  receipts: ReceiptService;
  pricing: PricingService;
  priceBook: PriceBookService;
  reprice: RepriceService;
  rollups: RollupService;
  /** Changes by admins and operators, each with its audit entry (issue 21). */
  admin: AdminService;
  audit: AuditService;
  operators: OperatorService;
  rateLimits: RateLimitService;
}

export async function createServices(deps: {
  db: Knex;
  readDb?: Knex;
  config: Config;
  logger: Logger;
}): Promise<Services> {
  const { db, config, logger } = deps;
  const readDb = deps.readDb ?? db;
  const dbKind = databaseKind(config.database);
  const keyring = await ReceiptKeyring.load({ settings: config.receipts, db, logger });
  const pricing = new PricingService({
    registryUrl: config.registry.url,
    ttlSeconds: config.registry.ttlSeconds,
    logger,
  });
  const dimensions = new DimensionService(config.metadataDimensions);
  const receipts = new ReceiptService({ db, keyring, dimensions });
  const priceBook = new PriceBookService({ db, pricing, logger, refreshMs: config.priceBookRefreshMs });
  // Prices are read from memory on the hot path: the book is loaded before anything is priced.
  await priceBook.load();
  const apiKeys = new ApiKeyService({ db });
  const projects = new ProjectService({ db, apiKeys });
  const rollups = new RollupService({ db, logger, intervalMs: config.rollupIntervalMs });
  const timeZones = new TimeZoneService({ db: readDb });
  const reprice = new RepriceService({ db, pricing, keyring });
  const audit = new AuditService({ db });
  const operators = new OperatorService({ db, audit });
  const rateLimits = new RateLimitService({ db, defaults: config.rateLimits, audit });
  return {
    db,
    readDb,
    dbKind,
    auth: new AuthService({
      apiKeys,
      operators,
      rateLimits,
      adminToken: config.adminToken,
      clientKeys: config.acceptClientKeys ? projects : undefined,
    }),
    projects,
    apiKeys,
    usage: new UsageService({
      db,
      pricing,
      receipts,
      dimensions,
      limits: { batchSize: config.limits.batchSize },
      rateLimits,
      // PGlite runs one statement at a time anyway.
      ingestStatements: dbKind === 'pglite' ? 1 : config.database.ingestStatements,
    }),
    usageReader: new UsageLogReader({ db, dimensions }),
    retention: new RetentionService({ db }),
    stats: new StatsService({ db: readDb, timeZones, dimensions, rollups }),
    timeZones,
    dimensions,
    receipts,
    pricing,
    priceBook,
    reprice,
    rollups,
    admin: new AdminService({ db, audit, projects, apiKeys, priceBook, reprice }),
    audit,
    operators,
    rateLimits,
  };
}
