/**
 * What the REST routes share: the caller from the request's credentials, errors in the
 * original server's shape ({detail, code, field?}), and query-string and body readers.
 *
 * Errors: 401 without or with a bad key, 400 naming the field by its REST name for bad input,
 * 403, 404, and 500 with no detail for anything unexpected.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../domain/principal';
import { parseIsoDate } from '../../domain/dates';
import { noteCaller, requestInfoOf } from '../../graphql/logging';
import type { Services } from '../../services';
import { RateLimitedError, ServiceError, badInput, unauthenticated } from '../../services/errors';
import type { UsageFilterInput } from '../../services/scope';

const STATUS: Record<ServiceError['code'], number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
};

/** Service field names (GraphQL's) -> the names REST clients send. */
const REST_FIELDS: Record<string, string> = {
  'input.inputTokens': 'input_tokens',
  'input.outputTokens': 'output_tokens',
  'input.cachedInputTokens': 'cached_input_tokens',
  'input.cacheWriteTokens': 'cache_write_tokens',
  'input.cacheWrite1hTokens': 'cache_write_1h_tokens',
  'input.reasoningTokens': 'reasoning_tokens',
  'input.aliasName': 'alias',
  'input.latencyMs': 'latency_ms',
  'input.idAtOrigin': 'id_at_origin',
  'input.idempotencyKey': 'Idempotency-Key',
  'input.occurredAt': 'occurred_at',
  'filter.startDate': 'start_date',
  'filter.endDate': 'end_date',
  'filter.aliasNames': 'alias',
  'filter.models': 'model',
  'filter.origins': 'origin',
  timeZone: 'time_zone',
};

/** A field's name as REST clients know it; `prefix` is where the route put the usage fields. */
export function restField(field: string, prefix = ''): string {
  return REST_FIELDS[field] ? prefix + REST_FIELDS[field] : field.replace(/^input\./, prefix);
}

export function sendError(
  reply: FastifyReply,
  err: unknown,
  opts: { fieldPrefix?: string } = {},
): FastifyReply {
  if (err instanceof ServiceError) {
    const field = err.field === undefined ? undefined : restField(err.field, opts.fieldPrefix);
    const detail =
      field !== undefined && err.problem !== undefined ? `${field}: ${err.problem}` : err.message;
    if (err instanceof RateLimitedError) reply.header('retry-after', String(err.retryAfterSeconds));
    return reply.code(STATUS[err.code]).send({ detail, code: err.code, ...(field ? { field } : {}) });
  }
  reply.log.error({ err }, 'unexpected error in a REST compatibility route');
  return reply.code(500).send({ detail: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' });
}

/** The caller, noted for the request log; 401 without credentials. */
export async function restCaller(services: Services, request: FastifyRequest): Promise<Principal> {
  const principal = await services.auth.authenticate(request.headers);
  if (principal.kind === 'anonymous') {
    throw unauthenticated('an API key is required: send it in the X-API-Key header');
  }
  noteCaller(requestInfoOf(request), principal);
  return principal;
}

export type Query = Record<string, string | string[] | undefined>;

/** A query parameter; the last of repeated ones; an empty one is absent (the client sends `?alias=`). */
export function one(query: Query, name: string): string | undefined {
  const value = query[name];
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return v === undefined || v === '' ? undefined : v;
}

export function intParam(query: Query, name: string, fallback: number): number {
  const raw = one(query, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d{1,9}$/.test(raw)) throw badInput(name, 'must be an integer');
  return Number(raw);
}

/**
 * start_date and end_date: a date alone is a local day in `timeZone` (end_date includes it),
 * a date-time an instant (UTC unless it has an offset).
 */
export async function dateRange(
  services: Services,
  query: Query,
  timeZone: string,
): Promise<UsageFilterInput> {
  const date = async (name: 'start_date' | 'end_date') => {
    const value = one(query, name);
    if (value === undefined) return undefined;
    const instant = parseIsoDate(name, value);
    return /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? services.timeZones.startOfLocalDay(value, timeZone, { nextDay: name === 'end_date' })
      : instant;
  };
  return { startDate: await date('start_date'), endDate: await date('end_date') };
}

type FieldType = 'string' | 'integer' | 'number' | 'object' | 'boolean';

/** A body member of a JSON type; undefined when absent or null (400 when required). */
export function member(
  body: Record<string, unknown>,
  name: string,
  type: FieldType,
  opts: { required?: boolean; at?: string } = {},
): unknown {
  const value = body[name];
  const field = (opts.at ?? '') + name;
  if (value === undefined || value === null) {
    if (opts.required) throw badInput(field, 'is required');
    return undefined;
  }
  const ok =
    type === 'string'
      ? typeof value === 'string'
      : type === 'integer'
        ? Number.isInteger(value)
        : type === 'number'
          ? typeof value === 'number' && Number.isFinite(value)
          : type === 'boolean'
            ? typeof value === 'boolean'
            : typeof value === 'object' && !Array.isArray(value);
  if (!ok) throw badInput(field, `must be ${type === 'integer' || type === 'object' ? 'an' : 'a'} ${type}`);
  return value;
}

/** A JSON object body (or member), else 400 naming it. */
export function objectOf(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badInput(name, 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A log's newest signed checkpoint (a C2SP signed note), never cached: the ledger's and the audit log's. */
export function sendCheckpoint(reply: FastifyReply, note: string) {
  return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(note);
}

/** A log's verifier keys, one a line: the ledger's and the audit log's. */
export function sendVerifierKeys(reply: FastifyReply, keys: readonly string[]) {
  return reply.type('text/plain; charset=utf-8').send(keys.map((k) => `${k}\n`).join(''));
}
