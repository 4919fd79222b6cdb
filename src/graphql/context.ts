/**
 * One context per request: who is calling, the services, and request-scoped DataLoaders.
 * Loaders never outlive the request, so one caller's cached rows never reach another.
 */
import type { WebhookAttempt } from '../domain/alerts';
import DataLoader from 'dataloader';
import type { LedgerPosition } from '../services/ledger';
import type { Principal } from '../domain/principal';
import type { ApiKey, Project, Receipt, UsageAdjustment, UsageLog, UsageSummary } from '../domain/types';
import type { Services } from '../services';
import type { Headers } from '../services/auth';
import { ServiceError } from '../services/errors';
import { asGraphQLError } from './errors';
import type { RequestInfo } from './logging';

export interface Loaders {
  projectById: DataLoader<string, Project | null>;
  apiKeysByProject: DataLoader<string, ApiKey[]>;
  receiptByUsageLog: DataLoader<string, Receipt | null>;
  usageLogById: DataLoader<string, UsageLog | null>;
  adjustmentsByUsageLog: DataLoader<string, UsageAdjustment[]>;
  webhookAttempts: DataLoader<string, WebhookAttempt[]>;
  ledgerPositionByReceipt: DataLoader<string, LedgerPosition | null>;
  usageSummaryByProject: DataLoader<{ projectId: string; start: Date; end: Date }, UsageSummary, string>;
}

export interface GraphQLContext {
  principal: Principal;
  services: Services;
  loaders: Loaders;
  /**
   * When the request started: the default end of every "last 30 days" range in it. One instant
   * per request keeps such ranges identical across fields, so a loader batches them into one
   * query (`projects { usage { cost } }` over 100 projects would otherwise straddle several
   * milliseconds and cost a query per distinct instant).
   */
  now: Date;
  /** The request's log and metrics record (see logging.ts), when served over HTTP. */
  requestInfo?: RequestInfo;
}

export function createLoaders(services: Services): Loaders {
  return {
    projectById: new DataLoader((ids) => services.projects.getByIds(ids)),
    apiKeysByProject: new DataLoader((ids) => services.apiKeys.listByProjects(ids)),
    receiptByUsageLog: new DataLoader((ids) => services.receipts.getByUsageLogIds(ids)),
    usageLogById: new DataLoader((ids) => services.usage.getByIds(ids)),
    adjustmentsByUsageLog: new DataLoader((ids) => services.reprice.adjustmentsOf(ids)),
    webhookAttempts: new DataLoader((ids) => services.webhooks.attemptsOf(ids)),
    ledgerPositionByReceipt: new DataLoader((ids) => services.ledger.positionsOf(ids)),
    usageSummaryByProject: new DataLoader(
      async (keys) => {
        // One query per distinct range (normally one for the whole request).
        const byRange = new Map<string, string[]>();
        for (const k of keys) {
          const range = `${k.start.toISOString()}|${k.end.toISOString()}`;
          byRange.set(range, [...(byRange.get(range) ?? []), k.projectId]);
        }
        const results = new Map<string, UsageSummary>();
        for (const [range, ids] of byRange) {
          const [start, end] = range.split('|').map((s) => new Date(s));
          const summaries = await services.stats.summariesByProject(ids, start, end);
          ids.forEach((id, i) => results.set(`${id}|${range}`, summaries[i]));
        }
        return keys.map((k) =>
          results.get(`${k.projectId}|${k.start.toISOString()}|${k.end.toISOString()}`)!,
        );
      },
      { cacheKeyFn: (k) => `${k.projectId}|${k.start.toISOString()}|${k.end.toISOString()}` },
    ),
  };
}

/** The request's context; throws UNAUTHENTICATED (a ServiceError) for a credential that is not valid. */
export async function buildContext(opts: {
  headers: Headers;
  services: Services;
  requestInfo?: RequestInfo;
}): Promise<GraphQLContext> {
  const now = new Date();
  const principal = await opts.services.auth.authenticate(opts.headers).catch((err: unknown) => {
    throw err instanceof ServiceError ? asGraphQLError(err) : err;
  });
  return {
    principal,
    services: opts.services,
    loaders: createLoaders(opts.services),
    now,
    requestInfo: opts.requestInfo,
  };
}
