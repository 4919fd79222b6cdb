/**
 * Delivers the webhook outbox (webhook_messages), at least once, from every instance at once
 * without sending one message twice at the same time: each round claims due messages with
 * FOR UPDATE SKIP LOCKED and a lease. A message is signed by the Standard Webhooks library
 * (`webhook-id` the message id on every attempt, `webhook-timestamp` this attempt's,
 * `webhook-signature` v1 HMAC-SHA256 over id.timestamp.body) and POSTed with a timeout. A 2xx
 * answer delivers it; anything else (another status, a refused connection, a timeout) is
 * retried with exponential backoff and jitter until LLMRING_WEBHOOK_RETRY_FOR_MS after it was
 * queued, then it is marked failed. 410 Gone disables the webhook, as the specification
 * suggests. Every attempt is recorded (webhook_attempts).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { Knex } from 'knex';
import { Webhook as Signer } from 'standardwebhooks';
import type { Logger } from '../logger';
import { Periodic } from './periodic';
import type { WebhookHostPolicy } from './webhookHosts';

export interface WebhookSenderOptions {
  /** Between rounds; a round also runs at once when an event is queued on this instance. */
  pollMs: number;
  timeoutMs: number;
  /** The first retry waits about this long; each next one twice as long (at most an hour). */
  retryBaseMs: number;
  /** After this long since an event was queued, it is not tried again: failed. */
  retryForMs: number;
}

const BATCH = 20;
const MAX_BACKOFF_MS = 3_600_000;
/** How much of an answer's body is read (and dropped): enough to end it cleanly. */
const MAX_ANSWER_BYTES = 64 * 1024;

interface Claimed {
  id: string;
  webhook_id: string;
  body: string;
  attempts: number;
  created_at: Date;
  url: string;
  secret: string;
}

interface Outcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** The delay before attempt `n + 1` after `n` failed attempts: doubling, with jitter (50–100%). */
export function backoffMs(attempts: number, baseMs: number): number {
  const full = Math.min(baseMs * 2 ** Math.max(0, attempts - 1), MAX_BACKOFF_MS);
  return Math.round(full * (0.5 + Math.random() / 2));
}

export class WebhookSender {
  private readonly periodic: Periodic;

  constructor(
    private readonly deps: {
      db: Knex;
      logger: Logger;
      hosts: WebhookHostPolicy;
      options: WebhookSenderOptions;
    },
  ) {
    this.periodic = new Periodic('webhook delivery', deps.options.pollMs, deps.logger, () => this.runOnce());
  }

  start(): void {
    this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One round: claims due messages and attempts each once. Returns how many were attempted. */
  async runOnce(): Promise<number> {
    const lease = this.deps.options.timeoutMs + 30_000;
    const { rows } = (await this.deps.db.raw(
      `UPDATE webhook_messages m
       SET leased_until = now() + (? * interval '1 millisecond'), attempts = m.attempts + 1
       FROM (
         SELECT id FROM webhook_messages
         WHERE status = 'pending' AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
         ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED
       ) due, webhooks w
       WHERE m.id = due.id AND w.id = m.webhook_id
       RETURNING m.id, m.webhook_id, m.body, m.attempts, m.created_at, w.url, w.secret`,
      [lease, BATCH],
    )) as { rows: Claimed[] };
    await Promise.all(rows.map((m) => this.attempt(m)));
    return rows.length;
  }

  private async attempt(m: Claimed): Promise<void> {
    const outcome = await this.send(m);
    const { db, options } = this.deps;
    const ok = outcome.statusCode !== null && outcome.statusCode >= 200 && outcome.statusCode < 300;
    const gone = outcome.statusCode === 410;
    const expired = Date.now() - new Date(m.created_at).getTime() >= options.retryForMs;
    await db.transaction(async (trx) => {
      await trx('webhook_attempts').insert({
        message_id: m.id,
        status_code: outcome.statusCode,
        error: outcome.error,
        duration_ms: outcome.durationMs,
      });
      await trx('webhook_messages')
        .where({ id: m.id })
        .update({
          status: ok ? 'delivered' : gone || expired ? 'failed' : 'pending',
          delivered_at: ok ? trx.fn.now() : null,
          next_attempt_at:
            ok || gone || expired
              ? trx.fn.now()
              : new Date(Date.now() + backoffMs(m.attempts, options.retryBaseMs)),
          leased_until: null,
          last_status_code: outcome.statusCode,
          last_error: outcome.error,
        });
      if (gone) {
        await trx('webhooks')
          .where({ id: m.webhook_id })
          .whereNull('disabled_at')
          .update({ disabled_at: trx.fn.now(), disabled_reason: 'the receiver answered 410 Gone' });
      }
    });
    if (!ok) {
      this.deps.logger.warn(
        {
          webhookId: m.webhook_id,
          messageId: m.id,
          attempt: m.attempts,
          statusCode: outcome.statusCode,
          error: outcome.error,
        },
        gone
          ? 'webhook answered 410 Gone: disabled'
          : expired
            ? 'webhook delivery failed for good'
            : 'webhook delivery failed; will retry',
      );
    }
  }

  /** One POST of a message, signed for this attempt. Never throws. */
  private send(m: Claimed): Promise<Outcome> {
    const started = Date.now();
    const done = (statusCode: number | null, error: string | null): Outcome => ({
      statusCode,
      error,
      durationMs: Date.now() - started,
    });
    let url: URL;
    try {
      url = this.deps.hosts.check(m.url, 'url');
    } catch (err) {
      return Promise.resolve(done(null, (err as Error).message));
    }
    const now = new Date();
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'llmring-server webhooks',
      'webhook-id': m.id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Signer(m.secret).sign(m.id, now, m.body),
    };
    const { hosts, options } = this.deps;
    // Every address the name resolves to is checked before connecting (see ./webhookHosts.ts).
    const lookup = (hostname: string, opts: LookupAllOptions, callback: (...args: unknown[]) => void) => {
      dnsLookup(hostname, { ...opts, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err);
        const refused = addresses.find((a) => !hosts.allowsAddress(url, a.address));
        if (refused) {
          return callback(
            new Error(`${hostname} resolves to ${refused.address}, an internal address not allowed`),
          );
        }
        if (opts.all) return callback(null, addresses);
        return callback(null, addresses[0].address, addresses[0].family);
      });
    };
    return new Promise<Outcome>((resolve) => {
      const request = (url.protocol === 'https:' ? https : http).request(
        url,
        { method: 'POST', headers, lookup: lookup as never, signal: AbortSignal.timeout(options.timeoutMs) },
        (res) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER_BYTES) res.destroy();
          });
          res.on('close', () => resolve(done(res.statusCode ?? null, null)));
          res.on('error', () => undefined);
        },
      );
      request.on('error', (err: Error & { name: string }) =>
        resolve(
          done(
            null,
            err.name === 'AbortError' || err.name === 'TimeoutError'
              ? `no answer within ${options.timeoutMs} ms`
              : err.message,
          ),
        ),
      );
      request.end(m.body);
    });
  }

  /** Runs a round now (after an event is queued), without waiting for it. */
  poke(): void {
    void this.runOnce().catch((err) => this.deps.logger.warn({ err }, 'webhook delivery round failed'));
  }
}
