/**
 * API keys with least privilege, expiry and rotation (issue 21):
 * - scopes: what a key may do ('ingest': log usage; 'read': statistics, logs, receipts of its
 *   project). Existing keys keep doing everything, so the default is both.
 * - expires_at: after it the key is refused (UNAUTHENTICATED, "expired"); NULL never expires.
 *   Rotation sets the old key's expires_at to the end of the overlap.
 * - rotated_from: the key this one replaced. Unique, so a key is rotated at most once (two
 *   concurrent rotations of one key cannot both succeed).
 *
 * Operators (named tokens with a role, besides the bootstrap admin token): only the token's
 * SHA-256 and a prefix are stored, like API keys.
 *
 * audit_log: every change an operator makes, who, what and when. Append-only: a trigger refuses
 * UPDATE, DELETE and TRUNCATE, so not even a bug in the server can rewrite it.
 *
 * Rate limits: project_rate_limits holds a project's own limits (NULL: the server's default);
 * rate_counters one fixed-window counter per key or project and limit, shared by every
 * instance. UNLOGGED: a counter is worth nothing after a crash, and a transaction that writes
 * only unlogged tables does not wait for a WAL flush, so the counter's row is locked for
 * microseconds, not for a disk write.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.specificType('scopes', 'text[]').notNullable().defaultTo(knex.raw("'{ingest,read}'::text[]"));
    t.timestamp('expires_at', { useTz: true });
    t.uuid('rotated_from').references('id').inTable('api_keys').unique();
  });
  await knex.raw(`
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read']::text[])`);

  await knex.schema.createTable('operators', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('name').notNullable();
    t.text('role').notNullable();
    t.text('token_hash').notNullable().unique();
    t.text('token_prefix').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE operators ADD CONSTRAINT operators_role_known
    CHECK (role IN ('admin', 'viewer', 'billing'))`);
  // One working operator per name: a name says who did what in the audit log.
  await knex.raw('CREATE UNIQUE INDEX operators_active_name ON operators (name) WHERE revoked_at IS NULL');

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // 'admin_token', 'operator' or 'cli' (someone with the database's credentials).
    t.text('actor_kind').notNullable();
    t.uuid('actor_operator_id').references('id').inTable('operators');
    t.text('actor_name').notNullable();
    t.text('action').notNullable();
    t.text('target_type');
    t.text('target_id');
    t.jsonb('details').notNullable().defaultTo('{}');
  });
  await knex.raw(`
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
    END $$`);
  await knex.raw(`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`);
  await knex.raw(`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`);

  await knex.schema.createTable('project_rate_limits', (t) => {
    t.uuid('project_id').primary().references('id').inTable('projects').onDelete('CASCADE');
    t.integer('key_requests_per_second');
    t.integer('project_requests_per_second');
    t.integer('key_logs_per_minute');
    t.integer('project_logs_per_minute');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`
    CREATE UNLOGGED TABLE rate_counters (
      bucket text PRIMARY KEY,
      window_start bigint NOT NULL,
      count bigint NOT NULL
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_counters');
  await knex.schema.dropTable('project_rate_limits');
  // Rolling back drops the audit log with the operators it names: an export comes first.
  await knex.schema.dropTable('audit_log');
  await knex.raw('DROP FUNCTION audit_log_append_only()');
  await knex.schema.dropTable('operators');
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known');
  await knex.schema.alterTable('api_keys', (t) => {
    t.dropColumn('rotated_from');
    t.dropColumn('expires_at');
    t.dropColumn('scopes');
  });
}
