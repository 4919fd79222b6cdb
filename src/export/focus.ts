/**
 * FinOps FOCUS 1.2 rows (https://focus.finops.org, column definitions in the FOCUS_Spec
 * repository, specification/columns/ at tag v1.2): one row per usage log, a "Usage" charge of
 * the model's provider. docs/focus.md gives the mapping column by column, and which FOCUS
 * columns are left out and why.
 *
 * Money is the log's exact decimal in USD (8 fractional digits). Date/times are FOCUS's
 * `YYYY-MM-DDTHH:mm:ssZ` (UTC). Null is an empty cell in CSV.
 */
import type { ExportedUsageLog } from '../services/usageReader';

export const FOCUS_VERSION = '1.2';

/** The columns, in file order: FOCUS's (alphabetical), then this server's own (`x_`). */
export const FOCUS_COLUMNS = [
  'BilledCost',
  'BillingAccountId',
  'BillingAccountName',
  'BillingCurrency',
  'BillingPeriodEnd',
  'BillingPeriodStart',
  'ChargeCategory',
  'ChargeClass',
  'ChargeDescription',
  'ChargeFrequency',
  'ChargePeriodEnd',
  'ChargePeriodStart',
  'ConsumedQuantity',
  'ConsumedUnit',
  'ContractedCost',
  'EffectiveCost',
  'InvoiceIssuerName',
  'ListCost',
  'PricingCategory',
  'PricingQuantity',
  'PricingUnit',
  'ProviderName',
  'PublisherName',
  'ResourceId',
  'ResourceName',
  'ResourceType',
  'ServiceCategory',
  'ServiceName',
  'ServiceSubcategory',
  'SkuId',
  'SubAccountId',
  'SubAccountName',
  'Tags',
  'x_UsageLogId',
  'x_OccurredAt',
  'x_AliasName',
  'x_Origin',
  'x_Profile',
  'x_InputTokens',
  'x_OutputTokens',
  'x_CachedInputTokens',
  'x_CacheWriteTokens',
  'x_CacheWrite1hTokens',
  'x_ReasoningTokens',
  'x_CostSource',
  'x_LatencyMs',
] as const;

export type FocusColumn = (typeof FOCUS_COLUMNS)[number];
export type FocusRow = Record<FocusColumn, string | number | null>;

/** The columns holding decimals, and integers (typed so in Parquet). */
export const FOCUS_DECIMAL_COLUMNS: ReadonlySet<FocusColumn> = new Set([
  'BilledCost',
  'ContractedCost',
  'EffectiveCost',
  'ListCost',
  'ConsumedQuantity',
  'PricingQuantity',
]);
export const FOCUS_INTEGER_COLUMNS: ReadonlySet<FocusColumn> = new Set([
  'x_InputTokens',
  'x_OutputTokens',
  'x_CachedInputTokens',
  'x_CacheWriteTokens',
  'x_CacheWrite1hTokens',
  'x_ReasoningTokens',
  'x_LatencyMs',
]);

/** Tag keys this server defines carry this prefix (FOCUS: provider-defined keys are prefixed). */
export const TAG_PREFIX = 'llmring/';

const HOUR_MS = 3_600_000;

/** FOCUS's Date/Time format: UTC, seconds, 'Z'. */
export function focusDateTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function monthBounds(date: Date): [Date, Date] {
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  return [new Date(Date.UTC(y, m, 1)), new Date(Date.UTC(y, m + 1, 1))];
}

/** Registry and price-book prices are agreed in advance; a client's own cost or none: Other. */
function pricingCategory(source: ExportedUsageLog['costSource']): string {
  return source === 'registry' || source === 'price_book' ? 'Standard' : 'Other';
}

function description(log: ExportedUsageLog): string {
  const inParts = [
    log.cachedInputTokens ? `${log.cachedInputTokens} cached` : '',
    log.cacheWriteTokens + log.cacheWrite1hTokens
      ? `${log.cacheWriteTokens + log.cacheWrite1hTokens} cache writes`
      : '',
  ].filter(Boolean);
  const outParts = log.reasoningTokens ? ` (${log.reasoningTokens} reasoning)` : '';
  // Joined, not `+`: `+` makes a tree of string pieces, which a Parquet row group holds for
  // 5000 rows before the writer flattens it (the heap profile's largest item after the pieces
  // were shared); join makes the one flat string.
  return [
    `${log.model} (${log.provider}): ${log.inputTokens} input tokens`,
    inParts.length ? ` (${inParts.join(', ')})` : '',
    `, ${log.outputTokens} output tokens${outParts}`,
  ].join('');
}

/**
 * One log as a FOCUS row. `dimensions` are the log's metadata dimensions (promoted metadata
 * keys, LLMRING_METADATA_DIMENSIONS): user-defined tags, unprefixed.
 */
export function focusRow(log: ExportedUsageLog, dimensions: Record<string, string> | null): FocusRow {
  const [periodStart, periodEnd] = monthBounds(log.occurredAt);
  const hour = new Date(Math.floor(log.occurredAt.getTime() / HOUR_MS) * HOUR_MS);
  const tokens = log.inputTokens + log.outputTokens;
  const tags: Record<string, string> = { [`${TAG_PREFIX}project`]: log.projectKey };
  if (log.aliasName !== null) tags[`${TAG_PREFIX}alias`] = log.aliasName;
  if (log.origin !== null) tags[`${TAG_PREFIX}origin`] = log.origin;
  tags[`${TAG_PREFIX}profile`] = log.profile;
  for (const [k, v] of Object.entries(dimensions ?? {})) tags[k] = v;
  return {
    BilledCost: log.cost,
    BillingAccountId: log.provider,
    BillingAccountName: log.provider,
    BillingCurrency: 'USD',
    BillingPeriodEnd: focusDateTime(periodEnd),
    BillingPeriodStart: focusDateTime(periodStart),
    ChargeCategory: 'Usage',
    ChargeClass: null,
    ChargeDescription: description(log),
    ChargeFrequency: 'Usage-Based',
    ChargePeriodEnd: focusDateTime(new Date(hour.getTime() + HOUR_MS)),
    ChargePeriodStart: focusDateTime(hour),
    ConsumedQuantity: tokens,
    ConsumedUnit: 'Tokens',
    ContractedCost: log.cost,
    EffectiveCost: log.cost,
    InvoiceIssuerName: log.provider,
    ListCost: log.cost,
    PricingCategory: pricingCategory(log.costSource),
    PricingQuantity: tokens,
    PricingUnit: 'Tokens',
    ProviderName: log.provider,
    PublisherName: log.provider,
    ResourceId: `${log.provider}/${log.model}`,
    ResourceName: log.model,
    ResourceType: 'Model',
    ServiceCategory: 'AI and Machine Learning',
    ServiceName: `${log.provider} API`,
    ServiceSubcategory: 'Generative AI',
    SkuId: `${log.provider}/${log.model}`,
    SubAccountId: log.projectId,
    SubAccountName: log.projectName,
    Tags: JSON.stringify(tags),
    x_UsageLogId: log.id,
    x_OccurredAt: log.occurredAt.toISOString(),
    x_AliasName: log.aliasName,
    x_Origin: log.origin,
    x_Profile: log.profile,
    x_InputTokens: log.inputTokens,
    x_OutputTokens: log.outputTokens,
    x_CachedInputTokens: log.cachedInputTokens,
    x_CacheWriteTokens: log.cacheWriteTokens,
    x_CacheWrite1hTokens: log.cacheWrite1hTokens,
    x_ReasoningTokens: log.reasoningTokens,
    x_CostSource: log.costSource.toUpperCase(),
    x_LatencyMs: log.latencyMs,
  };
}
