/**
 * One context per request: who is calling, the services, and request-scoped DataLoaders.
 * Loaders never outlive the request, so one caller's cached rows never reach another.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import DataLoader from 'dataloader';
import { GraphQLError } from 'graphql';
import type { Principal } from '../domain/principal';
import { ADMIN, ANONYMOUS } from '../domain/principal';
import type { ApiKey, Project, Receipt, UsageLog, UsageSummary } from '../domain/types';
import type { Services } from '../services';
import type { RequestInfo } from './logging';

export interface Loaders {
  projectById: DataLoader<string, Project | null>;
  apiKeysByProject: DataLoader<string, ApiKey[]>;
  receiptByUsageLog: DataLoader<string, Receipt | null>;
  usageLogById: DataLoader<string, UsageLog | null>;
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

export type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Equal-time comparison of two secrets of any length (both are hashed first). */
export function secretsEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

export function unauthenticatedError(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
}

/**
 * The caller, from `X-API-Key`, `Authorization: Bearer`, or the legacy `X-Project-Key`.
 * A bearer token equal to LLMRING_ADMIN_TOKEN makes an admin. A credential that matches
 * nothing is rejected outright rather than treated as anonymous.
 */
export async function authenticate(
  headers: Headers,
  services: Services,
  adminToken?: string,
): Promise<Principal> {
  const bearer = /^Bearer\s+(.+)$/i.exec(header(headers, 'authorization') ?? '')?.[1]?.trim();
  if (bearer && adminToken && secretsEqual(bearer, adminToken)) return ADMIN;
  const secret = header(headers, 'x-api-key') ?? bearer ?? header(headers, 'x-project-key');
  if (!secret) return ANONYMOUS;
  const found = await services.apiKeys.authenticate(secret.trim());
  if (!found) throw unauthenticatedError('The API key is unknown or revoked, or its project is archived');
  return { kind: 'project', project: found.project, apiKeyId: found.apiKey.id };
}

export function createLoaders(services: Services): Loaders {
  return {
    projectById: new DataLoader((ids) => services.projects.getByIds(ids)),
    apiKeysByProject: new DataLoader((ids) => services.apiKeys.listByProjects(ids)),
    receiptByUsageLog: new DataLoader((ids) => services.receipts.getByUsageLogIds(ids)),
    usageLogById: new DataLoader((ids) => services.usage.getByIds(ids)),
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

export async function buildContext(opts: {
  headers: Headers;
  services: Services;
  adminToken?: string;
  requestInfo?: RequestInfo;
}): Promise<GraphQLContext> {
  const now = new Date();
  const principal = await authenticate(opts.headers, opts.services, opts.adminToken);
  return {
    principal,
    services: opts.services,
    loaders: createLoaders(opts.services),
    now,
    requestInfo: opts.requestInfo,
  };
}
