/** `stats`, `export` and `prune`: reading, exporting and removing usage logs. */
import fs from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { parseIsoDate } from '../../domain/dates';
import type { TimeBucket, UsageQuery } from '../../domain/types';
import { EXPORT_CHUNK_ROWS, EXPORT_PAGE_ROWS, MAX_EXPORT_PAGE_ROWS } from '../../domain/limits';
import { inChunks } from '../../export/chunks';
import { MAX_BREAKDOWN_GROUPS } from '../../services/stats';
import type { ExportedUsageLog, UsageLogReader } from '../../services/usageReader';
import { CliError, type CliContext, type Output } from '../context';
import { addFilterOptions, inOptionTerms, scopeName, usageQuery, type FilterOptions } from '../filters';
import { count, int, json, jsonLine, printableCells, table, usd, when } from '../format';
import type { Act } from '../program';

const BUCKETS = new Set(['hour', 'day', 'week', 'month']);

export const EXPORT_COLUMNS = [
  'id',
  'project_key',
  'occurred_at',
  'received_at',
  'provider',
  'model',
  'alias_name',
  'profile',
  'origin',
  'id_at_origin',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
  'cost',
  'original_cost',
  'cost_source',
  'latency_ms',
  'idempotency_key',
  'metadata',
  'warnings',
] as const;

type ExportRecord = Record<(typeof EXPORT_COLUMNS)[number], unknown>;

/**
 * The CSV export's columns and formula escaping: csv-stringify puts an apostrophe before a cell
 * that starts with =, +, -, @, tab or carriage return (or the fullwidth ＝ ＋ － ＠), so that a
 * spreadsheet shows it as text instead of running it; numbers (a negative one too) are left as
 * they are. Aliases, models, origins and the like are whatever a client logged.
 */
const CSV_OPTIONS = { columns: [...EXPORT_COLUMNS], escape_formulas: true };

function exportRecord(log: ExportedUsageLog): ExportRecord {
  return {
    id: log.id,
    project_key: log.projectKey,
    occurred_at: log.occurredAt.toISOString(),
    received_at: log.receivedAt.toISOString(),
    provider: log.provider,
    model: log.model,
    alias_name: log.aliasName,
    profile: log.profile,
    origin: log.origin,
    id_at_origin: log.idAtOrigin,
    input_tokens: log.inputTokens,
    output_tokens: log.outputTokens,
    cached_input_tokens: log.cachedInputTokens,
    cache_write_tokens: log.cacheWriteTokens,
    cache_write_1h_tokens: log.cacheWrite1hTokens,
    reasoning_tokens: log.reasoningTokens,
    cost: log.cost,
    original_cost: log.originalCost ?? log.cost,
    cost_source: log.costSource,
    latency_ms: log.latencyMs,
    idempotency_key: log.idempotencyKey,
    metadata: log.metadata,
    warnings: log.warnings,
  };
}

/** A batch of logs as CSV (cells made printable unless written to a file) or JSON Lines. */
function exportText(batch: ExportedUsageLog[], format: 'csv' | 'jsonl', toFile: boolean): string {
  const records = batch.map(exportRecord);
  if (format === 'jsonl') return records.map(jsonLine).join('\n') + '\n';
  return stringify(
    records.map((r) => {
      const cells = {
        ...r,
        metadata: JSON.stringify(r.metadata),
        warnings: (r.warnings as string[]).join('; '),
      };
      // stdout may be a terminal: no raw control characters there (a file keeps them).
      return toFile ? cells : printableCells(cells);
    }),
    CSV_OPTIONS,
  );
}

/** The CSV (header first) or JSON Lines text of `q`, EXPORT_CHUNK_ROWS logs a chunk. */
async function* exportChunks(
  reader: UsageLogReader,
  q: UsageQuery,
  opts: { format: 'csv' | 'jsonl'; toFile: boolean; pageSize: number; onRow: () => void },
): AsyncGenerator<string> {
  if (opts.format === 'csv') yield stringify([], { ...CSV_OPTIONS, header: true });
  for await (const batch of inChunks(reader.logs(q, { pageSize: opts.pageSize }), EXPORT_CHUNK_ROWS)) {
    for (let i = 0; i < batch.length; i++) opts.onRow();
    yield exportText(batch, opts.format, opts.toFile);
  }
}

/** Writes, waiting whenever the destination asks to (so a slow pipe never buffers everything). */
async function write(out: Output, text: string): Promise<void> {
  if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

/** Progress on stderr: redrawn in place on a terminal, an occasional line otherwise. */
function progressReporter(ctx: CliContext, verb: string, total: number) {
  let last = 0;
  const every = ctx.interactive ? 250 : 5000;
  return (done: number, final = false) => {
    const now = Date.now();
    if (!final && now - last < every) return;
    last = now;
    const pct = total > 0 ? ` (${Math.floor((done * 100) / total)}%)` : '';
    const text = `${verb} ${int(done)} of ${count(total, 'usage log')}${pct}`;
    if (ctx.interactive) ctx.io.stderr.write(`\r${text}${final ? '\n' : ''}`);
    else ctx.err(text);
  };
}

export function registerUsageCommands(program: Command, act: Act): void {
  addFilterOptions(
    program
      .command('stats')
      .description('usage by alias and by model for a period, as tables (or --json)')
      .option('--group-by <bucket>', 'also show totals per hour, day, week or month')
      .option('--time-zone <zone>', 'IANA time zone of the --group-by periods and of dates alone', 'UTC')
      .option(
        '--by-metadata <key>',
        'also show totals per value of this promoted metadata key (repeatable)',
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      )
      .option('--json', 'print JSON (exact decimal costs)'),
  )
    .addHelpText(
      'after',
      `
The same statistics as the API's usageStats, from one statement. A date alone (--start,
--end) is a local day in --time-zone.

Examples:
  $ llmring-server stats --project default
  $ llmring-server stats --project client-a --start 2025-06-01 --end 2025-06-30 --group-by day
  $ llmring-server stats --time-zone Europe/Berlin --group-by day --by-metadata feature
  $ llmring-server stats --json > june.json`,
    )
    .action(
      act(
        async (
          ctx,
          _args,
          opts: FilterOptions & { groupBy?: string; timeZone: string; byMetadata?: string[]; json?: boolean },
        ) => {
          const { stats } = await ctx.services();
          if (opts.groupBy && !BUCKETS.has(opts.groupBy)) {
            throw new CliError(`--group-by: must be hour, day, week or month (got '${opts.groupBy}')`, 2);
          }
          const keys = opts.byMetadata ?? [];
          const result = await (async () => {
            const timeZone = await stats.timeZone(opts.timeZone);
            const q = await usageQuery(ctx, opts, timeZone);
            const answer = await stats.query(q, {
              overview: true,
              byPeriod: opts.groupBy ? { bucket: opts.groupBy as TimeBucket, timeZone } : undefined,
              breakdowns: keys.map((key) => ({ by: [], metadataKeys: [key], limit: MAX_BREAKDOWN_GROUPS })),
            });
            return { q, timeZone, answer };
          })().catch((err: unknown) => Promise.reject(inOptionTerms(err)));
          const { q, timeZone, answer } = result;
          const { summary, byAlias, byModel } = answer.overview!;
          const byPeriod = answer.byPeriod;
          const byMetadata = Object.fromEntries(keys.map((key, i) => [key, answer.breakdowns[i]]));
          if (opts.json) {
            return ctx.out(
              json({
                scope: scopeName(opts),
                start: q.start,
                end: q.end,
                timeZone,
                asOf: answer.asOf,
                summary,
                byAlias,
                byModel,
                byPeriod,
                ...(keys.length ? { byMetadata } : {}),
              }),
            );
          }
          const tokens = [
            {
              header: 'REQUESTS',
              value: (r: { requests: number }) => int(r.requests),
              align: 'right' as const,
            },
            {
              header: 'INPUT',
              value: (r: { inputTokens: number }) => int(r.inputTokens),
              align: 'right' as const,
            },
            {
              header: 'CACHED',
              value: (r: { cachedInputTokens: number }) => int(r.cachedInputTokens),
              align: 'right' as const,
            },
            {
              header: 'OUTPUT',
              value: (r: { outputTokens: number }) => int(r.outputTokens),
              align: 'right' as const,
            },
            { header: 'COST', value: (r: { cost: string }) => usd(r.cost), align: 'right' as const },
          ];
          const sections = [
            `Usage of ${scopeName(opts)} from ${when(q.start)} to ${when(q.end)} UTC`,
            `${int(summary.requests)} requests, ${int(summary.inputTokens)} input tokens ` +
              `(${int(summary.cachedInputTokens)} cached, ${int(summary.cacheWriteTokens + summary.cacheWrite1hTokens)} written to the cache), ` +
              `${int(summary.outputTokens)} output tokens (${int(summary.reasoningTokens)} reasoning), ` +
              `${usd(summary.cost)}; ${summary.uniqueAliases} aliases, ${summary.uniqueModels} models`,
          ];
          if (summary.requests > 0) {
            sections.push(
              '',
              'By alias',
              table(byAlias, [
                { header: 'ALIAS', value: (r) => r.aliasName ?? '(no alias)' },
                ...tokens,
                { header: 'MODELS', value: (r) => r.models.join(', ') },
              ]),
              '',
              'By model',
              table(byModel, [
                { header: 'PROVIDER', value: (r) => r.provider },
                { header: 'MODEL', value: (r) => r.model },
                ...tokens,
              ]),
            );
            for (const key of keys) {
              sections.push(
                '',
                `By metadata ${key}`,
                table(byMetadata[key], [
                  { header: key.toUpperCase(), value: (r) => r.metadata?.[0].value ?? '(none)' },
                  ...tokens,
                ]),
              );
            }
            if (byPeriod) {
              sections.push(
                '',
                `By ${opts.groupBy} (${timeZone})`,
                table(byPeriod, [
                  { header: 'PERIOD START', value: (r) => r.localStart.replace('T', ' ') },
                  ...tokens,
                  { header: 'TOP MODEL', value: (r) => r.topModel ?? '' },
                ]),
              );
            }
          }
          ctx.out(sections.join('\n'));
        },
      ),
    );

  addFilterOptions(
    program
      .command('export')
      .description(
        'export usage logs as CSV, JSON Lines or FinOps FOCUS 1.2 CSV, streamed, to a file or stdout',
      )
      .option(
        '--format <format>',
        'csv, jsonl, focus (FOCUS 1.2 CSV) or focus-parquet (FOCUS 1.2 Parquet, needs -o); docs/focus.md',
        'csv',
      )
      .option('-o, --output <file>', 'write to this file (default: stdout)')
      .option('--batch-size <n>', 'rows read per query', String(EXPORT_PAGE_ROWS)),
  )
    .addHelpText(
      'after',
      `
Rows come project by project, oldest call first; progress goes to stderr. Columns:
  ${EXPORT_COLUMNS.slice(0, 9).join(', ')},
  ${EXPORT_COLUMNS.slice(9).join(', ')}
(cost is the exact decimal in USD; metadata is JSON; warnings, in CSV, joined with '; ').
In CSV, a cell that starts with =, +, -, @, tab or carriage return (or a fullwidth ＝ ＋ － ＠)
gets a leading apostrophe ('), so that a spreadsheet shows it as text instead of running it
as a formula; drop the apostrophe to get the value as logged. JSON Lines keep values as is.
Characters a terminal would act on (control characters, bidirectional overrides) are written
as \\uXXXX escapes: always in JSON Lines (JSON's own escape, so values are unchanged), and in
CSV written to stdout; a CSV file (-o) keeps them as logged.

Examples:
  $ llmring-server export --project default --start 2025-06-01 --end 2025-06-30 -o june.csv
  $ llmring-server export --format jsonl --start 2000-01-01 | gzip > all-usage.jsonl.gz
  $ llmring-server export --format focus --start 2026-11-01 --end 2026-11-30 -o focus-2026-11.csv
  $ llmring-server export --format focus-parquet --start 2026-11-01 -o focus-2026-11.parquet

--format focus writes one FOCUS 1.2 row per call (BilledCost, EffectiveCost, ListCost,
ChargePeriodStart/End, ServiceName, ResourceId, SkuId, ConsumedQuantity/Unit, Tags, ...);
the column mapping is in docs/focus.md.`,
    )
    .action(
      act(
        async (ctx, _args, opts: FilterOptions & { format: string; output?: string; batchSize: string }) => {
          if (!['csv', 'jsonl', 'focus', 'focus-parquet'].includes(opts.format)) {
            throw new CliError(
              `--format: must be csv, jsonl, focus or focus-parquet (got '${opts.format}')`,
              2,
            );
          }
          if (opts.format === 'focus-parquet' && !opts.output) {
            throw new CliError('--format focus-parquet writes a file: give it with -o <file>', 2);
          }
          const pageSize = Number(opts.batchSize);
          if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_EXPORT_PAGE_ROWS) {
            throw new CliError(`--batch-size: must be an integer from 1 to ${MAX_EXPORT_PAGE_ROWS}`, 2);
          }
          const { usageReader: reader, exports } = await ctx.services();
          const q = await usageQuery(ctx, opts);
          const total = await reader.count(q);
          const progress = progressReporter(ctx, 'exported', total);
          let exported = 0;
          const onRow = () => void exported++;

          // A file is written under a temporary name and renamed when complete, so a failed
          // export never leaves a file that looks whole.
          const partial = opts.output ? `${opts.output}.partial` : undefined;
          if (opts.format === 'focus-parquet') {
            try {
              await exports.writeFocusParquet(q, partial!, {
                pageSize,
                onRow: () => progress(++exported),
              });
              fs.renameSync(partial!, opts.output!);
            } catch (err) {
              fs.rmSync(partial!, { force: true });
              throw err;
            }
            progress(exported, true);
            return ctx.err(`Exported ${count(exported, 'usage log')} to ${opts.output}.`);
          }
          const file = partial ? fs.createWriteStream(partial) : undefined;
          const fileError = file ? once(file, 'error').then(([e]) => Promise.reject(e as Error)) : undefined;
          fileError?.catch(() => undefined);
          const out: Output = file ?? ctx.io.stdout;
          // Each chunk is written, waiting whenever the output asks to, before the next rows
          // are read.
          const chunks =
            opts.format === 'focus'
              ? exports.focusCsvChunks(q, { pageSize, map: file ? undefined : printableCells, onRow })
              : exportChunks(reader, q, {
                  format: opts.format as 'csv' | 'jsonl',
                  toFile: Boolean(file),
                  pageSize,
                  onRow,
                });
          try {
            for await (const text of chunks) {
              await (fileError ? Promise.race([write(out, text), fileError]) : write(out, text));
              if (exported > 0) progress(exported); // not for the header alone
            }
            if (file && partial) {
              await new Promise<void>((resolve, reject) =>
                file.end((err?: Error | null) => (err ? reject(err) : resolve())),
              );
              fs.renameSync(partial, opts.output!);
            }
          } catch (err) {
            if (file && partial) {
              file.destroy();
              fs.rmSync(partial, { force: true });
            }
            throw err;
          }
          progress(exported, true);
          ctx.err(`Exported ${count(exported, 'usage log')}${opts.output ? ` to ${opts.output}` : ''}.`);
        },
      ),
    );

  program
    .command('prune')
    .description('delete usage logs of calls made before a date (retention)')
    .requiredOption(
      '--before <date>',
      'delete logs of calls before this date (a date alone: its UTC midnight)',
    )
    .option('--project <project>', 'only this project, by key or id (default: every project)')
    .option('--delete-receipts', 'also delete the receipts of those logs (default: keep them, detached)')
    .option('--dry-run', 'only count what would be deleted')
    .option('-y, --yes', 'delete without asking')
    .addHelpText(
      'after',
      `
Receipts are signed, self-contained records of each call. By default they are kept: their
link to the deleted log is cleared, and they stay retrievable by receipt id and verifiable.
--delete-receipts removes them too. Deletion runs in small batches; an interrupted prune
can be run again. Back up first (see docs/operations.md).

Examples:
  $ llmring-server prune --before 2025-01-01 --dry-run
  $ llmring-server prune --before 2025-01-01 --yes`,
    )
    .action(
      act(
        async (
          ctx,
          _args,
          opts: {
            before: string;
            project?: string;
            deleteReceipts?: boolean;
            dryRun?: boolean;
            yes?: boolean;
          },
        ) => {
          const { retention, rollups } = await ctx.services();
          const before = parseIsoDate('--before', opts.before);
          // Fold every committed log into the hourly rollups first: prune keeps any log they
          // have not counted yet, and the statistics of the pruned hours come from them.
          await rollups.runOnce();
          const projectIds = opts.project ? [(await ctx.project(opts.project)).id] : undefined;
          const preview = await retention.preview(before, { projectIds });
          const scope = opts.project ? `project '${opts.project}'` : 'every project';
          const receipts = opts.deleteReceipts
            ? `and their ${count(preview.receipts, 'receipt')}`
            : `(their ${count(preview.receipts, 'receipt')} kept, detached)`;
          const plan = `${count(preview.usageLogs, 'usage log')} of ${scope} for calls before ${before.toISOString()} ${receipts}`;
          if (preview.waitingForRollups > 0) {
            ctx.err(
              `${count(preview.waitingForRollups, 'more usage log')} before that date ${preview.waitingForRollups === 1 ? 'waits' : 'wait'} ` +
                'for the hourly rollups to count them (a transaction still open on the database holds them back); ' +
                'a later prune deletes them.',
            );
          }
          if (preview.usageLogs === 0)
            return ctx.out(`Nothing to prune: no usage log of ${scope} before ${before.toISOString()}.`);
          if (opts.dryRun) return ctx.out(`Would delete ${plan}.`);
          ctx.err(`About to delete ${plan}.`);
          if (!(await ctx.confirm('This cannot be undone. Continue?', Boolean(opts.yes)))) {
            throw new CliError('nothing deleted: not confirmed (pass --yes to run without asking)');
          }
          const progress = progressReporter(ctx, 'deleted', preview.usageLogs);
          const result = await retention.prune(before, {
            projectIds,
            deleteReceipts: Boolean(opts.deleteReceipts),
            onProgress: (p) => progress(p.usageLogs),
          });
          progress(result.usageLogs, true);
          ctx.out(
            `Deleted ${count(result.usageLogs, 'usage log')}; ` +
              (opts.deleteReceipts
                ? `deleted ${count(result.receiptsDeleted, 'receipt')}.`
                : `kept ${count(result.receiptsDetached, 'receipt')}, detached from them.`),
          );
        },
      ),
    );
}
