/**
 * The audit log (issue 21, docs/access.md), over AuditService:
 *
 * - `audit`: newest first, as a table or JSON Lines, with each entry's leaf index;
 * - `audit checkpoint`: the newest signed checkpoint (what GET /audit/checkpoint serves);
 * - `audit export`: the whole log with its checkpoint, for an auditor;
 * - `verify-audit`: the offline check of an export (src/ledger/verifyAudit.ts), with a verifier
 *   key the auditor trusts and checkpoints or exports saved earlier. Needs no database.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import type { AuditEntry } from '../../domain/access';
import { httpLedgerServer } from '../../ledger/verify';
import { verifyAuditExport, type EarlierCheckpoint } from '../../ledger/verifyAudit';
import { CliError, type CliContext } from '../context';
import { jsonLine, table, when } from '../format';
import type { Act } from '../program';

function auditJson(e: AuditEntry) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    actor: e.actorName,
    actorOperatorId: e.actorOperatorId,
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId,
    details: e.details,
    leafIndex: e.leafIndex,
  };
}

/** The lines of a JSON Lines file, parsed; a line that is not JSON is a usage error naming it. */
function readJsonLines(file: string): unknown[] {
  const out: unknown[] = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        out.push(JSON.parse(line));
      } catch {
        throw new CliError(`error: ${file} line ${i + 1} is not JSON`, 2);
      }
    });
  return out;
}

/** A saved checkpoint file: a signed note, or an earlier export (JSON Lines). */
function readEarlier(file: string): EarlierCheckpoint {
  const text = fs.readFileSync(file, 'utf8');
  return text.trimStart().startsWith('{')
    ? { name: file, export: readJsonLines(file) }
    : { name: file, note: text };
}

export function registerAuditCommands(program: Command, act: Act): void {
  const audit = program
    .command('audit')
    .description('the audit log, newest first: every change made by the admin token, an operator or the CLI')
    .option('--limit <n>', 'how many entries (1-500)', '50')
    .option('--before <id>', 'entries before this id (the last id of the previous page)')
    .option('--json', 'print JSON Lines, one entry a line (with its leafIndex in the log)')
    .action(
      act(async (ctx, _args, opts: { limit: string; before?: string; json?: boolean }) => {
        if (!/^\d{1,3}$/.test(opts.limit))
          throw new CliError('--limit: must be a whole number from 1 to 500', 2);
        const { audit: service } = await ctx.services();
        const entries = await service.list({ first: Number(opts.limit), before: opts.before ?? null });
        if (opts.json) return ctx.out(entries.map((e) => JSON.stringify(auditJson(e))).join('\n'));
        if (entries.length === 0) return ctx.out('No audit entries.');
        ctx.out(
          table(entries, [
            { header: 'ID', value: (e) => e.id },
            { header: 'AT', value: (e) => when(e.at) },
            { header: 'WHO', value: (e) => e.actorName },
            { header: 'ACTION', value: (e) => e.action },
            {
              header: 'TARGET',
              value: (e) => (e.targetType ? `${e.targetType} ${e.targetId ?? ''}`.trim() : '-'),
            },
            {
              header: 'LEAF',
              value: (e) => (e.leafIndex === null ? 'none' : String(e.leafIndex)),
              align: 'right',
            },
          ]),
        );
      }),
    );

  audit
    .command('checkpoint')
    .description("print the audit log's newest signed checkpoint (a C2SP signed note)")
    .action(
      act(async (ctx) => {
        const { audit: service } = await ctx.services();
        ctx.io.stdout.write((await service.checkpoint()).note);
      }),
    );

  audit
    .command('export')
    .description('write the whole audit log with its signed checkpoint (JSON Lines), for verify-audit')
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .addHelpText(
      'after',
      `
The first line holds the checkpoint; then one line per leaf, in order: its leafIndex, leafHash,
the entryId it was appended for and the entry as the table holds it now (null if gone); then
the table's entries that are in no leaf (leafIndex null). docs/access.md describes the format.

Example:
  $ llmring-server audit export -o audit-$(date +%F).jsonl`,
    )
    .action(
      act(async (ctx, _args, opts: { output?: string }) => {
        const { audit: service } = await ctx.services();
        const lines: string[] = [];
        for await (const line of service.export()) lines.push(jsonLine(line) + '\n');
        if (!opts.output) {
          for (const line of lines) ctx.io.stdout.write(line);
          return;
        }
        const partial = `${opts.output}.partial`;
        fs.writeFileSync(partial, lines.join(''));
        fs.renameSync(partial, opts.output);
        ctx.err(`Exported ${lines.length - 1} audit log lines to ${opts.output}.`);
      }),
    );

  program
    .command('verify-audit')
    .description(
      'check an audit export offline: its signed checkpoint, every entry against its leaf, and earlier checkpoints',
    )
    .requiredOption('--export <file>', 'the export to check (llmring-server audit export)')
    .option(
      '--checkpoint <file...>',
      'checkpoints saved earlier (GET /audit/checkpoint), or earlier exports: the log must still extend each',
    )
    .option('--vkey <vkey...>', 'the verifier keys to trust (GET /audit/vkey, saved)')
    .option('--url <url>', "fetch the verifier keys from this server's GET /audit/vkey instead")
    .addHelpText(
      'after',
      `
Exit code 0 when everything verifies, 1 when anything fails (each failure is printed, and the
first entry that does not match is named last).

Example:
  $ curl -s https://llmring.example.com/audit/checkpoint > audit-checkpoint-1.txt
  $ llmring-server audit export -o audit.jsonl
  $ llmring-server verify-audit --export audit.jsonl --checkpoint audit-checkpoint-1.txt \\
      --vkey "$(cat audit-vkey.txt)"`,
    )
    .action(
      act(
        async (
          ctx: CliContext,
          _args,
          opts: { export: string; checkpoint?: string[]; vkey?: string[]; url?: string },
        ) => {
          let vkeys = opts.vkey;
          if (!vkeys?.length) {
            if (!opts.url)
              throw new CliError('verify-audit: give --vkey (saved from GET /audit/vkey) or --url', 2);
            vkeys = (await httpLedgerServer(opts.url).get('/audit/vkey')).split('\n').filter((l) => l.trim());
          }
          let result;
          try {
            result = verifyAuditExport({
              lines: readJsonLines(opts.export),
              vkeys,
              earlier: (opts.checkpoint ?? []).map(readEarlier),
            });
          } catch (err) {
            if (err instanceof CliError) throw err;
            throw new CliError(`verify-audit: ${(err as Error).message}`, 2);
          }
          for (const f of result.failures) ctx.out(`FAIL  ${f}`);
          const { leaves, treeSize, earlier } = result.checked;
          const summary = `${leaves} leaves (checkpoint size ${treeSize ?? 'unverified'}), ${earlier} earlier checkpoints`;
          if (!result.ok) {
            const first = result.firstMismatch
              ? `; the first entry that does not match: ${result.firstMismatch}`
              : '';
            throw new CliError(`verify-audit: ${result.failures.length} failures${first}; ${summary}`, 1);
          }
          ctx.out(
            `OK    ${summary}: the checkpoint is signed, every entry matches its leaf, and the log extends every earlier checkpoint`,
          );
        },
      ),
    );
}
