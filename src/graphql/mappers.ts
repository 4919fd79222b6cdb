/**
 * What resolvers of some GraphQL types receive as their parent (codegen's `mappers`, see
 * codegen.ts), where that is not a domain object of src/domain/types.ts, and how GraphQL enum
 * values map onto domain values.
 */
import type { Receipt, TimeBucket, UsageLog, UsagePricing, UsageQuery } from '../domain/types';
import type { TokenCounts } from '../pricing/formula';
import type { StatsRequest, StatsResult } from '../services/stats';
import type {
  BudgetPeriodResolvers,
  DeliveryStatusResolvers,
  WebhookEventResolvers,
  ApiKeyScopeResolvers,
  OperatorRoleResolvers,
  CostSourceResolvers,
  PriceSourceResolvers,
  TimeBucketResolvers,
  TokenTypeResolvers,
  UsageDimensionResolvers,
} from './generated';

/**
 * UsageStats is resolved lazily: Query.usageStats only resolves the caller's filter into a
 * scoped query; the fields the request selects (summary, byAlias, breakdown, ...) are then
 * computed together, in one statement, and a request for `summary` alone never computes
 * the breakdowns (see UsageStats in resolvers/types.ts).
 */
export interface UsageStatsParent {
  query: UsageQuery;
  bucket: TimeBucket;
  /** The time zone the byPeriod buckets start in, as the database spells it. */
  timeZone: string;
  /** The statement the selected fields share: what it asks for, and its result once started. */
  batch?: { request: StatsRequest; started: boolean; result: Promise<StatsResult> };
}

/** What a log was charged, with its tokens (for the bill's lines). */
export type UsagePricingParent = UsagePricing & { tokens: TokenCounts };

/** One stored (or replayed) call with its receipt. */
export interface LogUsageResultParent {
  usageLog: UsageLog;
  receipt: Receipt;
  replayed: boolean;
}

/** A receipt signing key as published (public parts only). */
export interface ReceiptPublicKeyParent {
  keyId: string;
  algorithm: string;
  publicKeyPem: string;
  jwk: Record<string, unknown>;
  active: boolean;
}

/**
 * GraphQL enum value -> domain value, for makeExecutableSchema's resolvers: Apollo turns
 * `CLIENT` into 'client' in arguments and 'client' back into `CLIENT` in results, so resolvers
 * and services only ever see domain values. The generated enum types are the domain unions
 * (codegen.ts `enumValues`); the `satisfies` clause requires every GraphQL value, rejects unknown
 * ones and checks each domain value; test/schema-contract.test.ts checks that every domain value
 * is used exactly once.
 */
export const enumResolvers = {
  CostSource: { CLIENT: 'client', REGISTRY: 'registry', PRICE_BOOK: 'price_book', UNPRICED: 'unpriced' },
  PriceSource: { REGISTRY: 'registry', PRICE_BOOK: 'price_book' },
  TokenType: {
    INPUT: 'input',
    CACHED_INPUT: 'cachedInput',
    CACHE_WRITE_5M: 'cacheWrite5m',
    CACHE_WRITE_1H: 'cacheWrite1h',
    OUTPUT: 'output',
    REASONING: 'reasoning',
  },
  TimeBucket: { HOUR: 'hour', DAY: 'day', WEEK: 'week', MONTH: 'month' },
  BudgetPeriod: { DAY: 'day', WEEK: 'week', MONTH: 'month', TOTAL: 'total' },
  WebhookEvent: {
    BUDGET_THRESHOLD_CROSSED: 'budget.threshold_crossed',
    BUDGET_PERIOD_RESET: 'budget.period_reset',
    USAGE_SPIKE: 'usage.spike',
    WEBHOOK_TEST: 'webhook.test',
    EXPORT_WRITTEN: 'export.written',
  },
  DeliveryStatus: { PENDING: 'pending', DELIVERED: 'delivered', FAILED: 'failed' },
  UsageDimension: {
    ALIAS: 'alias',
    MODEL: 'model',
    PROVIDER: 'provider',
    ORIGIN: 'origin',
    PROFILE: 'profile',
    PROJECT: 'project',
  },
  ApiKeyScope: { INGEST: 'ingest', READ: 'read' },
  OperatorRole: { ADMIN: 'admin', VIEWER: 'viewer', BILLING: 'billing' },
} as const satisfies {
  ApiKeyScope: Required<ApiKeyScopeResolvers>;
  OperatorRole: Required<OperatorRoleResolvers>;
  CostSource: Required<CostSourceResolvers>;
  PriceSource: Required<PriceSourceResolvers>;
  TokenType: Required<TokenTypeResolvers>;
  TimeBucket: Required<TimeBucketResolvers>;
  BudgetPeriod: Required<BudgetPeriodResolvers>;
  WebhookEvent: Required<WebhookEventResolvers>;
  DeliveryStatus: Required<DeliveryStatusResolvers>;
  UsageDimension: Required<UsageDimensionResolvers>;
};
