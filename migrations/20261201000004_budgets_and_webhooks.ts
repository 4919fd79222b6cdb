/**
 * Budgets, spike alerts and webhooks (docs/budgets.md).
 *
 * - budgets: an amount per period (day, ISO week, month, or in total) in an IANA zone, for a
 *   project, optionally narrowed like a statistics filter (`filter`, JSON); thresholds in percent.
 * - spike_alerts: a project's (optionally one alias name's) day so far against the same hours
 *   of the trailing 7 days.
 * - alert_events: each decision, once: a threshold crossed or a period started (budget, period
 *   start, threshold), a spike (alert, local day). The unique keys are what makes an event
 *   happen once whatever the number of instances.
 * - webhooks: a URL per project or global (project_id NULL), the events it takes, and its
 *   signing secret (Standard Webhooks `whsec_…`; the server needs it to sign, so it is kept, and
 *   shown only when the webhook is created).
 * - webhook_messages: the outbox. One row per event and webhook, written in the transaction
 *   that decides the event; `body` is the exact JSON sent (and signed) on every attempt, `id`
 *   the webhook-id the receiver sees on every attempt.
 * - webhook_attempts: each attempt's status code or error, for webhookDeliveries.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('budgets', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('project_id').notNullable().references('id').inTable('projects');
    t.string('name', 255).notNullable();
    t.decimal('amount', 18, 8).notNullable();
    t.string('period', 8).notNullable();
    t.string('time_zone', 64).notNullable();
    t.specificType('thresholds', 'integer[]').notNullable();
    t.jsonb('filter').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['project_id']);
  });
  await knex.raw(`ALTER TABLE budgets ADD CONSTRAINT budgets_period_check
    CHECK (period IN ('day', 'week', 'month', 'total'))`);
  await knex.raw('ALTER TABLE budgets ADD CONSTRAINT budgets_amount_check CHECK (amount > 0)');

  await knex.schema.createTable('spike_alerts', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('project_id').notNullable().references('id').inTable('projects');
    /** NULL: the whole project; else one alias name ('' never: unaliased calls have no alias). */
    t.string('alias_name', 255);
    t.decimal('factor', 10, 4).notNullable();
    t.decimal('minimum_cost', 18, 8).notNullable();
    t.string('time_zone', 64).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['project_id']);
  });

  await knex.schema.createTable('alert_events', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.string('type', 32).notNullable();
    t.uuid('budget_id').references('id').inTable('budgets').onDelete('CASCADE');
    t.uuid('spike_alert_id').references('id').inTable('spike_alerts').onDelete('CASCADE');
    t.uuid('project_id').notNullable();
    /** The budget period's start, or the spike's local day's start. */
    t.timestamp('period_start', { useTz: true }).notNullable();
    /** The threshold crossed, in percent; 0 for other events. */
    t.integer('threshold').notNullable().defaultTo(0);
    t.decimal('spent', 18, 8).notNullable();
    t.jsonb('data').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`CREATE UNIQUE INDEX alert_events_budget_once
    ON alert_events (budget_id, type, period_start, threshold) WHERE budget_id IS NOT NULL`);
  await knex.raw(`CREATE UNIQUE INDEX alert_events_spike_once
    ON alert_events (spike_alert_id, period_start) WHERE spike_alert_id IS NOT NULL`);

  // What each budget has spent in its current period, kept by the alert worker
  // (src/db/budgetSpend.ts): as seen by `snapshot` (a pg_snapshot as text).
  await knex.schema.createTable('budget_spend', (t) => {
    t.uuid('budget_id').primary().references('id').inTable('budgets').onDelete('CASCADE');
    t.timestamp('period_start', { useTz: true }).notNullable();
    /** 'infinity' for a total budget. */
    t.timestamp('period_end', { useTz: true }).notNullable();
    t.decimal('spent', 18, 8).notNullable();
    t.text('snapshot').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
  });

  // The alert worker's lease: one round at a time across instances (src/services/alerts.ts).
  await knex.schema.createTable('alert_worker_state', (t) => {
    t.integer('id').primary();
    t.timestamp('leased_until', { useTz: true });
  });
  await knex('alert_worker_state').insert({ id: 1 });

  await knex.schema.createTable('webhooks', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('project_id').references('id').inTable('projects');
    t.text('url').notNullable();
    t.specificType('events', 'text[]').notNullable();
    t.text('secret').notNullable();
    t.string('description', 1000);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('disabled_at', { useTz: true });
    t.string('disabled_reason', 1000);
  });

  await knex.schema.createTable('webhook_messages', (t) => {
    t.string('id', 64).primary();
    t.uuid('webhook_id').notNullable().references('id').inTable('webhooks').onDelete('CASCADE');
    t.string('event_type', 64).notNullable();
    t.text('body').notNullable();
    t.string('status', 16).notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    /** While an instance is sending it: no other instance picks it up before this. */
    t.timestamp('leased_until', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
    t.integer('last_status_code');
    t.text('last_error');
    t.index(['webhook_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE webhook_messages ADD CONSTRAINT webhook_messages_status_check
    CHECK (status IN ('pending', 'delivered', 'failed'))`);
  await knex.raw(
    `CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending'`,
  );

  await knex.schema.createTable('webhook_attempts', (t) => {
    t.bigIncrements('id');
    t.string('message_id', 64).notNullable().references('id').inTable('webhook_messages').onDelete('CASCADE');
    t.timestamp('attempted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.integer('status_code');
    t.text('error');
    t.integer('duration_ms').notNullable();
    t.index(['message_id', 'attempted_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'webhook_attempts',
    'webhook_messages',
    'webhooks',
    'alert_worker_state',
    'budget_spend',
    'alert_events',
    'spike_alerts',
    'budgets',
  ]) {
    await knex.schema.dropTable(table);
  }
}
