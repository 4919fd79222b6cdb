/**
 * The usage filter options shared by `stats` and `export`: the same filter as the GraphQL
 * usageLogs query (UsageFilter), resolved by the same service function, as an admin.
 */
import type { Command } from 'commander';
import { ADMIN } from '../domain/principal';
import { parseIsoDate } from '../domain/dates';
import type { UsageQuery } from '../domain/types';
import { ServiceError } from '../services/errors';
import { resolveUsageQuery } from '../services/scope';
import { CliError, type CliContext } from './context';

export interface FilterOptions {
  project?: string;
  start?: string;
  end?: string;
  alias?: string[];
  unaliased?: boolean;
  model?: string[];
  provider?: string[];
  origin?: string[];
  profile?: string[];
  metadata?: string[];
}

export const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function addFilterOptions(command: Command): Command {
  return command
    .option('--project <project>', 'one project, by key or id (default: every project)')
    .option(
      '--start <date>',
      'from this date (a local day in --time-zone, UTC by default) or date-time, ISO 8601 (default: 30 days before --end)',
    )
    .option('--end <date>', 'up to this date-time, exclusive; a date alone includes that day (default: now)')
    .option('--alias <name>', 'only calls logged under this alias name (repeatable)', collect)
    .option('--unaliased', 'only (or also, with --alias) calls logged without an alias')
    .option('--model <model>', 'only this model (repeatable)', collect)
    .option('--provider <provider>', 'only this provider (repeatable)', collect)
    .option('--origin <origin>', 'only this origin (repeatable)', collect)
    .option('--profile <profile>', 'only this profile (repeatable)', collect)
    .option(
      '--metadata <key=value>',
      'only calls whose promoted metadata key has this value (repeatable; same key: any of the values)',
      collect,
    );
}

/** Service field names (the GraphQL filter's) -> the options the operator typed. */
const OPTION_NAMES: Record<string, string> = {
  'filter.startDate': '--start',
  'filter.endDate': '--end',
  'filter.aliasNames': '--alias',
  'filter.models': '--model',
  'filter.providers': '--provider',
  'filter.origins': '--origin',
  'filter.profiles': '--profile',
  'filter.metadata': '--metadata',
  timeZone: '--time-zone',
  metadataKeys: '--by-metadata',
};

/** A service error as the operator should read it: naming the option, not the API's field. */
export function inOptionTerms(err: unknown): unknown {
  if (!(err instanceof ServiceError) || err.field === undefined || err.problem === undefined) return err;
  const option = OPTION_NAMES[err.field] ?? OPTION_NAMES[err.field.replace(/\[\d+\].*$/, '')];
  return option ? new ServiceError(err.code, `${option}: ${err.problem}`, option, err.problem) : err;
}

const list = (values: string[] | undefined) => (values?.length ? values : undefined);

/** `--metadata key=value` pairs as metadata filters, values of one key together. */
export function metadataFilters(pairs: string[] | undefined) {
  if (!pairs?.length) return undefined;
  const byKey = new Map<string, string[]>();
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CliError(`--metadata: expected key=value (got '${pair.slice(0, 80)}')`, 2);
    const key = pair.slice(0, at);
    byKey.set(key, [...(byKey.get(key) ?? []), pair.slice(at + 1)]);
  }
  return [...byKey].map(([key, values]) => ({ key, values }));
}

/**
 * The filter options as a scoped query (as an admin). A date alone is a local day in
 * `timeZone`, as the periods of `stats --group-by` are.
 */
export async function usageQuery(
  ctx: CliContext,
  opts: FilterOptions,
  timeZone = 'UTC',
): Promise<UsageQuery> {
  const services = await ctx.services();
  const projectId = opts.project ? (await ctx.project(opts.project)).id : undefined;
  const aliasNames: Array<string | null> = [...(opts.alias ?? [])];
  if (opts.unaliased) aliasNames.push(null);
  const date = async (option: '--start' | '--end', value: string | undefined) => {
    if (value === undefined) return undefined;
    const instant = parseIsoDate(option, value);
    return DATE_ONLY.test(value)
      ? services.timeZones.startOfLocalDay(value, timeZone, { nextDay: option === '--end' })
      : instant;
  };
  try {
    return resolveUsageQuery(ADMIN, {
      projectId,
      startDate: await date('--start', opts.start),
      endDate: await date('--end', opts.end),
      aliasNames: aliasNames.length ? aliasNames : undefined,
      models: list(opts.model),
      providers: list(opts.provider),
      origins: list(opts.origin),
      profiles: list(opts.profile),
      metadata: metadataFilters(opts.metadata),
    });
  } catch (err) {
    throw inOptionTerms(err);
  }
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** 'project default' or 'every project', for headings. */
export function scopeName(opts: FilterOptions): string {
  return opts.project ? `project '${opts.project}'` : 'every project';
}
