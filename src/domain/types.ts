/**
 * Domain objects: what services return and resolvers expose (codegen maps GraphQL types
 * onto these). Money is carried as an exact decimal string; the API turns it into a Float.
 */
import type { ApiKeyScope } from './access';

export type CostSource = 'client' | 'registry' | 'price_book' | 'unpriced';

/** Where prices come from. */
export type PriceSource = 'registry' | 'price_book';

export interface Project {
  id: string;
  key: string;
  name: string;
  description: string | null;
  createdAt: Date;
  archivedAt: Date | null;
}

export interface ApiKey {
  id: string;
  projectId: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** What the key may do, in API_KEY_SCOPES order. */
  scopes: ApiKeyScope[];
  /** When the key stops working (set by rotation to the end of the overlap); null: never. */
  expiresAt: Date | null;
  /** The key this one replaced by rotation; null for a key created as such. */
  rotatedFrom: string | null;
}

/**
 * The per-million-token prices a priced call was charged for each token type, and which
 * prices those were (a registry version label, or a price-book entry's 'price-book@<version>').
 */
export interface UsagePricing {
  inputPerMillion: string;
  outputPerMillion: string;
  cachedInputPerMillion: string;
  cacheWritePerMillion: string;
  cacheWrite1hPerMillion: string;
  reasoningPerMillion: string;
  /** True when the model's long-context prices applied. */
  longContext: boolean;
  /** Where the prices came from: the registry or the operator's price book. */
  source: PriceSource;
  /** A registry label, or 'price-book@<version>'; null when the source had no version. */
  version: string | null;
}

export interface UsageLog {
  id: string;
  projectId: string;
  apiKeyId: string | null;
  aliasName: string | null;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  /** Parts of inputTokens written to the prompt cache for 5 minutes and for 1 hour. */
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  /** Part of outputTokens spent reasoning. */
  reasoningTokens: number;
  /** Decimal string, 8 fractional digits: the current cost (after any re-pricing). */
  cost: string;
  /** The cost first charged, when a re-pricing has changed it since; null otherwise. */
  originalCost: string | null;
  costSource: CostSource;
  latencyMs: number | null;
  origin: string | null;
  idAtOrigin: string | null;
  profile: string;
  metadata: Record<string, unknown>;
  occurredAt: Date;
  receivedAt: Date;
  idempotencyKey: string | null;
  pricing: UsagePricing | null;
  /** How the server read token counts the client reported ambiguously (REST, OTLP); usually empty. */
  warnings: string[];
}

/** A re-pricing of one log (usage_adjustments). */
export interface UsageAdjustment {
  id: string;
  adjustmentId: string;
  usageLogId: string | null;
  projectId: string;
  receiptId: string | null;
  /** Decimal strings, 8 fractional digits. */
  previousCost: string;
  newCost: string;
  costSource: CostSource;
  priceBookVersion: number;
  createdAt: Date;
  /** The signed document, exactly. */
  document: Record<string, unknown>;
}

export interface Receipt {
  id: string;
  receiptId: string;
  projectId: string;
  usageLogId: string | null;
  aliasName: string | null;
  keyId: string;
  signature: string;
  /** The stored signed document, exactly. */
  document: Record<string, unknown>;
  issuedAt: Date;
}

export interface UsageTotals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  reasoningTokens: number;
  /** Decimal string. */
  cost: string;
}

export interface UsageSummary extends UsageTotals {
  totalTokens: number;
  uniqueModels: number;
  uniqueAliases: number;
  uniqueOrigins: number;
}

export interface PeriodUsage extends UsageTotals {
  periodStart: Date;
  /** The bucket's start in its time zone, 'YYYY-MM-DDTHH:MI' (what REST and the CLI print). */
  localStart: string;
  topModel: string | null;
}

export interface AliasUsage extends UsageTotals {
  aliasName: string | null;
  models: string[];
}

export interface ModelUsage extends UsageTotals {
  provider: string;
  model: string;
}

export interface OriginUsage extends UsageTotals {
  origin: string | null;
}

export type UsageDimension = 'alias' | 'model' | 'provider' | 'origin' | 'profile' | 'project';

/** A promoted metadata key's value in a group; null for calls without it. */
export interface MetadataValue {
  key: string;
  value: string | null;
}

export interface UsageGroup extends UsageTotals {
  aliasName?: string | null;
  model?: string | null;
  provider?: string | null;
  origin?: string | null;
  profile?: string | null;
  projectId?: string | null;
  /** The values of the breakdown's metadata keys, in the order asked for. */
  metadata?: MetadataValue[];
}

export type TimeBucket = 'hour' | 'day' | 'week' | 'month';

/** Calls whose promoted metadata key `key` has one of `values` (null: calls without it). */
export interface MetadataFilter {
  key: string;
  values: Array<string | null>;
}

/** A resolved usage filter: projectIds null means every project (admin only). */
export interface UsageQuery {
  projectIds: string[] | null;
  start: Date;
  end: Date;
  /** null inside the list selects calls logged without an alias. */
  aliasNames?: Array<string | null>;
  models?: string[];
  providers?: string[];
  origins?: string[];
  profiles?: string[];
  /** Promoted metadata keys' values (every entry must match). */
  metadata?: MetadataFilter[];
}

/** A model's prices in effect, and where they come from. */
export interface ModelPrice {
  provider: string;
  model: string;
  source: PriceSource;
  inputPerMillion: string | null;
  outputPerMillion: string | null;
  /** The price applied to cached input tokens (the cache-read price, else the input price). */
  cachedInputPerMillion: string | null;
  cacheWritePerMillion: string | null;
  cacheWrite1hPerMillion: string | null;
  reasoningPerMillion: string | null;
  inputLongContextPerMillion: string | null;
  outputLongContextPerMillion: string | null;
  longContextThresholdTokens: number | null;
  /** The price-book entry's version, when source is the price book. */
  priceBookVersion: number | null;
}
