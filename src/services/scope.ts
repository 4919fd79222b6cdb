/**
 * Who may see what: turns a caller's UsageFilter into a UsageQuery scoped to the projects
 * the caller may read. A project caller sees only its own project; an admin any or all.
 */
import type { Principal } from '../domain/principal';
import type { MetadataFilter, UsageQuery } from '../domain/types';
import {
  DEFAULT_RANGE_MS,
  EARLIEST_FILTER_DATE,
  isUuid,
  LATEST_FILTER_DATE,
  MAX_STATS_RANGE_YEARS,
} from '../domain/limits';
import { requireReader } from './authz';
import { badInput, forbidden } from './errors';
import { checkStorable } from './validate';

export interface UsageFilterInput {
  projectId?: string | null;
  startDate?: Date | null;
  endDate?: Date | null;
  aliasNames?: Array<string | null> | null;
  models?: string[] | null;
  providers?: string[] | null;
  origins?: string[] | null;
  profiles?: string[] | null;
  metadata?: Array<{ key: string; values: Array<string | null> }> | null;
}

const MAX_LIST = 1000;
/** Most metadata filter entries (each names a promoted key; there are at most 32). */
const MAX_METADATA_FILTERS = 32;

/** The project ids a caller may read: its own, or for an admin the named one or all (null). */
export function readableProjects(principal: Principal, projectId?: string | null): string[] | null {
  requireReader(principal);
  if (principal.kind === 'project') {
    if (projectId && projectId !== principal.project.id) {
      throw forbidden('filter.projectId names another project; an API key reads only its own project');
    }
    return [principal.project.id];
  }
  if (projectId && !isUuid(projectId)) throw badInput('filter.projectId', 'is not a project id (a UUID)');
  return projectId ? [projectId] : null;
}

function list<T extends string | null>(field: string, values: T[] | null | undefined): T[] | undefined {
  if (values === null || values === undefined) return undefined;
  if (values.length > MAX_LIST) throw badInput(`filter.${field}`, `must have at most ${MAX_LIST} entries`);
  for (const v of values) if (v !== null) checkStorable(`filter.${field}`, v);
  return values;
}

function validDate(field: string, value: Date): Date {
  if (Number.isNaN(value.getTime())) throw badInput(`filter.${field}`, 'is not a valid date-time');
  if (value < EARLIEST_FILTER_DATE || value > LATEST_FILTER_DATE) {
    throw badInput(`filter.${field}`, 'must be a date-time from year 1 to year 9999');
  }
  return value;
}

function metadataFilters(entries: UsageFilterInput['metadata']): MetadataFilter[] | undefined {
  if (entries === null || entries === undefined) return undefined;
  if (entries.length > MAX_METADATA_FILTERS) {
    throw badInput('filter.metadata', `must have at most ${MAX_METADATA_FILTERS} entries`);
  }
  return entries.map((e, i) => {
    checkStorable(`filter.metadata[${i}].key`, e.key);
    return { key: e.key, values: list(`metadata[${i}].values`, e.values)! };
  });
}

export function resolveUsageQuery(
  principal: Principal,
  filter: UsageFilterInput | null | undefined,
  now = new Date(),
): UsageQuery {
  const f = filter ?? {};
  const projectIds = readableProjects(principal, f.projectId);
  const end = f.endDate ? validDate('endDate', f.endDate) : now;
  const start = f.startDate
    ? validDate('startDate', f.startDate)
    : new Date(end.getTime() - DEFAULT_RANGE_MS);
  if (start.getTime() >= end.getTime()) {
    throw badInput('filter.startDate', 'must be before the end of the range (a range is [start, end))');
  }
  return {
    projectIds,
    start,
    end,
    aliasNames: list('aliasNames', f.aliasNames),
    models: list('models', f.models),
    providers: list('providers', f.providers),
    origins: list('origins', f.origins),
    profiles: list('profiles', f.profiles),
    metadata: metadataFilters(f.metadata),
  };
}

/** `start` plus `years` calendar years, in UTC. */
function addYears(start: Date, years: number): Date {
  const d = new Date(start.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}

/**
 * Throws BAD_USER_INPUT (filter.startDate) for a range longer than 10 calendar years: what
 * statistics and re-pricing cover at most in one request. `what` starts the message.
 */
export function checkRangeLength(q: UsageQuery, what: string): void {
  if (q.end.getTime() > addYears(q.start, MAX_STATS_RANGE_YEARS).getTime()) {
    const years = (q.end.getTime() - q.start.getTime()) / (365.25 * 24 * 3600 * 1000);
    throw badInput(
      'filter.startDate',
      `${what} at most ${MAX_STATS_RANGE_YEARS} years at a time; this range is ${years.toFixed(1)} years long`,
    );
  }
}
