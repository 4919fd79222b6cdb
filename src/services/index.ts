/** The services of one server process, built once from the database and configuration. */
import type { Knex } from 'knex';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { PricingService } from '../pricing/service';
import { ReceiptKeyring } from '../receipts';
import { ApiKeyService } from './apiKeys';
import { ProjectService } from './projects';
import { ReceiptService } from './receipts';
import { StatsService } from './stats';
import { UsageService } from './usage';

export interface Services {
  db: Knex;
  projects: ProjectService;
  apiKeys: ApiKeyService;
  usage: UsageService;
  stats: StatsService;
  receipts: ReceiptService;
  pricing: PricingService;
}

export async function createServices(deps: { db: Knex; config: Config; logger: Logger }): Promise<Services> {
  const { db, config, logger } = deps;
  const keyring = await ReceiptKeyring.load({ settings: config.receipts, db, logger });
  const pricing = new PricingService({
    registryUrl: config.registry.url,
    ttlSeconds: config.registry.ttlSeconds,
    logger,
  });
  const receipts = new ReceiptService({ db, keyring });
  return {
    db,
    projects: new ProjectService({ db }),
    apiKeys: new ApiKeyService({ db }),
    usage: new UsageService({ db, pricing, receipts }),
    stats: new StatsService({ db }),
    receipts,
    pricing,
  };
}
