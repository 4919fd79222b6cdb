/** `project create|list|archive` and `key create|list|rotate|revoke`, over ProjectService and ApiKeyService. */
import type { Command } from 'commander';
import { end as durationEnd, parse as parseDuration } from 'iso8601-duration';
import { API_KEY_SCOPES, CLI_ACTOR, isApiKeyScope, type ApiKeyScope } from '../../domain/access';
import { parseIsoDate } from '../../domain/dates';
import { slugify } from '../../domain/slug';
import { ServiceError } from '../../services/errors';
import type { ApiKey, Project } from '../../domain/types';
import { CliError } from '../context';
import { json, table, when } from '../format';
import type { Act } from '../program';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function projectJson(p: Project) {
  return {
    id: p.id,
    key: p.key,
    name: p.name,
    description: p.description,
    createdAt: p.createdAt.toISOString(),
    archivedAt: p.archivedAt?.toISOString() ?? null,
  };
}

function keyJson(k: ApiKey) {
  return {
    id: k.id,
    projectId: k.projectId,
    name: k.name,
    prefix: k.prefix,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    scopes: k.scopes.map((s) => s.toUpperCase()),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    rotatedFrom: k.rotatedFrom,
  };
}

/** --scope values (repeatable, any case) as scopes; exit 2 naming a wrong one. */
function scopesOption(values: string[] | undefined): ApiKeyScope[] | undefined {
  if (!values?.length) return undefined;
  return values.map((v) => {
    const scope = v.toLowerCase();
    if (!isApiKeyScope(scope)) {
      throw new CliError(
        `--scope: '${v}' is not a scope (${API_KEY_SCOPES.map((x) => x.toUpperCase()).join(', ')})`,
        2,
      );
    }
    return scope;
  });
}

/** --expires: an ISO 8601 date-time, or a duration from now (P30D, PT12H). */
function expiresOption(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (/^P/i.test(value)) {
    try {
      return durationEnd(parseDuration(value.toUpperCase()), new Date());
    } catch {
      throw new CliError(`--expires: '${value}' is not an ISO 8601 duration such as P30D`, 2);
    }
  }
  return parseIsoDate('--expires', value);
}

/** Service errors about the key's arguments, in option terms (--scope, --expires, --overlap). */
function keyOptionError(err: unknown): unknown {
  const option =
    err instanceof ServiceError
      ? { scopes: '--scope', expiresAt: '--expires', overlap: '--overlap' }[err.field ?? '']
      : undefined;
  if (!option || !(err instanceof ServiceError) || err.problem === undefined) return err;
  return new ServiceError(err.code, `${option}: ${err.problem}`, option, err.problem);
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Running servers cache a successful key lookup this long (ApiKeyService's default). */
const KEY_CACHE_SECONDS = 5;

export function registerProjectCommands(program: Command, act: Act): void {
  const project = program
    .command('project')
    .description('create, list and archive projects (usage contexts that hold API keys)');

  project
    .command('create')
    .description('create a project')
    .argument('<name>', "display name, e.g. 'Client A'")
    .option('--key <key>', 'URL-safe key: lowercase letters, digits, dashes (default: derived from the name)')
    .option('--description <text>', 'free text')
    .option('--json', 'print JSON')
    .addHelpText('after', `\nExample:\n  $ llmring-server project create 'Client A' --key client-a`)
    .action(
      act(async (ctx, [name], opts: { key?: string; description?: string; json?: boolean }) => {
        const { admin } = await ctx.services();
        const created = await admin.createProject(CLI_ACTOR, {
          key: opts.key ?? slugify(name),
          name,
          description: opts.description ?? null,
        });
        if (opts.json) return ctx.out(json(projectJson(created)));
        ctx.out(`Created project '${created.key}' (${created.name}), id ${created.id}.`);
        ctx.err(`Give it an API key: llmring-server key create ${created.key}`);
      }),
    );

  project
    .command('list')
    .description('list projects')
    .option('--all', 'include archived projects')
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, _args, opts: { all?: boolean; json?: boolean }) => {
        const { projects } = await ctx.services();
        const list = await projects.list({ includeArchived: Boolean(opts.all) });
        if (opts.json) return ctx.out(json(list.map(projectJson)));
        if (list.length === 0) return ctx.out('No projects.');
        ctx.out(
          table(list, [
            { header: 'KEY', value: (p) => p.key },
            { header: 'NAME', value: (p) => p.name },
            { header: 'CREATED', value: (p) => when(p.createdAt) },
            ...(opts.all ? [{ header: 'ARCHIVED', value: (p: Project) => when(p.archivedAt) }] : []),
            { header: 'ID', value: (p) => p.id },
          ]),
        );
      }),
    );

  project
    .command('archive')
    .description('archive a project: its data stays, its API keys stop working')
    .argument('<project>', 'project key or id')
    .action(
      act(async (ctx, [ref]) => {
        const { admin } = await ctx.services();
        const archived = await admin.archiveProject(CLI_ACTOR, (await ctx.project(ref)).id);
        ctx.out(
          `Archived project '${archived.key}' at ${when(archived.archivedAt)} UTC: its API keys stop working ` +
            `(running servers notice within ${KEY_CACHE_SECONDS} seconds).`,
        );
      }),
    );

  const key = program.command('key').description("create, list, rotate and revoke a project's API keys");

  key
    .command('create')
    .description('create an API key; its secret is printed once, to stdout')
    .argument('<project>', 'project key or id')
    .option('--name <name>', 'what the key is for', 'created with the CLI')
    .option(
      '--scope <scope>',
      'what the key may do: INGEST (log usage) or READ (read its project); repeat for both (the default)',
      collect,
    )
    .option('--expires <when>', 'when the key stops working: a date-time, or a duration from now (P30D)')
    .option('--json', 'print JSON (with the secret)')
    .addHelpText(
      'after',
      `
The secret goes to stdout alone (details to stderr), so it can be captured:
  $ SECRET=$(llmring-server key create client-a --name 'web app')
A key for an app that only reports usage, valid 90 days:
  $ llmring-server key create client-a --name 'mobile app' --scope INGEST --expires P90D`,
    )
    .action(
      act(async (ctx, [ref], opts: { name: string; scope?: string[]; expires?: string; json?: boolean }) => {
        const scopes = scopesOption(opts.scope);
        const expiresAt = expiresOption(opts.expires);
        const { admin } = await ctx.services();
        const target = await ctx.project(ref);
        const { apiKey, secret } = await admin
          .createApiKey(CLI_ACTOR, target.id, opts.name, { scopes, expiresAt })
          .catch((err: unknown) => {
            throw keyOptionError(err);
          });
        if (opts.json) return ctx.out(json({ ...keyJson(apiKey), projectKey: target.key, secret }));
        ctx.err(
          `Created API key '${apiKey.name}' (id ${apiKey.id}, prefix ${apiKey.prefix}, ` +
            `scopes ${keyJson(apiKey).scopes.join(' ')}` +
            `${apiKey.expiresAt ? `, expires ${when(apiKey.expiresAt)} UTC` : ''}) for project '${target.key}'.\n` +
            'Its secret follows; it is shown only this once:',
        );
        ctx.out(secret);
      }),
    );

  key
    .command('rotate')
    .description('a new secret for a key (same name and scopes); the old one works until the overlap ends')
    .argument('<id>', "the key's id, as 'key list' shows it")
    .option(
      '--overlap <duration>',
      'how long the old secret keeps working (ISO 8601: PT1H, P1D; PT0S: none)',
      'PT1H',
    )
    .option('--expires <when>', 'when the new key stops working: a date-time, or a duration from now (P30D)')
    .option('--json', 'print JSON (with the new secret)')
    .addHelpText(
      'after',
      `
The new secret goes to stdout alone (details to stderr):
  $ SECRET=$(llmring-server key rotate 8d5c0f2e-6b1a-4c3e-9f4d-2a7b5e1c0d93 --overlap P1D)`,
    )
    .action(
      act(async (ctx, [id], opts: { overlap: string; expires?: string; json?: boolean }) => {
        if (!UUID.test(id)) throw new CliError(`'${id}' is not a key id (a UUID, as 'key list' shows it)`, 2);
        const expiresAt = expiresOption(opts.expires);
        const { admin } = await ctx.services();
        const rotated = await admin
          .rotateApiKey(CLI_ACTOR, id, opts.overlap, { expiresAt })
          .catch((err: unknown) => {
            throw keyOptionError(err);
          });
        if (opts.json) {
          return ctx.out(
            json({ ...keyJson(rotated.apiKey), secret: rotated.secret, previous: keyJson(rotated.previous) }),
          );
        }
        ctx.err(
          `Rotated API key '${rotated.apiKey.name}': new id ${rotated.apiKey.id}, prefix ${rotated.apiKey.prefix}; ` +
            `the old secret (prefix ${rotated.previous.prefix}) works until ${when(rotated.previous.expiresAt)} UTC.\n` +
            'The new secret follows; it is shown only this once:',
        );
        ctx.out(rotated.secret);
      }),
    );

  key
    .command('list')
    .description("list a project's API keys, revoked ones included (never their secrets)")
    .argument('<project>', 'project key or id')
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, [ref], opts: { json?: boolean }) => {
        const { apiKeys } = await ctx.services();
        const keys = await apiKeys.listByProject((await ctx.project(ref)).id);
        if (opts.json) return ctx.out(json(keys.map(keyJson)));
        if (keys.length === 0) return ctx.out('No API keys.');
        ctx.out(
          table(keys, [
            { header: 'ID', value: (k) => k.id },
            { header: 'NAME', value: (k) => k.name },
            { header: 'PREFIX', value: (k) => k.prefix },
            { header: 'CREATED', value: (k) => when(k.createdAt) },
            { header: 'LAST USED', value: (k) => when(k.lastUsedAt) },
            { header: 'REVOKED', value: (k) => when(k.revokedAt) },
            { header: 'SCOPES', value: (k) => keyJson(k).scopes.join(',') },
            { header: 'EXPIRES', value: (k) => when(k.expiresAt) },
          ]),
        );
      }),
    );

  key
    .command('revoke')
    .description('revoke an API key for good')
    .argument('<id>', "the key's id, as 'key list' shows it")
    .action(
      act(async (ctx, [id]) => {
        if (!UUID.test(id)) throw new CliError(`'${id}' is not a key id (a UUID, as 'key list' shows it)`, 2);
        const { admin } = await ctx.services();
        const revoked = await admin.revokeApiKey(CLI_ACTOR, id);
        ctx.out(
          `Revoked API key '${revoked.name}' (prefix ${revoked.prefix}) at ${when(revoked.revokedAt)} UTC ` +
            `(running servers refuse it within ${KEY_CACHE_SECONDS} seconds).`,
        );
      }),
    );
}
