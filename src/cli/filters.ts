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
import type { CliContext } from './context';

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
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export function addFilterOptions(command: Command): Command {
  return command
    .option('--project <project>', 'one project, by key or id (default: every project)')
    .option('--start <date>', 'from this date or date-time, ISO 8601, UTC (default: 30 days before --end)')
    .option('--end <date>', 'up to this date-time, exclusive; a date alone includes that day (default: now)')
    .option('--alias <name>', 'only calls logged under this alias name (repeatable)', collect)
    .option('--unaliased', 'only (or also, with --alias) calls logged without an alias')
    .option('--model <model>', 'only this model (repeatable)', collect)
    .option('--provider <provider>', 'only this provider (repeatable)', collect)
    .option('--origin <origin>', 'only this origin (repeatable)', collect)
    .option('--profile <profile>', 'only this profile (repeatable)', collect);
}

/** Service messages speak of the GraphQL filter; the operator typed options. */
const OPTION_NAMES: Array<[string, string]> = [
  ['filter.startDate', '--start'],
  ['filter.endDate', '--end'],
  ['filter.aliasNames', '--alias'],
  ['filter.models', '--model'],
  ['filter.providers', '--provider'],
  ['filter.origins', '--origin'],
  ['filter.profiles', '--profile'],
];

function optionNames(text: string): string {
  return OPTION_NAMES.reduce((s, [from, to]) => s.split(from).join(to), text);
}

const list = (values: string[] | undefined) => (values?.length ? values : undefined);

export async function usageQuery(ctx: CliContext, opts: FilterOptions): Promise<UsageQuery> {
  const projectId = opts.project ? (await ctx.project(opts.project)).id : undefined;
  const aliasNames: Array<string | null> = [...(opts.alias ?? [])];
  if (opts.unaliased) aliasNames.push(null);
  try {
    return resolveUsageQuery(ADMIN, {
      projectId,
      startDate: opts.start ? parseIsoDate('--start', opts.start) : undefined,
      endDate: opts.end ? parseIsoDate('--end', opts.end, { endOfDay: true }) : undefined,
      aliasNames: aliasNames.length ? aliasNames : undefined,
      models: list(opts.model),
      providers: list(opts.provider),
      origins: list(opts.origin),
      profiles: list(opts.profile),
    });
  } catch (err) {
    if (err instanceof ServiceError) {
      throw new ServiceError(err.code, optionNames(err.message), err.field && optionNames(err.field));
    }
    throw err;
  }
}

/** 'project default' or 'every project', for headings. */
export function scopeName(opts: FilterOptions): string {
  return opts.project ? `project '${opts.project}'` : 'every project';
}
