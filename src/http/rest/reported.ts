/**
 * REST bodies that report a call -> the usage service's input. Both routes take what the
 * llmring client sends as it sends it: token counts under any provider's convention
 * (src/domain/reportedTokens.ts), nulls where an SDK has no count, unknown members ignored.
 * What is refused is what no client sends: a member of the wrong JSON type among the
 * server's own, a negative count, no model or provider.
 *
 * - POST /api/v1/log: {model, provider, input_tokens, output_tokens, cached_input_tokens,
 *   cache_write_tokens, cache_write_1h_tokens, reasoning_tokens, input_includes_cache, alias,
 *   profile, cost, latency_ms, origin, id_at_origin, occurred_at, metadata}
 * - POST /api/v1/conversations/log: {messages, response: {content, model, finish_reason,
 *   usage}, metadata: {provider, model, alias, profile, origin, cost, input_cost, output_cost,
 *   input_tokens, output_tokens, cached_tokens}}: the usage only, never the messages.
 */
import {
  normalizeReportedTokens,
  type NormalizedTokens,
  type UsageSource,
} from '../../domain/reportedTokens';
import { parseIsoDate } from '../../domain/dates';
import { badInput } from '../../services/errors';
import type { LogUsageInput } from '../../services/usage';
import { member, objectOf } from './common';

/** The server's own token members: counts when given (null is "no count"). */
const TOKEN_MEMBERS = [
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
] as const;

function checkCounts(body: Record<string, unknown>, at = ''): void {
  for (const name of TOKEN_MEMBERS) {
    const n = member(body, name, 'integer', { at }) as number | undefined;
    if (n !== undefined && n < 0) throw badInput(at + name, 'must be a non-negative integer');
  }
}

function tokenFields(t: NormalizedTokens) {
  return {
    inputTokens: t.inputTokens,
    outputTokens: t.outputTokens,
    cachedInputTokens: t.cachedInputTokens,
    cacheWriteTokens: t.cacheWriteTokens,
    cacheWrite1hTokens: t.cacheWrite1hTokens,
    reasoningTokens: t.reasoningTokens,
    warnings: t.warnings,
  };
}

/** The idempotency key under which POST /api/v1/conversations/log stores a call. */
export function conversationKey(conversationId: string): string {
  return `llmring-conversation:${conversationId}`;
}

/** The conversation id a /api/v1/log body names (as llmring sends it after conversations/log). */
export function conversationIdOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  const metadata = b.metadata as Record<string, unknown> | undefined;
  const id =
    b.id_at_origin ??
    (typeof metadata === 'object' && metadata !== null ? metadata.conversation_id : undefined);
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export function logInput(body: unknown, idempotencyKey: string | undefined): LogUsageInput {
  const b = objectOf(body, 'body');
  const str = (name: string, required = false) =>
    member(b, name, 'string', { required }) as string | undefined;
  checkCounts(b);
  const provider = str('provider', true)!;
  const metadata = (member(b, 'metadata', 'object') as UsageSource | undefined) ?? {};
  const inputIncludesCache = member(b, 'input_includes_cache', 'boolean') as boolean | undefined;
  const occurredAt = str('occurred_at');
  return {
    model: str('model', true)!,
    provider,
    ...tokenFields(normalizeReportedTokens(provider, [b, metadata], { inputIncludesCache })),
    aliasName: str('alias') ?? null,
    profile: str('profile') ?? null,
    cost: (member(b, 'cost', 'number') as number | undefined) ?? null,
    latencyMs: (member(b, 'latency_ms', 'integer') as number | undefined) ?? null,
    origin: str('origin') ?? null,
    idAtOrigin: str('id_at_origin') ?? null,
    occurredAt: occurredAt === undefined ? null : parseIsoDate('occurred_at', occurredAt),
    metadata,
    idempotencyKey: idempotencyKey ?? null,
  };
}

/** A number that may be absent or null. */
function amount(source: UsageSource, name: string, at: string): number | undefined {
  return member(source, name, 'number', { at }) as number | undefined;
}

/**
 * The usage of a conversation log. Provider and model come from `metadata` (else from
 * `response.model`, 'provider:model'); tokens from `response.usage` and `metadata`; the cost
 * the client computed (`metadata.cost`, else input_cost + output_cost, else `usage.cost`) is
 * the cost, as on /api/v1/log. The messages are counted, never stored.
 */
export function conversationInput(body: unknown, conversationId: string): LogUsageInput {
  const b = objectOf(body, 'body');
  const metadata = objectOf(b.metadata ?? {}, 'metadata');
  const response = objectOf(b.response ?? {}, 'response');
  const usage = objectOf(response.usage ?? {}, 'response.usage');
  if (b.messages !== undefined && b.messages !== null && !Array.isArray(b.messages)) {
    throw badInput('messages', 'must be an array');
  }
  checkCounts(metadata, 'metadata.');
  const str = (source: UsageSource, name: string, at: string) =>
    member(source, name, 'string', { at }) as string | undefined;
  const responseModel = str(response, 'model', 'response.') ?? '';
  const colon = responseModel.indexOf(':');
  const provider =
    str(metadata, 'provider', 'metadata.') ?? (colon > 0 ? responseModel.slice(0, colon) : undefined);
  const model =
    str(metadata, 'model', 'metadata.') ?? (colon > 0 ? responseModel.slice(colon + 1) : responseModel);
  if (provider === undefined) throw badInput('metadata.provider', 'is required');
  if (!model) throw badInput('metadata.model', 'is required');
  const inputCost = amount(metadata, 'input_cost', 'metadata.');
  const outputCost = amount(metadata, 'output_cost', 'metadata.');
  const cost =
    amount(metadata, 'cost', 'metadata.') ??
    (inputCost !== undefined && outputCost !== undefined ? inputCost + outputCost : undefined) ??
    (typeof usage.cost === 'number' && Number.isFinite(usage.cost) && usage.cost >= 0
      ? usage.cost
      : undefined);
  const finishReason = response.finish_reason;
  return {
    provider,
    model,
    ...tokenFields(normalizeReportedTokens(provider, [usage, metadata])),
    aliasName: str(metadata, 'alias', 'metadata.') ?? null,
    profile: str(metadata, 'profile', 'metadata.') ?? null,
    origin: str(metadata, 'origin', 'metadata.') ?? null,
    cost: cost ?? null,
    idAtOrigin: conversationId,
    metadata: {
      model_alias: responseModel || `${provider}:${model}`,
      finish_reason: typeof finishReason === 'string' ? finishReason : null,
      conversation_id: conversationId,
      message_count: Array.isArray(b.messages) ? b.messages.length : 0,
    },
    idempotencyKey: conversationKey(conversationId),
  };
}
