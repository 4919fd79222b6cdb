/**
 * Webhooks: URLs that receive a project's events (or every project's, for a global one),
 * signed per the Standard Webhooks specification with the webhook's own secret
 * (`whsec_…`; ./webhookSender.ts sends them). Events are written to an outbox
 * (webhook_messages) by `enqueue`, inside the transaction that decides the event, so an event
 * is delivered if and only if it was decided; the sender delivers at least once, with the same
 * webhook-id on every attempt.
 */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import {
  WEBHOOK_EVENTS,
  type DeliveryStatus,
  type Webhook,
  type WebhookAttempt,
  type WebhookDelivery,
  type WebhookEventType,
} from '../domain/alerts';
import { isUuid } from '../domain/limits';
import { toDate, toDateOrNull, toInt, toIntOrNull } from '../db/normalize';
import { badInput, notFound } from './errors';
import type { WebhookHostPolicy } from './webhookHosts';
import { checkOptionalString } from './validate';

interface WebhookRow {
  id: string;
  project_id: string | null;
  url: string;
  events: WebhookEventType[];
  secret: string;
  description: string | null;
  created_at: Date;
  disabled_at: Date | null;
  disabled_reason: string | null;
}

interface MessageRow {
  id: string;
  webhook_id: string;
  event_type: WebhookEventType;
  body: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  created_at: Date;
  delivered_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
}

export interface WebhookInput {
  /** null: every project's events (a global webhook). */
  projectId: string | null;
  url: string;
  events: WebhookEventType[];
  /** A Standard Webhooks secret (`whsec_` + base64 of 24–64 bytes); generated when absent. */
  secret?: string | null;
  description?: string | null;
}

/** An event as the receiver gets it: {type, timestamp, data} (the specification's shape). */
export interface WebhookEvent {
  type: WebhookEventType;
  timestamp: Date;
  data: Record<string, unknown>;
}

const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
const KNOWN_EVENTS: ReadonlySet<string> = new Set(WEBHOOK_EVENTS);

function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    projectId: row.project_id,
    url: row.url,
    events: row.events,
    description: row.description,
    createdAt: toDate(row.created_at),
    disabledAt: toDateOrNull(row.disabled_at),
    disabledReason: row.disabled_reason,
  };
}

export function toDelivery(row: MessageRow): WebhookDelivery {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventType: row.event_type,
    body: row.body,
    status: row.status,
    attempts: toInt(row.attempts),
    createdAt: toDate(row.created_at),
    nextAttemptAt: row.status === 'pending' ? toDate(row.next_attempt_at) : null,
    deliveredAt: toDateOrNull(row.delivered_at),
    lastStatusCode: toIntOrNull(row.last_status_code),
    lastError: row.last_error,
  };
}

/** A message id: 'msg_' and 26 characters of a lowercase base32 alphabet (130 random bits). */
function newMessageId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `msg_${[...randomBytes(26)].map((b) => alphabet[b & 31]).join('')}`;
}

export class WebhookService {
  constructor(private readonly deps: { db: Knex; hosts: WebhookHostPolicy }) {}

  /** Creates a webhook; the secret is returned here and never again. */
  async create(input: WebhookInput): Promise<{ webhook: Webhook; secret: string }> {
    const { db } = this.deps;
    if (input.projectId !== null) {
      const project = isUuid(input.projectId)
        ? await db('projects').where({ id: input.projectId }).first()
        : undefined;
      if (!project) throw notFound('project');
    }
    const url = this.deps.hosts.check(input.url).toString();
    const events = [...new Set(input.events)];
    if (events.length === 0) throw badInput('input.events', 'must name at least one event');
    for (const e of events) {
      if (!KNOWN_EVENTS.has(e))
        throw badInput('input.events', `'${e}' is not an event (${WEBHOOK_EVENTS.join(', ')})`);
    }
    const secret = input.secret ?? `whsec_${randomBytes(32).toString('base64')}`;
    const m = SECRET.exec(secret);
    const bytes = m ? Buffer.from(m[1], 'base64').length : 0;
    if (!m || bytes < 24 || bytes > 64) {
      throw badInput('input.secret', "must be 'whsec_' followed by the base64 of 24 to 64 random bytes");
    }
    const [row] = await db<WebhookRow>('webhooks')
      .insert({
        project_id: input.projectId,
        url,
        events,
        secret,
        description: checkOptionalString('input.description', input.description, { max: 1000 }),
      })
      .returning('*');
    return { webhook: toWebhook(row), secret };
  }

  async delete(id: string): Promise<Webhook> {
    const webhook = await this.require(id);
    await this.deps.db('webhooks').where({ id }).delete();
    return webhook;
  }

  async find(id: string): Promise<Webhook | null> {
    if (!isUuid(id)) return null;
    const row = await this.deps.db<WebhookRow>('webhooks').where({ id }).first();
    return row ? toWebhook(row) : null;
  }

  async require(id: string): Promise<Webhook> {
    const webhook = await this.find(id);
    if (!webhook) throw notFound('webhook');
    return webhook;
  }

  /** Webhooks of some projects (null: all, global ones included), oldest first. */
  async list(projectIds: string[] | null): Promise<Webhook[]> {
    const q = this.deps.db<WebhookRow>('webhooks').orderBy([{ column: 'created_at' }, { column: 'id' }]);
    if (projectIds) q.whereIn('project_id', projectIds);
    return (await q).map(toWebhook);
  }

  /** A webhook's deliveries, newest first. */
  async deliveries(webhookId: string, limit = 50): Promise<WebhookDelivery[]> {
    const rows = await this.deps
      .db<MessageRow>('webhook_messages')
      .where({ webhook_id: webhookId })
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit);
    return rows.map(toDelivery);
  }

  /** For DataLoader: the attempts of each delivery, oldest first. */
  async attemptsOf(messageIds: readonly string[]): Promise<WebhookAttempt[][]> {
    const rows = await this.deps
      .db('webhook_attempts')
      .whereIn('message_id', messageIds as string[])
      .orderBy([{ column: 'attempted_at' }, { column: 'id' }]);
    const by = new Map<string, WebhookAttempt[]>();
    for (const r of rows) {
      const list = by.get(r.message_id) ?? [];
      list.push({
        attemptedAt: toDate(r.attempted_at),
        statusCode: toIntOrNull(r.status_code),
        error: r.error,
        durationMs: toInt(r.duration_ms),
      });
      by.set(r.message_id, list);
    }
    return messageIds.map((id) => by.get(id) ?? []);
  }

  /** Queues a `webhook.test` event to one webhook (enabled or not: a test says whether it works). */
  async test(id: string): Promise<WebhookDelivery> {
    const webhook = await this.require(id);
    const [delivery] = await this.deps.db.transaction((trx) =>
      this.insertMessages(trx, [webhook.id], {
        type: 'webhook.test',
        timestamp: new Date(),
        data: { webhook_id: webhook.id, message: 'A test event from llmring-server.' },
      }),
    );
    return delivery;
  }

  /**
   * Queues an event for every enabled webhook that takes it: the project's, and the global
   * ones. Call inside the transaction that decides the event.
   */
  /** Queues `event` to the project's webhooks and the global ones (projectId null: global only). */
  async enqueue(
    trx: Knex.Transaction,
    projectId: string | null,
    event: WebhookEvent,
  ): Promise<WebhookDelivery[]> {
    const targets = await trx<WebhookRow>('webhooks')
      .whereNull('disabled_at')
      .where((q) =>
        projectId ? q.where({ project_id: projectId }).orWhereNull('project_id') : q.whereNull('project_id'),
      )
      .whereRaw('? = ANY(events)', [event.type])
      .select('id');
    return this.insertMessages(
      trx,
      targets.map((t) => t.id),
      event,
    );
  }

  private async insertMessages(
    trx: Knex.Transaction,
    webhookIds: string[],
    event: WebhookEvent,
  ): Promise<WebhookDelivery[]> {
    if (webhookIds.length === 0) return [];
    const body = JSON.stringify({
      type: event.type,
      timestamp: event.timestamp.toISOString(),
      data: event.data,
    });
    const rows = await trx<MessageRow>('webhook_messages')
      .insert(
        webhookIds.map((webhook_id) => ({ id: newMessageId(), webhook_id, event_type: event.type, body })),
      )
      .returning('*');
    return rows.map(toDelivery);
  }
}
