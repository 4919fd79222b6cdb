/** Row types of the target schema, as the drivers return them (before normalisation). */

export interface ProjectRow {
  id: string;
  key: string;
  name: string;
  description: string | null;
  created_at: Date;
  archived_at: Date | null;
}

export interface ApiKeyRow {
  id: string;
  project_id: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** 'ingest' and/or 'read' (src/domain/principal.ts API_KEY_SCOPES). */
  scopes: string[];
  expires_at: Date | null;
  rotated_from: string | null;
}

export type CostSourceValue = 'client' | 'registry' | 'price_book' | 'unpriced';

export interface UsageLogRow {
  id: string;
  project_id: string;
  api_key_id: string | null;
  alias_name: string | null;
  provider: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  reasoning_tokens: number;
  /** numeric(18,8): a decimal string on both drivers. */
  cost: string;
  /** The cost first charged, when a re-pricing changed it (usage_adjustments); else null. */
  original_cost: string | null;
  cost_source: CostSourceValue;
  latency_ms: number | null;
  origin: string | null;
  id_at_origin: string | null;
  profile: string;
  metadata: Record<string, unknown>;
  /** The promoted metadata keys' values (src/services/dimensions.ts); null when none. */
  dimensions: Record<string, string> | null;
  occurred_at: Date;
  created_at: Date;
  idempotency_key: string | null;
  input_price_per_million: string | null;
  output_price_per_million: string | null;
  cached_input_price_per_million: string | null;
  cache_write_price_per_million: string | null;
  cache_write_1h_price_per_million: string | null;
  reasoning_price_per_million: string | null;
  long_context: boolean | null;
  /** The version of the prices applied: a registry label or 'price-book@<version>'. */
  registry_version: string | null;
  /** How ambiguous or contradictory token counts were read (src/domain/reportedTokens.ts); null when none. */
  warnings: string[] | null;
}

export interface ReceiptRow {
  id: string;
  receipt_id: string;
  project_id: string;
  usage_log_id: string | null;
  alias_name: string | null;
  document: Record<string, unknown>;
  signature: string;
  key_id: string;
  created_at: Date;
}
