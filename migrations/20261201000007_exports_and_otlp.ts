/**
 * Scheduled exports (src/services/exportSchedules.ts): a schedule writes one file per period
 * (day, week or month in its time zone) to a folder under LLMRING_EXPORT_DIR. export_runs holds
 * one row per (schedule, period), decided by its primary key, so each period is written once
 * however many instances run the worker: an instance claims a period by inserting its row (or
 * by taking over a claim whose lease has expired, after a crash), and marks it written when the
 * file is in place, with the manifest figures (rows, sum of cost, SHA-256).
 *
 * (OTLP ingest needs no table: its spans are usage logs, deduplicated by idempotency key.)
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('export_schedules', (t) => {
    t.uuid('id').primary();
    // NULL: every project.
    t.uuid('project_id').references('id').inTable('projects');
    t.text('format').notNullable(); // FOCUS_CSV | FOCUS_PARQUET
    t.text('period').notNullable(); // DAILY | WEEKLY | MONTHLY
    t.text('time_zone').notNullable();
    // Relative to LLMRING_EXPORT_DIR; one schedule per folder, so file names never collide.
    t.text('destination').notNullable().unique();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(
    `ALTER TABLE export_schedules
       ADD CONSTRAINT export_schedules_format_check CHECK (format IN ('FOCUS_CSV', 'FOCUS_PARQUET')),
       ADD CONSTRAINT export_schedules_period_check CHECK (period IN ('DAILY', 'WEEKLY', 'MONTHLY'))`,
  );
  await knex.schema.createTable('export_runs', (t) => {
    t.uuid('schedule_id').notNullable().references('id').inTable('export_schedules').onDelete('CASCADE');
    t.timestamp('period_start', { useTz: true }).notNullable();
    t.timestamp('period_end', { useTz: true }).notNullable();
    t.text('status').notNullable(); // RUNNING | WRITTEN | FAILED
    // Each claim adds one: a worker that lost its lease cannot mark the run written.
    t.integer('attempt').notNullable().defaultTo(1);
    t.timestamp('lease_until', { useTz: true }).notNullable();
    t.text('file');
    t.bigInteger('rows');
    t.decimal('cost', 20, 8);
    t.text('sha256');
    t.text('error');
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true });
    t.primary(['schedule_id', 'period_start']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('export_runs');
  await knex.schema.dropTable('export_schedules');
}
