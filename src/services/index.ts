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
import { AlertService } from './alerts';
import { BudgetService } from './budgets';
import { SpikeAlertService } from './spikes';
import { WebhookService } from './webhooks';
import { WebhookHostPolicy } from './webhookHosts';
import { WebhookSender } from './webhookSender';
import { DimensionService } from './dimensions';
import { LedgerService } from './ledger';
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
import { OtlpService } from './otlp';
import { ExportService } from './exports';
import { ExportScheduleService } from './exportSchedules';

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
  budgets: BudgetService;
  spikeAlerts: SpikeAlertService;
  webhooks: WebhookService;
  webhookSender: WebhookSender;
  alerts: AlertService;
  /** OTLP trace ingest (POST /v1/traces). */
  otlp: OtlpService;
  /** Exports in standard formats (FOCUS). */
  exports: ExportService;
  /** Scheduled exports and their worker. */
  exportSchedules: ExportScheduleService;
  ledger: LedgerService;
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
  const audit = new AuditService({ db, keyring, name: config.ledger.name });
  const operators = new OperatorService({ db, audit });
  const rateLimits = new RateLimitService({ db, defaults: config.rateLimits, audit });
  const stats = new StatsService({ db: readDb, timeZones, dimensions, rollups });
  // Budgets and alerts decide from the primary: a replica may lag.
  const primaryStats = stats.on(db);
  const budgets = new BudgetService({ db, stats: primaryStats, timeZones, dimensions });
  const spikeAlerts = new SpikeAlertService({ db, stats: primaryStats, timeZones });
  const hosts = new WebhookHostPolicy(config.webhooks.allowedHosts);
  const webhooks = new WebhookService({ db, hosts });
  const webhookSender = new WebhookSender({ db, logger, hosts, options: config.webhooks });
  const alerts = new AlertService({
    db,
    logger,
    stats: primaryStats,
    budgets,
    spikes: spikeAlerts,
    webhooks,
    intervalMs: config.alertIntervalMs,
    onQueued: () => webhookSender.poke(),
  });
  const usageReader = new UsageLogReader({ db, dimensions });
  const exports = new ExportService({ reader: usageReader, dimensions });
  const usage = new UsageService({
    db,
    pricing,
    receipts,
    dimensions,
    limits: { batchSize: config.limits.batchSize },
    rateLimits,
    // PGlite runs one statement at a time anyway.
    ingestStatements: dbKind === 'pglite' ? 1 : config.database.ingestStatements,
  });
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
    usage,
    usageReader,
    retention: new RetentionService({ db }),
    stats,
    timeZones,
    dimensions,
    receipts,
    pricing,
    priceBook,
    reprice,
    rollups,
    budgets,
    spikeAlerts,
    webhooks,
    webhookSender,
    alerts,
    otlp: new OtlpService({ usage }),
    exports,
    exportSchedules: new ExportScheduleService({
      db,
      logger,
      exports,
      timeZones,
      dir: config.exports.dir,
      graceSeconds: config.exports.graceSeconds,
      intervalMs: config.exports.intervalMs,
      // Each file written notifies the webhooks that take export.written, in the transaction
      // that records it: once per file (the sender's next poll delivers it).
      onWritten: async (trx, schedule, line) => {
        await webhooks.enqueue(trx, schedule.projectId, {
          type: 'export.written',
          timestamp: new Date(line.written_at),
          data: { ...line },
        });
      },
    }),
    ledger: new LedgerService({ db, keyring, logger, ...config.ledger }),
    admin: new AdminService({ db, audit, projects, apiKeys, priceBook, reprice }),
    audit,
    operators,
    rateLimits,
  };
}
