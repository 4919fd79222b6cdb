/** `export-schedule create|list|delete`: scheduled exports (docs/exports.md), over ExportScheduleService. */
import { CLI_ACTOR } from '../../domain/access';
import type { Command } from 'commander';
import { ServiceError } from '../../services/errors';
import type { ExportFormat, ExportPeriod, ExportSchedule } from '../../services/exportSchedules';
import { CliError } from '../context';
import { count, json, table, usd, when } from '../format';
import type { Act } from '../program';

const FORMATS: Record<string, ExportFormat> = { 'focus-csv': 'FOCUS_CSV', 'focus-parquet': 'FOCUS_PARQUET' };
const PERIODS: Record<string, ExportPeriod> = { daily: 'DAILY', weekly: 'WEEKLY', monthly: 'MONTHLY' };
const OPTIONS: Record<string, string> = {
  'input.format': '--format',
  'input.period': '--period',
  'input.timeZone': '--time-zone',
  'input.destination': '--destination',
  'input.projectId': '--project',
};

/** A service error about an input field, named by its option. */
function inOptions(err: unknown): unknown {
  if (!(err instanceof ServiceError) || !err.field || !OPTIONS[err.field] || !err.problem) return err;
  return new CliError(`${OPTIONS[err.field]}: ${err.problem}`, 2);
}

function scheduleJson(s: ExportSchedule) {
  return { ...s, createdAt: s.createdAt.toISOString() };
}

export function registerExportScheduleCommands(program: Command, act: Act): void {
  const group = program
    .command('export-schedule')
    .description(
      'schedule FOCUS exports: one file per day, week or month, to a folder under LLMRING_EXPORT_DIR',
    );

  group
    .command('create')
    .description('create a schedule (docs/exports.md)')
    .requiredOption('--format <format>', 'focus-csv or focus-parquet')
    .requiredOption('--period <period>', 'daily, weekly (from Monday) or monthly')
    .requiredOption('--destination <folder>', 'a folder relative to LLMRING_EXPORT_DIR, e.g. finance/daily')
    .option('--time-zone <zone>', 'IANA time zone of the periods', 'UTC')
    .option('--project <project>', 'only this project, by key or id (default: every project)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Each period's file is written once, after the period ends (plus LLMRING_EXPORT_GRACE_SECONDS),
by the running server's worker, with a line in the folder's manifest.jsonl (rows, sum of cost,
SHA-256).

Example:
  $ llmring-server export-schedule create --format focus-csv --period daily --time-zone Europe/Berlin --destination finance/daily`,
    )
    .action(
      act(
        async (
          ctx,
          _args,
          opts: {
            format: string;
            period: string;
            destination: string;
            timeZone: string;
            project?: string;
            json?: boolean;
          },
        ) => {
          const format = FORMATS[opts.format];
          if (!format)
            throw new CliError(`--format: must be focus-csv or focus-parquet (got '${opts.format}')`, 2);
          const period = PERIODS[opts.period];
          if (!period)
            throw new CliError(`--period: must be daily, weekly or monthly (got '${opts.period}')`, 2);
          const projectId = opts.project ? (await ctx.project(opts.project)).id : null;
          const { exportSchedules, admin } = await ctx.services();
          const created = await admin
            .audited(
              CLI_ACTOR,
              { action: 'createExportSchedule', targetType: 'export_schedule' },
              () =>
                exportSchedules.create({
                  format,
                  period,
                  destination: opts.destination,
                  timeZone: opts.timeZone,
                  projectId,
                }),
              (c) => ({ targetId: c.id, details: { projectId, format, period, destination: c.destination } }),
            )
            .catch((err: unknown) => Promise.reject(inOptions(err)));
          if (opts.json) return ctx.out(json(scheduleJson(created)));
          ctx.out(
            `Created schedule ${created.id}: ${opts.format}, ${opts.period} in ${created.timeZone}, to ${created.destination}.`,
          );
        },
      ),
    );

  group
    .command('list')
    .description('list schedules and their latest file')
    .option('--json', 'print JSON, with the latest runs')
    .action(
      act(async (ctx, _args, opts: { json?: boolean }) => {
        const { exportSchedules } = await ctx.services();
        const schedules = await exportSchedules.list();
        const latest = await Promise.all(schedules.map((s) => exportSchedules.runs(s.id, 1)));
        if (opts.json) {
          return ctx.out(
            json(schedules.map((s, i) => ({ ...scheduleJson(s), latestRun: latest[i][0] ?? null }))),
          );
        }
        if (schedules.length === 0) return ctx.out('No export schedules.');
        const rows = schedules.map((s, i) => ({ s, run: latest[i][0] }));
        ctx.out(
          table(rows, [
            { header: 'ID', value: (r) => r.s.id },
            { header: 'FORMAT', value: (r) => r.s.format },
            { header: 'PERIOD', value: (r) => `${r.s.period} ${r.s.timeZone}` },
            { header: 'DESTINATION', value: (r) => r.s.destination },
            { header: 'LATEST FILE', value: (r) => r.run?.file ?? '-' },
            { header: 'STATUS', value: (r) => r.run?.status ?? '-' },
            { header: 'ROWS', value: (r) => (r.run?.rows ?? '-').toString(), align: 'right' },
            { header: 'COST', value: (r) => (r.run?.cost ? usd(r.run.cost) : '-'), align: 'right' },
            { header: 'WRITTEN', value: (r) => when(r.run?.finishedAt ?? null) },
          ]),
        );
        ctx.err(`${count(schedules.length, 'schedule')}.`);
      }),
    );

  group
    .command('delete')
    .description('delete a schedule; the files it wrote stay')
    .argument('<id>', 'the schedule id')
    .action(
      act(async (ctx, [id]) => {
        const { exportSchedules, admin } = await ctx.services();
        const deleted = await admin.audited(
          CLI_ACTOR,
          { action: 'deleteExportSchedule', targetType: 'export_schedule' },
          () => exportSchedules.delete(id),
          (d) => (d ? { targetId: id } : null),
        );
        if (!deleted) throw new CliError(`no export schedule with id '${id}'`);
        ctx.out(`Deleted schedule ${id}; its files stay.`);
      }),
    );
}
