/** `price set|list|history` (the operator's price book) and `reprice`, over PriceBookService and RepriceService. */
import type { Command } from 'commander';
import { CLI_ACTOR } from '../../domain/access';
import { parseIsoDate } from '../../domain/dates';
import type { PriceBookEntry } from '../../pricing/priceBook';
import type { RepriceResult } from '../../services/reprice';
import { CliError, type CliContext } from '../context';
import { addFilterOptions, inOptionTerms, usageQuery, type FilterOptions } from '../filters';
import { count, int, json, table, when } from '../format';
import type { Act } from '../program';

/** Book entry fields and the option that sets each. */
const PRICE_OPTIONS = [
  ['inputPerMillion', '--input', 'USD per million uncached input tokens (required)'],
  ['outputPerMillion', '--output', 'USD per million output tokens (required)'],
  [
    'cachedInputPerMillion',
    '--cached',
    'USD per million cached (cache-read) input tokens (default: the input price)',
  ],
  ['cacheWritePerMillion', '--cache-write', 'USD per million tokens written to the cache for 5 minutes'],
  ['cacheWrite1hPerMillion', '--cache-write-1h', 'USD per million tokens written to the cache for 1 hour'],
  ['reasoningPerMillion', '--reasoning', 'USD per million reasoning tokens (default: the output price)'],
  ['inputLongContextPerMillion', '--input-long-context', 'USD per million input tokens above the threshold'],
  [
    'outputLongContextPerMillion',
    '--output-long-context',
    'USD per million output tokens above the threshold',
  ],
] as const;

type PriceField = (typeof PRICE_OPTIONS)[number][0];
const camel = (option: string) => option.slice(2).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function entryJson(e: PriceBookEntry, projectKey: string | null) {
  return {
    id: e.id,
    version: e.version,
    project: projectKey,
    provider: e.provider,
    model: e.model,
    prices: e.prices,
    effectiveFrom: e.effectiveFrom.toISOString(),
    effectiveTo: e.effectiveTo?.toISOString() ?? null,
    note: e.note,
  };
}

async function projectKeys(ctx: CliContext, entries: PriceBookEntry[]): Promise<Map<string, string>> {
  const { projects } = await ctx.services();
  const ids = [...new Set(entries.map((e) => e.projectId).filter((id): id is string => id !== null))];
  const found = await projects.getByIds(ids);
  return new Map(found.filter((p) => p !== null).map((p) => [p!.id, p!.key]));
}

function entriesTable(entries: PriceBookEntry[], keys: Map<string, string>): string {
  return table(entries, [
    { header: 'VERSION', value: (e) => String(e.version), align: 'right' },
    { header: 'PROJECT', value: (e) => (e.projectId ? (keys.get(e.projectId) ?? e.projectId) : '(all)') },
    { header: 'PROVIDER', value: (e) => e.provider },
    { header: 'MODEL', value: (e) => e.model },
    { header: 'INPUT', value: (e) => e.prices.input, align: 'right' },
    { header: 'OUTPUT', value: (e) => e.prices.output, align: 'right' },
    { header: 'CACHED', value: (e) => e.prices.cachedInput ?? '-', align: 'right' },
    { header: 'CACHE WRITE', value: (e) => e.prices.cacheWrite5m ?? '-', align: 'right' },
    { header: 'FROM', value: (e) => when(e.effectiveFrom) },
    { header: 'TO', value: (e) => when(e.effectiveTo) },
  ]);
}

function repriceTable(result: RepriceResult, keys: Map<string, string>): string {
  return table(result.groups, [
    { header: 'PROJECT', value: (g) => keys.get(g.projectId) ?? g.projectId },
    { header: 'PROVIDER', value: (g) => g.provider },
    { header: 'MODEL', value: (g) => g.model },
    { header: 'LOGS', value: (g) => int(g.requests), align: 'right' },
    { header: 'BEFORE', value: (g) => `$${g.costBefore}`, align: 'right' },
    { header: 'AFTER', value: (g) => `$${g.costAfter}`, align: 'right' },
    { header: 'DIFFERENCE', value: (g) => `$${g.difference}`, align: 'right' },
  ]);
}

export function registerPricingCommands(program: Command, act: Act): void {
  const price = program
    .command('price')
    .description("the operator's price book: prices that replace the registry's for a model");

  const set = price
    .command('set')
    .description('put a price in the book (for every project, or --project)')
    .argument('<provider>', 'e.g. anthropic')
    .argument('<model>', 'e.g. claude-sonnet-4-5-20250929')
    .requiredOption(
      '--from <date>',
      'calls from this date or date-time on (by occurredAt; may be in the past)',
    )
    .option(
      '--to <date>',
      'up to this date-time, exclusive; a date alone includes that day (default: open-ended)',
    )
    .option('--project <project>', 'only this project, by key or id')
    .option('--long-context-threshold <tokens>', 'input tokens above which the long-context prices apply')
    .option('--note <text>', 'where the price comes from, e.g. a contract')
    .option('--json', 'print JSON');
  for (const [, option, help] of PRICE_OPTIONS) set.option(`${option} <usd>`, help);
  set
    .addHelpText(
      'after',
      `
An open-ended price of the same model and scope that started earlier ends where this one
starts; any other overlap is refused. New calls are priced from it at once; calls already
stored keep their cost until 'llmring-server reprice'.

Examples:
  $ llmring-server price set anthropic claude-sonnet-4-5-20250929 --input 2.7 --output 13.5 --from 2025-07-01
  $ llmring-server price set openai gpt-4o --input 2 --output 8 --project client-a --from 2025-06-01 --to 2025-12-31`,
    )
    .action(
      act(async (ctx, [provider, model], opts: Record<string, string | boolean | undefined>) => {
        const { admin } = await ctx.services();
        if (!opts.input || !opts.output) throw new CliError('--input and --output are required', 2);
        const prices = Object.fromEntries(
          PRICE_OPTIONS.map(([field, option]) => [
            field,
            (opts[camel(option)] as string | undefined) ?? null,
          ]),
        ) as Record<PriceField, string | null>;
        const threshold = opts.longContextThreshold as string | undefined;
        if (threshold !== undefined && !/^[0-9]{1,10}$/.test(threshold)) {
          throw new CliError('--long-context-threshold: must be a whole number of tokens', 2);
        }
        const entry = await admin
          .setModelPrice(CLI_ACTOR, {
            ...prices,
            inputPerMillion: prices.inputPerMillion!,
            outputPerMillion: prices.outputPerMillion!,
            provider,
            model,
            projectId: opts.project ? (await ctx.project(opts.project as string)).id : null,
            longContextThresholdTokens: threshold === undefined ? null : Number(threshold),
            effectiveFrom: parseIsoDate('--from', opts.from as string),
            effectiveTo: opts.to ? parseIsoDate('--to', opts.to as string, { endOfDay: true }) : null,
            note: (opts.note as string | undefined) ?? null,
          })
          .catch((err: unknown) => Promise.reject(priceOptionTerms(err)));
        if (opts.json) return ctx.out(json(entryJson(entry, (opts.project as string | undefined) ?? null)));
        ctx.out(
          `Price book version ${entry.version}: ${entry.provider}/${entry.model} at ${entry.prices.input} in, ` +
            `${entry.prices.output} out per million, for calls from ${when(entry.effectiveFrom)}` +
            `${entry.effectiveTo ? ` to ${when(entry.effectiveTo)}` : ''}.`,
        );
        ctx.err("Stored calls keep their cost: 'llmring-server reprice' shows what it would change.");
      }),
    );

  price
    .command('list')
    .description('every entry of the book (global, and --project)')
    .option('--project <project>', "also this project's entries (default: every project's)")
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, _args, opts: { project?: string; json?: boolean }) => {
        const { priceBook } = await ctx.services();
        const entries = await priceBook.list(opts.project ? [(await ctx.project(opts.project)).id] : null);
        const keys = await projectKeys(ctx, entries);
        if (opts.json)
          return ctx.out(
            json(entries.map((e) => entryJson(e, e.projectId ? (keys.get(e.projectId) ?? null) : null))),
          );
        if (entries.length === 0)
          return ctx.out('The price book is empty: every call is priced from the registry.');
        ctx.out(entriesTable(entries, keys));
      }),
    );

  price
    .command('history')
    .description("one model's entries, oldest first")
    .argument('<provider>')
    .argument('<model>')
    .option('--project <project>', "also this project's entries (default: every project's)")
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, [provider, model], opts: { project?: string; json?: boolean }) => {
        const { priceBook } = await ctx.services();
        const entries = await priceBook.history(
          provider,
          model,
          opts.project ? [(await ctx.project(opts.project)).id] : null,
        );
        const keys = await projectKeys(ctx, entries);
        if (opts.json)
          return ctx.out(
            json(entries.map((e) => entryJson(e, e.projectId ? (keys.get(e.projectId) ?? null) : null))),
          );
        if (entries.length === 0)
          return ctx.out(`No price book entry for ${provider}/${model}: it is priced from the registry.`);
        ctx.out(entriesTable(entries, keys));
      }),
    );

  addFilterOptions(
    program
      .command('reprice')
      .description(
        're-price stored calls from the price book and registry as they stand (a dry run unless --apply)',
      )
      .option('--apply', 'store the adjustments (each signed, naming the receipt it adjusts)')
      .option('-y, --yes', 'apply without asking')
      .option('--json', 'print JSON'),
  )
    .addHelpText(
      'after',
      `
Calls whose cost the client sent are never re-priced. Applying stores an adjustment per
changed call, updates its current cost and moves the statistics by exactly the difference;
receipts never change. Running it again changes nothing.

Examples:
  $ llmring-server reprice --project client-a --start 2025-07-01
  $ llmring-server reprice --project client-a --start 2025-07-01 --apply`,
    )
    .action(
      act(async (ctx, _args, opts: FilterOptions & { apply?: boolean; yes?: boolean; json?: boolean }) => {
        const { admin } = await ctx.services();
        const q = await usageQuery(ctx, opts);
        const run = (dryRun: boolean) =>
          admin
            .repriceUsage(CLI_ACTOR, q, {
              dryRun,
              onProgress: (logs) => ctx.interactive && ctx.io.stderr.write(`\rread ${int(logs)} logs`),
            })
            .catch((err: unknown) => Promise.reject(inOptionTerms(err)));
        const preview = await run(true);
        if (ctx.interactive) ctx.io.stderr.write('\n');
        const keys = new Map(
          (
            await (
              await ctx.services()
            ).projects.getByIds([...new Set(preview.groups.map((g) => g.projectId))])
          )
            .filter((p) => p !== null)
            .map((p) => [p!.id, p!.key]),
        );
        if (!opts.apply) {
          if (opts.json) return ctx.out(json(preview));
          if (preview.changedLogs === 0)
            return ctx.out('Nothing to re-price: every stored cost matches its price.');
          ctx.out(repriceTable(preview, keys));
          return ctx.out(
            `Would adjust ${count(preview.changedLogs, 'usage log')} by $${preview.difference} in all (dry run).`,
          );
        }
        if (preview.changedLogs === 0)
          return ctx.out('Nothing to re-price: every stored cost matches its price.');
        ctx.err(repriceTable(preview, keys));
        if (
          !(await ctx.confirm(
            `Adjust ${count(preview.changedLogs, 'usage log')} by $${preview.difference}?`,
            Boolean(opts.yes),
          ))
        ) {
          throw new CliError('nothing changed: not confirmed (pass --yes to run without asking)');
        }
        const done = await run(false);
        if (ctx.interactive) ctx.io.stderr.write('\n');
        if (opts.json) return ctx.out(json(done));
        ctx.out(
          `Adjusted ${count(done.changedLogs, 'usage log')} by $${done.difference} (price book version ${done.priceBookVersion}).`,
        );
      }),
    );
}

/** Field names of the price book (the API's) in the option names the operator typed. */
function priceOptionTerms(err: unknown): unknown {
  const options: Record<string, string> = {
    ...Object.fromEntries(PRICE_OPTIONS.map(([field, option]) => [field, option])),
    effectiveFrom: '--from',
    effectiveTo: '--to',
    longContextThresholdTokens: '--long-context-threshold',
    projectId: '--project',
  };
  const e = err as { field?: string; problem?: string; code?: string };
  if (!e?.field || !e.problem || !options[e.field]) return err;
  return new CliError(`${options[e.field]}: ${e.problem}`, 2);
}
