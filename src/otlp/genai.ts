/**
 * A span of the OpenTelemetry GenAI semantic conventions, read as one usage log.
 *
 * Attribute names, current first (semantic-conventions docs/registry/attributes/gen-ai.md,
 * now kept in open-telemetry/semantic-conventions-genai), then older names instrumentations
 * still send:
 * - provider: `gen_ai.provider.name`, else `gen_ai.system` (deprecated). Google's names
 *   (`gcp.gemini`, `gcp.vertex_ai`, `gcp.gen_ai`, `gemini`, `vertex_ai`) are the registry's
 *   `google`; other names are kept as sent.
 * - model: `gen_ai.response.model`, else `gen_ai.request.model`.
 * - tokens: `gen_ai.usage.input_tokens` (else `gen_ai.usage.prompt_tokens`),
 *   `gen_ai.usage.output_tokens` (else `gen_ai.usage.completion_tokens`); the parts
 *   `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_creation.input_tokens` and
 *   `gen_ai.usage.reasoning.output_tokens` (else OpenLLMetry's `gen_ai.usage.cache_read_input_tokens`,
 *   `gen_ai.usage.cache_creation_input_tokens`, `gen_ai.usage.reasoning_tokens`). The conventions
 *   say the input count SHOULD include the cache parts and the output count the reasoning: read
 *   so, except that parts larger than their total are read as outside it, with a warning
 *   (src/domain/reportedTokens.ts, rule 5).
 * - cost: `llmring.cost`, else `gen_ai.usage.cost` (OpenLIT), in USD: stored as the client's
 *   cost (CLIENT); without one the server prices the call.
 * - alias `llmring.alias`; origin the resource's `service.name`; idAtOrigin `gen_ai.response.id`;
 *   occurredAt the span's end; latency its duration.
 * - metadata: `otel.trace_id`, `otel.span_id`, `otel.span_name`, `gen_ai.operation.name` as
 *   `operation`, `gen_ai.conversation.id` as `conversation_id`, and every `llmring.metadata.<key>`
 *   attribute as `<key>` (so metadata dimensions apply to OTLP calls too).
 *
 * A span carries GenAI usage when it has an input or output token count; others are ignored.
 */
import { findPrototypeKey, PROTOTYPE_KEY_RULE } from '../domain/json';
import { normalizeReportedTokens } from '../domain/reportedTokens';
import type { LogUsageInput } from '../services/usage';
import type { AttributeMap, AttributeValue, OtlpSpan } from './decode';

export type SpanReading =
  { kind: 'usage'; input: LogUsageInput } | { kind: 'ignored' } | { kind: 'rejected'; reason: string };

const GOOGLE = new Set(['gcp.gemini', 'gcp.vertex_ai', 'gcp.gen_ai', 'gemini', 'vertex_ai']);

const METADATA_PREFIX = 'llmring.metadata.';

function first(attrs: AttributeMap, ...names: string[]): AttributeValue | undefined {
  for (const n of names) {
    const v = attrs[n];
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

function text(attrs: AttributeMap, ...names: string[]): string | undefined {
  const v = first(attrs, ...names);
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** A JSON-storable copy of an attribute value (bigints as decimal strings). */
function storable(value: AttributeValue): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, storable(v)]));
  }
  return value;
}

const NS_PER_MS = 1_000_000n;

const INPUT = ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens'];
const OUTPUT = ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens'];
const CACHE_READ = ['gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens'];
const CACHE_WRITE = ['gen_ai.usage.cache_creation.input_tokens', 'gen_ai.usage.cache_creation_input_tokens'];
const REASONING = ['gen_ai.usage.reasoning.output_tokens', 'gen_ai.usage.reasoning_tokens'];

/** A token count attribute as normalizeReportedTokens reads it (a bigint is too large to be one). */
function count(attrs: AttributeMap, names: string[]): unknown {
  const v = first(attrs, ...names);
  return typeof v === 'bigint' ? Number.MAX_SAFE_INTEGER + 1 : v;
}

/** The `llmring.metadata.<key>` attributes, by key. */
function metadataOf(attrs: AttributeMap): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name in attrs) {
    if (name.length <= METADATA_PREFIX.length || !name.startsWith(METADATA_PREFIX)) continue;
    const key = name.slice(METADATA_PREFIX.length);
    const value = storable(attrs[name]);
    // A '__proto__' key as an own key (assigned, it would set the prototype), which the check
    // in readSpan refuses.
    if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true });
    else out[key] = value;
  }
  return out;
}

export function readSpan(span: OtlpSpan): SpanReading {
  const a = span.attributes;
  const inputTokens = first(a, ...INPUT);
  const outputTokens = first(a, ...OUTPUT);
  if (inputTokens === undefined && outputTokens === undefined) return { kind: 'ignored' };

  const label = `span ${span.traceId || '-'}/${span.spanId || '-'}`;
  if (!span.traceId || !span.spanId)
    return { kind: 'rejected', reason: `${label}: traceId and spanId are required` };
  const rawProvider = text(a, 'gen_ai.provider.name', 'gen_ai.system');
  if (rawProvider === undefined) {
    return { kind: 'rejected', reason: `${label}: gen_ai.provider.name (or gen_ai.system) is required` };
  }
  const model = text(a, 'gen_ai.response.model', 'gen_ai.request.model');
  if (model === undefined) {
    return {
      kind: 'rejected',
      reason: `${label}: gen_ai.response.model (or gen_ai.request.model) is required`,
    };
  }
  if (span.endTimeUnixNano === 0n)
    return { kind: 'rejected', reason: `${label}: endTimeUnixNano is required` };
  if (span.endTimeUnixNano < span.startTimeUnixNano) {
    return { kind: 'rejected', reason: `${label}: endTimeUnixNano is before startTimeUnixNano` };
  }

  const provider = GOOGLE.has(rawProvider.toLowerCase()) ? 'google' : rawProvider;
  // The server's own names, in the server's convention (parts inside their totals); rule 5
  // reads parts that exceed their total as outside it, with a warning.
  const tokens = normalizeReportedTokens(
    provider,
    [
      {
        input_tokens: count(a, INPUT),
        output_tokens: count(a, OUTPUT),
        cached_input_tokens: count(a, CACHE_READ),
        cache_write_tokens: count(a, CACHE_WRITE),
        reasoning_tokens: count(a, REASONING),
      },
    ],
    { inputIncludesCache: true },
  );

  const cost = first(a, 'llmring.cost', 'gen_ai.usage.cost');
  if (cost !== undefined && typeof cost !== 'number') {
    return { kind: 'rejected', reason: `${label}: llmring.cost / gen_ai.usage.cost must be a number` };
  }

  const metadata = metadataOf(a);
  const prototypeKey = findPrototypeKey(metadata, 'metadata');
  if (prototypeKey) return { kind: 'rejected', reason: `${label}: ${prototypeKey}, ${PROTOTYPE_KEY_RULE}` };
  const operation = text(a, 'gen_ai.operation.name');
  const conversation = text(a, 'gen_ai.conversation.id');
  if (operation !== undefined) metadata.operation = operation;
  if (conversation !== undefined) metadata.conversation_id = conversation;
  metadata['otel.trace_id'] = span.traceId;
  metadata['otel.span_id'] = span.spanId;
  if (span.name) metadata['otel.span_name'] = span.name;

  const service = span.resource['service.name'];
  const latencyMs =
    span.startTimeUnixNano === 0n
      ? null
      : Number((span.endTimeUnixNano - span.startTimeUnixNano) / NS_PER_MS);
  return {
    kind: 'usage',
    input: {
      provider,
      model,
      aliasName: text(a, 'llmring.alias') ?? null,
      inputTokens: tokens.inputTokens,
      outputTokens: tokens.outputTokens,
      cachedInputTokens: tokens.cachedInputTokens,
      cacheWriteTokens: tokens.cacheWriteTokens,
      cacheWrite1hTokens: tokens.cacheWrite1hTokens,
      reasoningTokens: tokens.reasoningTokens,
      cost: cost ?? null,
      latencyMs,
      origin: typeof service === 'string' && service !== '' ? service : null,
      idAtOrigin: text(a, 'gen_ai.response.id') ?? null,
      metadata,
      occurredAt: new Date(Number(span.endTimeUnixNano / NS_PER_MS)),
      idempotencyKey: `otlp:${span.traceId}:${span.spanId}`,
      warnings: tokens.warnings,
    },
  };
}
