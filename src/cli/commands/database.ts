/** `migrate` and `status`: the database's schema version and what it holds. */
import type { Command } from 'commander';
import type { Knex } from 'knex';
import { migrationConfig, migrationStatus } from '../../db/migrations';
import { toInt, toDateOrNull } from '../../db/normalize';
import { CliError, type CliContext } from '../context';
import { int, json, when } from '../format';
import type { Act } from '../program';

interface Counts {
  projects: number;
  archivedProjects: number | null;
  apiKeys: number;
  revokedApiKeys: number;
  usageLogs: number;
  receipts: number;
  oldestLog: Date | null;
  newestLog: Date | null;
}

async function count(db: Knex, table: string, where?: (q: Knex.QueryBuilder) => void): Promise<number> {
  const q = db(table);
  where?.(q);
  const [{ n }] = await q.count({ n: '*' });
  return toInt(n);
}

/** What the database holds; the columns a not yet migrated (legacy) database lacks are skipped. */
async function databaseCounts(db: Knex): Promise<Counts> {
  const archivable = await db.schema.hasColumn('projects', 'archived_at');
  const timed = await db.schema.hasColumn('usage_logs', 'occurred_at');
  const range = timed
    ? await db('usage_logs').min({ oldest: 'occurred_at' }).max({ newest: 'occurred_at' }).first()
    : undefined;
  return {
    projects: await count(db, 'projects'),
    archivedProjects: archivable ? await count(db, 'projects', (q) => q.whereNotNull('archived_at')) : null,
    apiKeys: await count(db, 'api_keys'),
    revokedApiKeys: await count(db, 'api_keys', (q) => q.whereNotNull('revoked_at')),
    usageLogs: await count(db, 'usage_logs'),
    receipts: await count(db, 'receipts'),
    oldestLog: toDateOrNull(range?.oldest),
    newestLog: toDateOrNull(range?.newest),
  };
}

/** Where the data lives, never with a password. */
function describe(ctx: CliContext, db: Knex): { kind: 'postgres' | 'pglite'; location: string } {
  const postgres = (db.client as { config?: { client?: unknown } }).config?.client === 'pg';
  if (!postgres) {
    return { kind: 'pglite', location: ctx.io.db ? '(provided)' : ctx.config().database.dataDir };
  }
  const url = ctx.config().database.url;
  if (!url) return { kind: 'postgres', location: '(provided)' };
  const u = new URL(url);
  u.password = '';
  u.search = '';
  return { kind: 'postgres', location: u.toString() };
}

async function lastBatch(db: Knex, all: boolean): Promise<string[]> {
  if (!(await db.schema.hasTable(migrationConfig.tableName!))) return [];
  const rows: Array<{ name: string; batch: number }> = await db(migrationConfig.tableName!)
    .select('name', 'batch')
    .orderBy('id', 'desc');
  if (rows.length === 0) return [];
  return (all ? rows : rows.filter((r) => r.batch === rows[0].batch)).map((r) => r.name);
}

export function registerDatabaseCommands(program: Command, act: Act): void {
  program
    .command('migrate')
    .description('apply pending database migrations, or roll back with --rollback')
    .option('--rollback', 'undo the last batch of migrations')
    .option('--all', 'with --rollback: undo every migration, back to an empty database')
    .option('-y, --yes', 'roll back without asking')
    .addHelpText(
      'after',
      `
Rolling back can drop tables and the data in them: the first (baseline) migration's rollback
drops every table. Back up first (see docs/operations.md).

Examples:
  $ llmring-server migrate
  $ llmring-server migrate --rollback --yes`,
    )
    .action(
      act(async (ctx, _args, opts: { rollback?: boolean; all?: boolean; yes?: boolean }) => {
        const db = ctx.db();
        if (opts.all && !opts.rollback) throw new CliError('--all goes with --rollback', 2);
        if (!opts.rollback) {
          const [batch, applied] = (await db.migrate.latest(migrationConfig)) as [number, string[]];
          if (applied.length === 0) {
            const { applied: all } = await migrationStatus(db);
            ctx.out(`Already up to date: ${all.length} migrations applied.`);
          } else {
            ctx.out(`Applied ${applied.length} migration(s) (batch ${batch}):`);
            for (const name of applied) ctx.out(`  ${name}`);
          }
          return;
        }
        const targets = await lastBatch(db, Boolean(opts.all));
        if (targets.length === 0) {
          ctx.out('Nothing to roll back: no migration is applied.');
          return;
        }
        ctx.err(`Rolling back ${targets.length} migration(s):\n${targets.map((t) => `  ${t}`).join('\n')}`);
        const ok = await ctx.confirm(
          'Rolling back can drop tables and the data in them. Continue?',
          Boolean(opts.yes),
        );
        if (!ok) throw new CliError('not rolled back: not confirmed (pass --yes to run without asking)');
        const [, undone] = (await db.migrate.rollback(migrationConfig, Boolean(opts.all))) as [
          number,
          string[],
        ];
        ctx.out(`Rolled back ${undone.length} migration(s):`);
        for (const name of undone) ctx.out(`  ${name}`);
      }),
    );

  program
    .command('status')
    .description('show the database in use, its migrations and what it holds')
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, _args, opts: { json?: boolean }) => {
        const db = ctx.db();
        const database = describe(ctx, db);
        const migrations = await migrationStatus(db);
        const counts = migrations.applied.length > 0 ? await databaseCounts(db) : null;
        if (opts.json) {
          ctx.out(json({ database, migrations, counts }));
          return;
        }
        const lines = [
          `Database:    ${database.kind === 'postgres' ? 'PostgreSQL' : 'embedded PGlite'} ${database.location}`,
          `Migrations:  ${migrations.applied.length} applied, ${migrations.pending.length} pending`,
          ...migrations.pending.map((m) => `  pending: ${m}`),
        ];
        if (migrations.pending.length) lines.push("  run 'llmring-server migrate' to apply them");
        if (counts) {
          const archived =
            counts.archivedProjects === null ? '' : ` (${int(counts.archivedProjects)} archived)`;
          lines.push(
            `Projects:    ${int(counts.projects)}${archived}`,
            `API keys:    ${int(counts.apiKeys)} (${int(counts.revokedApiKeys)} revoked)`,
            `Usage logs:  ${int(counts.usageLogs)}` +
              (counts.oldestLog
                ? `, calls from ${when(counts.oldestLog)} to ${when(counts.newestLog)} UTC`
                : ''),
            `Receipts:    ${int(counts.receipts)}`,
          );
        }
        ctx.out(lines.join('\n'));
      }),
    );
}
