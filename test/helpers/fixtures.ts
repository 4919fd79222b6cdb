/**
 * Service-level fixtures: the real services (createServices) on a fresh test database, and
 * helpers that seed projects, keys and usage through those services, never around them.
 * Also a small reference implementation of the usage arithmetic (decimal.js, exact) that
 * tests compare the SQL aggregation against.
 */
import { StatsService } from '../../src/services/stats';
import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import type { Principal } from '../../src/domain/principal';
import type { ApiKey, Project, UsageLog, UsageQuery, UsageTotals } from '../../src/domain/types';
import { createLogger } from '../../src/logger';
import { createServices, type Services } from '../../src/services';
import { ServiceError, type ServiceErrorCode } from '../../src/services/errors';
import type { Caller, LogUsageInput, LogUsageResult } from '../../src/services/usage';
import { createMigratedDatabase, type TestDatabase } from './db';

export interface ServiceHarness {
  database: TestDatabase;
  db: Knex;
  services: Services;
  close(): Promise<void>;
}

/** The services of one server process on a fresh, migrated database (one per test file). */
/** The services on a fresh migrated database; `env` adds settings (e.g. LLMRING_METADATA_DIMENSIONS). */
export async function createServiceHarness(env: Record<string, string> = {}): Promise<ServiceHarness> {
  const database = await createMigratedDatabase();
  const config = loadConfig({ LLMRING_ENV: 'test', ...env });
  const services = await createServices({
    db: database.db,
    config,
    logger: createLogger({ level: 'silent' }),
  });
  // As a server does before it serves.
  await services.rollups.registerDimensions(config.metadataDimensions.keys);
  return { database, db: database.db, services, close: () => database.destroy() };
}

/** A StatsService of the harness's database that reads raw logs only: the reference answer. */
export function rawStats(h: Pick<ServiceHarness, 'db' | 'services'>): StatsService {
  const { timeZones, dimensions, rollups } = h.services;
  return new StatsService({ db: h.db, timeZones, dimensions, rollups, useRollups: false });
}

/** A stats result without its asOf, which differs between two statements by their time. */
export function withoutAsOf<T extends { asOf: Date }>(result: T): Omit<T, 'asOf'> {
  const { asOf, ...rest } = result;
  void asOf;
  return rest;
}

export interface SeededProject {
  project: Project;
  apiKey: ApiKey;
  secret: string;
  /** Who records usage: the project with its key, as the API does for an X-API-Key caller. */
  caller: Caller;
  /** The same project as a request principal (for scope/authorization). */
  principal: Principal;
}

let projectCounter = 0;

/** A project key unique within the test run, e.g. 'stats-a-3'. */
export function uniqueProjectKey(prefix = 'project'): string {
  projectCounter += 1;
  return `${prefix}-${projectCounter}`;
}

/** Creates a project and one API key for it through the services. */
export async function seedProject(
  services: Services,
  opts: { key?: string; name?: string; description?: string | null } = {},
): Promise<SeededProject> {
  const key = opts.key ?? uniqueProjectKey();
  const project = await services.projects.create({
    key,
    name: opts.name ?? `Project ${key}`,
    description: opts.description ?? null,
  });
  const { apiKey, secret } = await services.apiKeys.create(project.id, 'test key');
  return {
    project,
    apiKey,
    secret,
    caller: { project, apiKeyId: apiKey.id },
    principal: { kind: 'project', project, apiKeyId: apiKey.id, scopes: apiKey.scopes },
  };
}

/** A valid usage input; every field can be overridden. */
export function usageInput(overrides: Partial<LogUsageInput> = {}): LogUsageInput {
  return {
    provider: 'openai',
    model: 'gpt-4o',
    inputTokens: 100,
    outputTokens: 50,
    cost: 0.001,
    ...overrides,
  };
}

/** Records every input through UsageService.recordBatch (in batches of 1000), in order. */
export async function recordAll(
  services: Services,
  caller: Caller,
  inputs: LogUsageInput[],
): Promise<UsageLog[]> {
  const results: LogUsageResult[] = [];
  for (let i = 0; i < inputs.length; i += 1000) {
    results.push(...(await services.usage.recordBatch(caller, inputs.slice(i, i + 1000))));
  }
  return results.map((r) => r.usageLog);
}

/** Awaits `action` and returns the ServiceError it must throw, checking its code and field. */
export async function expectServiceError(
  action: Promise<unknown> | (() => unknown),
  code: ServiceErrorCode,
  field?: string,
): Promise<ServiceError> {
  let error: unknown;
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (err) {
    error = err;
  }
  if (error === undefined) throw new Error(`expected a ${code} ServiceError, but nothing was thrown`);
  expect(error).toBeInstanceOf(ServiceError);
  const serviceError = error as ServiceError;
  expect(serviceError.code).toBe(code);
  if (field !== undefined) {
    expect(serviceError.field).toBe(field);
    expect(serviceError.message).toContain(field);
  }
  return serviceError;
}

/** A deterministic pseudo-random generator (mulberry32), so seeded data is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The token sums of UsageTotals (every field but cost). */
const TOKEN_SUMS = [
  'requests',
  'inputTokens',
  'outputTokens',
  'cachedInputTokens',
  'cacheWriteTokens',
  'cacheWrite1hTokens',
  'reasoningTokens',
] as const;

export const ZERO_TOTALS: UsageTotals = {
  requests: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  reasoningTokens: 0,
  cost: '0.00000000',
};

/** Adds totals exactly (cost as decimal strings with 8 fractional digits). */
export function sumTotals(items: ReadonlyArray<UsageTotals>): UsageTotals {
  let cost = new Decimal(0);
  const t = { ...ZERO_TOTALS };
  for (const item of items) {
    for (const k of TOKEN_SUMS) t[k] += item[k];
    cost = cost.plus(item.cost);
  }
  return { ...t, cost: cost.toFixed(8) };
}

/** The totals of some stored logs, computed in JS. */
export function totalsOf(logs: ReadonlyArray<UsageLog>): UsageTotals {
  return sumTotals(logs.map((l) => ({ ...totalsPart({ ...l, requests: 1 }), cost: l.cost })));
}

/** Just the totals of a stats row (which may carry group keys and other fields). */
export function totalsPart(row: UsageTotals): UsageTotals {
  const out = { ...ZERO_TOTALS, cost: row.cost };
  for (const k of TOKEN_SUMS) out[k] = row[k];
  return out;
}

/** Whether a stored log matches a UsageQuery: the reference for the SQL filter. */
export function matchesQuery(log: UsageLog, q: UsageQuery): boolean {
  const t = log.occurredAt.getTime();
  if (t < q.start.getTime() || t >= q.end.getTime()) return false;
  if (q.projectIds && !q.projectIds.includes(log.projectId)) return false;
  if (q.aliasNames && !q.aliasNames.includes(log.aliasName)) return false;
  if (q.models && !q.models.includes(log.model)) return false;
  if (q.providers && !q.providers.includes(log.provider)) return false;
  if (q.origins && (log.origin === null || !q.origins.includes(log.origin))) return false;
  if (q.profiles && !q.profiles.includes(log.profile)) return false;
  return true;
}

/** Groups logs by a key, in first-seen order. */
export function groupLogs<K>(logs: ReadonlyArray<UsageLog>, keyOf: (log: UsageLog) => K): Map<K, UsageLog[]> {
  const groups = new Map<K, UsageLog[]>();
  for (const log of logs) {
    const key = keyOf(log);
    const list = groups.get(key);
    if (list) list.push(log);
    else groups.set(key, [log]);
  }
  return groups;
}
