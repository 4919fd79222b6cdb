/**
 * `ledger checkpoint <project>` prints a project's newest signed checkpoint (what GET
 * /ledger/<project>/checkpoint serves); `ledger check` runs the server's self-check (every
 * tree recomputed from its stored leaves) and exits 1 on a mismatch.
 *
 * `verify-ledger`: the offline check a client or auditor runs (src/ledger/verify.ts) with the
 * receipts it kept (JSONL), checkpoints it saved, and the server's URL. Needs no database:
 * it talks to the server over HTTP like any client, and trusts none of its answers.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { ADMIN } from '../../domain/principal';
import { httpLedgerServer, verifyLedger } from '../../ledger/verify';
import { CliError, type CliContext } from '../context';
import type { Act } from '../program';

function readJsonl(file: string): unknown[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const docs: unknown[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      docs.push(JSON.parse(line));
    } catch {
      throw new CliError(`error: ${file} line ${i + 1} is not JSON`, 2);
    }
  });
  return docs;
}

export function registerLedgerCommands(program: Command, act: Act): void {
  const ledger = program.command('ledger').description("a project's usage ledger (docs/ledger.md)");
  ledger
    .command('checkpoint <project>')
    .description("print the project's newest signed checkpoint (a C2SP signed note)")
    .action(
      act(async (ctx, [ref]) => {
        const project = await ctx.project(ref);
        const { ledger: service } = await ctx.services();
        ctx.io.stdout.write((await service.checkpoint(ADMIN, project.id)).note);
      }),
    );
  ledger
    .command('check')
    .description("recompute every project's tree from its stored leaves; exit 1 on a mismatch")
    .action(
      act(async (ctx) => {
        const { ledger: service } = await ctx.services();
        const health = await service.check();
        for (const p of health.problems) ctx.out(`FAIL  ${p}`);
        if (!health.ok) throw new CliError(`ledger check: ${health.problems.length} problems`, 1);
        ctx.out('OK    every stored tree matches its leaves');
      }),
    );

  program
    .command('verify-ledger')
    .description(
      "check kept receipts and saved checkpoints against a server's ledger: signatures, inclusion, consistency",
    )
    .requiredOption('--receipts <file>', 'receipts the client kept, one signed document per line (JSONL)')
    .requiredOption(
      '--checkpoint <file...>',
      'checkpoints saved earlier (GET /ledger/<project>/checkpoint), one signed note per file',
    )
    .requiredOption('--url <url>', "the server's base URL, e.g. https://llmring.example.com")
    .option('--api-key-file <file>', "a file holding the project's API key (proofs are read with it)")
    .option('--api-key <key>', 'the API key itself (visible to other users of the machine: prefer the file)')
    .option(
      '--vkey <vkey...>',
      "the checkpoints' verifier keys to trust (default: the server's, GET /ledger/<project>/vkey)",
    )
    .option('--allow-pruned', 'report receipts the server no longer holds as warnings, not failures')
    .addHelpText(
      'after',
      `
Exit code 0 when everything verifies, 1 when anything fails (each failure is printed).

Example:
  $ curl -s https://llmring.example.com/ledger/client-a/checkpoint > checkpoint-1.txt
  $ llmring-server verify-ledger --receipts kept.jsonl --checkpoint checkpoint-1.txt checkpoint-2.txt \\
      --url https://llmring.example.com --api-key-file ~/.llmring-key`,
    )
    .action(
      act(async (ctx: CliContext, _args, opts) => {
        const apiKey = opts.apiKeyFile ? fs.readFileSync(opts.apiKeyFile, 'utf8').trim() : opts.apiKey;
        const result = await verifyLedger({
          receipts: readJsonl(opts.receipts),
          checkpoints: (opts.checkpoint as string[]).map((f) => fs.readFileSync(f, 'utf8')),
          server: httpLedgerServer(opts.url, apiKey),
          vkeys: opts.vkey,
          allowPruned: Boolean(opts.allowPruned),
        });
        for (const w of result.warnings) ctx.out(`WARN  ${w}`);
        for (const f of result.failures) ctx.out(`FAIL  ${f}`);
        const { receipts, checkpoints, newestSize, currentSize } = result.checked;
        const summary = `${receipts} receipts, ${checkpoints} checkpoints (newest size ${newestSize}, server now ${currentSize ?? 'unknown'})`;
        if (!result.ok)
          throw new CliError(`verify-ledger: ${result.failures.length} failures; ${summary}`, 1);
        ctx.out(`OK    ${summary}: every signature, inclusion and consistency proof verifies`);
      }),
    );
}
