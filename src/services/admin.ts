/**
 * The changes an admin or operator makes, each with its audit-log entry (who, what, when):
 * projects, API keys, prices and re-pricing, and through `audited` budgets, spike alerts,
 * webhooks and export schedules. GraphQL and the CLI call these, never the underlying
 * services' change methods, so no change of theirs goes unrecorded.
 *
 * A change and its entry are one transaction. Re-pricing is not one transaction (it goes in
 * batches): its entry is written when it has finished, with what it changed. Key and project
 * changes forget cached key lookups again after the commit, so a lookup that read the old row
 * meanwhile is not kept (see ApiKeyService).
 */
import type { Knex } from 'knex';
import type { Actor, ApiKeyScope } from '../domain/access';
import type { ApiKey, Project, UsageQuery } from '../domain/types';
import type { PriceBookEntry } from '../pricing/priceBook';
import type { ApiKeyService, KeyOptions, RotatedKey } from './apiKeys';
import type { AuditService } from './audit';
import type { PriceBookService, SetPriceInput } from './priceBook';
import type { CreateProjectInput, ProjectService, UpdateProjectInput } from './projects';
import type { RepriceResult, RepriceService } from './reprice';

const scopeNames = (scopes: readonly ApiKeyScope[]) => scopes.map((s) => s.toUpperCase());

export class AdminService {
  constructor(
    private readonly deps: {
      db: Knex;
      audit: AuditService;
      projects: ProjectService;
      apiKeys: ApiKeyService;
      priceBook: PriceBookService;
      reprice: RepriceService;
    },
  ) {}

  async createProject(actor: Actor, input: CreateProjectInput): Promise<Project> {
    return this.deps.db.transaction(async (trx) => {
      const project = await this.deps.projects.create(input, trx);
      await this.deps.audit.record(trx, actor, {
        action: 'createProject',
        targetType: 'project',
        targetId: project.id,
        details: { key: project.key, name: project.name },
      });
      return project;
    });
  }

  async updateProject(actor: Actor, id: string, input: UpdateProjectInput): Promise<Project> {
    return this.deps.db.transaction(async (trx) => {
      const project = await this.deps.projects.update(id, input, trx);
      const changes = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
      await this.deps.audit.record(trx, actor, {
        action: 'updateProject',
        targetType: 'project',
        targetId: project.id,
        details: { key: project.key, changes },
      });
      return project;
    });
  }

  async archiveProject(actor: Actor, id: string): Promise<Project> {
    const project = await this.deps.db.transaction(async (trx) => {
      const archived = await this.deps.projects.archive(id, trx);
      await this.deps.audit.record(trx, actor, {
        action: 'archiveProject',
        targetType: 'project',
        targetId: archived.id,
        details: { key: archived.key },
      });
      return archived;
    });
    this.deps.apiKeys.forgetProject(project.id);
    return project;
  }

  async createApiKey(
    actor: Actor,
    projectId: string,
    name: string,
    options: KeyOptions = {},
  ): Promise<{ apiKey: ApiKey; secret: string }> {
    return this.deps.db.transaction(async (trx) => {
      const created = await this.deps.apiKeys.create(projectId, name, options, trx);
      await this.deps.audit.record(trx, actor, {
        action: 'createApiKey',
        targetType: 'api_key',
        targetId: created.apiKey.id,
        details: {
          projectId,
          name,
          prefix: created.apiKey.prefix,
          scopes: scopeNames(created.apiKey.scopes),
          expiresAt: created.apiKey.expiresAt?.toISOString() ?? null,
        },
      });
      return created;
    });
  }

  async rotateApiKey(
    actor: Actor,
    id: string,
    overlap: string,
    options: Pick<KeyOptions, 'expiresAt'> = {},
  ): Promise<RotatedKey> {
    const rotated = await this.deps.db.transaction(async (trx) => {
      const result = await this.deps.apiKeys.rotate(id, overlap, options, trx);
      await this.deps.audit.record(trx, actor, {
        action: 'rotateApiKey',
        targetType: 'api_key',
        targetId: id,
        details: {
          projectId: result.apiKey.projectId,
          newKeyId: result.apiKey.id,
          newPrefix: result.apiKey.prefix,
          overlap,
          previousExpiresAt: result.previous.expiresAt?.toISOString() ?? null,
        },
      });
      return result;
    });
    this.deps.apiKeys.forgetKey(id);
    return rotated;
  }

  async revokeApiKey(actor: Actor, id: string): Promise<ApiKey> {
    const revoked = await this.deps.db.transaction(async (trx) => {
      const key = await this.deps.apiKeys.revoke(id, trx);
      await this.deps.audit.record(trx, actor, {
        action: 'revokeApiKey',
        targetType: 'api_key',
        targetId: id,
        details: { projectId: key.projectId, name: key.name, prefix: key.prefix },
      });
      return key;
    });
    this.deps.apiKeys.forgetKey(id);
    return revoked;
  }

  setModelPrice(actor: Actor, input: SetPriceInput): Promise<PriceBookEntry> {
    return this.deps.priceBook.set(input, (trx, entry) =>
      this.deps.audit.record(trx, actor, {
        action: 'setModelPrice',
        targetType: 'model_price',
        targetId: entry.id,
        details: {
          projectId: entry.projectId,
          provider: entry.provider,
          model: entry.model,
          version: entry.version,
          prices: input,
        },
      }),
    );
  }

  /** A dry run changes nothing and is not recorded; an applied one is, once it has finished. */
  async repriceUsage(
    actor: Actor,
    q: UsageQuery,
    opts: { dryRun: boolean; onProgress?: (logs: number) => void },
  ): Promise<RepriceResult> {
    const result = await this.deps.reprice.run(q, opts);
    if (result.applied) {
      await this.deps.audit.record(this.deps.db, actor, {
        action: 'repriceUsage',
        targetType: 'usage_logs',
        details: {
          projectIds: q.projectIds,
          start: q.start.toISOString(),
          end: q.end.toISOString(),
          priceBookVersion: result.priceBookVersion,
          changedLogs: result.changedLogs,
          difference: result.difference,
        },
      });
    }
    return result;
  }

  /**
   * A change another service makes (budgets, spike alerts, webhooks, export schedules), then
   * its entry, written once the change has succeeded (those services commit on their own; a
   * change that fails is not recorded). `details` says what changed, never a secret; null when
   * nothing did (deleting what was not there), and then nothing is recorded.
   */
  async audited<T>(
    actor: Actor,
    change: { action: string; targetType: string },
    run: () => Promise<T>,
    details: (result: T) => { targetId: string; details?: Record<string, unknown> } | null,
  ): Promise<T> {
    const result = await run();
    const entry = details(result);
    if (entry)
      await this.deps.audit.record(this.deps.db, actor, {
        ...change,
        ...entry,
        details: entry.details ?? {},
      });
    return result;
  }
}
