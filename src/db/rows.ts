/** Rows to domain objects: one function per table, the only place that knows both shapes. */
import type { ApiKeyRow, ProjectRow, ReceiptRow, UsageLogRow } from './tables';
import type { ApiKey, Project, Receipt, UsageLog } from '../domain/types';
import { toDate, toDateOrNull, toDecimalString, toInt, toIntOrNull } from './normalize';

export function toProject(row: ProjectRow): Project {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    createdAt: toDate(row.created_at),
    archivedAt: toDateOrNull(row.archived_at),
  };
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    prefix: row.key_prefix,
    createdAt: toDate(row.created_at),
    lastUsedAt: toDateOrNull(row.last_used_at),
    revokedAt: toDateOrNull(row.revoked_at),
  };
}

export function toUsageLog(row: UsageLogRow): UsageLog {
  const priced = row.input_price_per_million !== null && row.input_price_per_million !== undefined;
  return {
    id: row.id,
    projectId: row.project_id,
    apiKeyId: row.api_key_id,
    aliasName: row.alias_name,
    provider: row.provider,
    model: row.model,
    inputTokens: toInt(row.input_tokens),
    outputTokens: toInt(row.output_tokens),
    cachedInputTokens: toInt(row.cached_input_tokens),
    cost: toDecimalString(row.cost),
    costSource: row.cost_source,
    latencyMs: toIntOrNull(row.latency_ms),
    origin: row.origin,
    idAtOrigin: row.id_at_origin,
    profile: row.profile,
    metadata: row.metadata ?? {},
    occurredAt: toDate(row.occurred_at),
    receivedAt: toDate(row.created_at),
    idempotencyKey: row.idempotency_key,
    pricing: priced
      ? {
          inputPerMillion: toDecimalString(row.input_price_per_million, 10),
          outputPerMillion: toDecimalString(row.output_price_per_million, 10),
          cachedInputPerMillion: toDecimalString(row.cached_input_price_per_million, 10),
          registryVersion: row.registry_version,
        }
      : null,
  };
}

export function toReceipt(row: ReceiptRow): Receipt {
  return {
    id: row.id,
    receiptId: row.receipt_id,
    projectId: row.project_id,
    usageLogId: row.usage_log_id,
    aliasName: row.alias_name,
    keyId: row.key_id,
    signature: row.signature,
    document: row.document,
    issuedAt: toDate(row.created_at),
  };
}
