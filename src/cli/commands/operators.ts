/** `operator create|list|revoke`, over OperatorService (issue 21); `audit` is in ./audit.ts. */
import type { Command } from 'commander';
import { CLI_ACTOR, OPERATOR_ROLES, type Operator, type OperatorRole } from '../../domain/access';
import { CliError } from '../context';
import { json, table, when } from '../format';
import type { Act } from '../program';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function operatorJson(o: Operator) {
  return {
    id: o.id,
    name: o.name,
    role: o.role.toUpperCase(),
    prefix: o.prefix,
    createdAt: o.createdAt.toISOString(),
    lastUsedAt: o.lastUsedAt?.toISOString() ?? null,
    revokedAt: o.revokedAt?.toISOString() ?? null,
  };
}

export function registerOperatorCommands(program: Command, act: Act): void {
  const operator = program
    .command('operator')
    .description('create, list and revoke operator tokens (named, with a role: ADMIN, VIEWER, BILLING)');

  operator
    .command('create')
    .description('create an operator token; it is printed once, to stdout')
    .argument('<name>', 'who the operator is, as the audit log will name them')
    .requiredOption(
      '--role <role>',
      'ADMIN (everything), VIEWER (read every project) or BILLING (prices, budgets, exports)',
    )
    .option('--json', 'print JSON (with the token)')
    .addHelpText('after', `\nExample:\n  $ TOKEN=$(llmring-server operator create alice --role VIEWER)`)
    .action(
      act(async (ctx, [name], opts: { role: string; json?: boolean }) => {
        const role = opts.role.toLowerCase();
        if (!(OPERATOR_ROLES as readonly string[]).includes(role)) {
          throw new CliError(`--role: '${opts.role}' is not a role (ADMIN, VIEWER, BILLING)`, 2);
        }
        const { operators } = await ctx.services();
        const { operator: created, token } = await operators.create(name, role as OperatorRole, CLI_ACTOR);
        if (opts.json) return ctx.out(json({ ...operatorJson(created), token }));
        ctx.err(
          `Created operator '${created.name}' (id ${created.id}, role ${created.role.toUpperCase()}, prefix ${created.prefix}).\n` +
            'Its token follows (send it as Authorization: Bearer); it is shown only this once:',
        );
        ctx.out(token);
      }),
    );

  operator
    .command('list')
    .description('list operators, revoked ones included, with their last use (never their tokens)')
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, _args, opts: { json?: boolean }) => {
        const { operators } = await ctx.services();
        const all = await operators.list();
        if (opts.json) return ctx.out(json(all.map(operatorJson)));
        if (all.length === 0) return ctx.out('No operators.');
        ctx.out(
          table(all, [
            { header: 'ID', value: (o) => o.id },
            { header: 'NAME', value: (o) => o.name },
            { header: 'ROLE', value: (o) => o.role.toUpperCase() },
            { header: 'PREFIX', value: (o) => o.prefix },
            { header: 'CREATED', value: (o) => when(o.createdAt) },
            { header: 'LAST USED', value: (o) => when(o.lastUsedAt) },
            { header: 'REVOKED', value: (o) => when(o.revokedAt) },
          ]),
        );
      }),
    );

  operator
    .command('revoke')
    .description('revoke an operator token for good (it stops working at once)')
    .argument('<id>', "the operator's id, as 'operator list' shows it")
    .action(
      act(async (ctx, [id]) => {
        if (!UUID.test(id)) throw new CliError(`'${id}' is not an operator id (a UUID)`, 2);
        const { operators } = await ctx.services();
        const revoked = await operators.revoke(id, CLI_ACTOR);
        ctx.out(
          `Revoked operator '${revoked.name}' (prefix ${revoked.prefix}) at ${when(revoked.revokedAt)} UTC.`,
        );
      }),
    );
}
