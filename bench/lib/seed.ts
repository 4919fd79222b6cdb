/**
 * Fast seeding of one project's usage logs straight in SQL: INSERT ... SELECT over
 * generate_series, in chunks of 200,000 (each its own transaction, sorted by time, as logs
 * arriving over a month would sit in the indexes), on two connections at once. Rows look like
 * the HTTP load's: 20 alias names plus calls without one, 10 models, 4 origins plus none,
 * 3 profiles, random times over the window, a cost on every row (client-computed on a quarter
 * of them, registry prices recorded on the rest), ~200 bytes of metadata whose `feature` (one
 * of 5 values) is promoted to a dimension, as the server stores it (LLMRING_METADATA_DIMENSIONS) (from a pool of 64
 * objects per chunk, to keep generation cheap). About 40-50k logs/s on 2 cores.
 */
import { errorMessage } from './log';
import {
  ALIASES,
  DIMENSION,
  BOUND_SHARE,
  FEATURES,
  MODELS,
  ORIGINS,
  PROFILES,
  sqlNumArray,
  sqlTextArray,
} from './workload';

const SEED_SQL = `
WITH pool AS (
  SELECT array_agg(jsonb_build_object('user_id', 'user_' || (i * 7919 % 50000)::text,
    'session_id', md5($5::text || i::text)::uuid::text,
    'feature', (${sqlTextArray(FEATURES)})[1 + i % ${FEATURES.length}], 'env', 'production',
    'client', '{"name": "llmring-py", "version": "1.4.2"}'::jsonb, 'tags', '["beta", "eu-west-1"]'::jsonb,
    'prompt_version', i % 40) ORDER BY i) AS md
  FROM generate_series(0, 63) i
)
INSERT INTO usage_logs (project_id, api_key_id, alias_name, provider, model, input_tokens, output_tokens,
  cached_input_tokens, cost, cost_source, latency_ms, origin, id_at_origin, profile, metadata, dimensions, occurred_at,
  created_at, input_price_per_million, output_price_per_million, cached_input_price_per_million, registry_version)
SELECT $1::uuid, $2::uuid,
  (${sqlTextArray([...ALIASES, null])})[s.a],
  (${sqlTextArray(MODELS.map((m) => m.provider))})[s.m],
  (${sqlTextArray(MODELS.map((m) => m.model))})[s.m],
  s.it, s.ot, s.ct,
  round(((s.it - s.ct) * (${sqlNumArray(MODELS.map((m) => m.input))})[s.m]
         + s.ct * (${sqlNumArray(MODELS.map((m) => m.cached))})[s.m]
         + s.ot * (${sqlNumArray(MODELS.map((m) => m.output))})[s.m]) / 1000000, 8),
  CASE WHEN s.client THEN 'client' ELSE 'registry' END,
  s.lat,
  (${sqlTextArray([...ORIGINS, null])})[s.o],
  'resp_' || $5::text || '_' || s.g::text,
  (${sqlTextArray(PROFILES)})[s.p],
  pool.md[1 + s.g % 64],
  jsonb_build_object('${DIMENSION}', pool.md[1 + s.g % 64] ->> '${DIMENSION}'),
  s.t, s.t + interval '40 milliseconds',
  CASE WHEN s.client THEN NULL ELSE (${sqlNumArray(MODELS.map((m) => m.input))})[s.m] END,
  CASE WHEN s.client THEN NULL ELSE (${sqlNumArray(MODELS.map((m) => m.output))})[s.m] END,
  CASE WHEN s.client THEN NULL ELSE (${sqlNumArray(MODELS.map((m) => m.cached))})[s.m] END,
  CASE WHEN s.client THEN NULL ELSE '2025-08-20' END
FROM pool, (
  SELECT s0.*, CASE WHEN s0.rc < 0.3 THEN s0.it / 2 ELSE 0 END AS ct,
    -- an aliased call goes to its alias's bound model, or for 1 - BOUND_SHARE of them to the
    -- alias's fallback (workload.ts boundModel); a call without an alias to any model
    CASE WHEN s0.a > ${ALIASES.length} THEN s0.m0
         WHEN s0.mr < ${BOUND_SHARE} THEN 1 + (s0.a - 1) % ${MODELS.length}
         ELSE 1 + s0.a % ${MODELS.length} END AS m
  FROM (
    SELECT g,
      1 + floor(random() * ${ALIASES.length + 1})::int AS a,
      1 + floor(random() * ${MODELS.length})::int AS m0,
      random() AS mr,
      1 + floor(random() * ${ORIGINS.length + 1})::int AS o,
      1 + floor(random() * ${PROFILES.length})::int AS p,
      (50 + floor(random() * 7950))::int AS it,
      random() AS rc,
      (10 + floor(random() * 1990))::int AS ot,
      (150 + floor(random() * 8850))::int AS lat,
      random() < 0.25 AS client,
      $3::timestamptz + random() * ($4::timestamptz - $3::timestamptz) AS t
    FROM generate_series(1, $6::int) g
  ) s0
  ORDER BY s0.t
) s`;

/**
 * Session settings for bulk loading: WAL compression (fewer bytes for the full-page images that
 * random index inserts cause), and, only while usage_logs has no trigger of its own, replica
 * mode, which skips the per-row foreign-key checks (every row names the same, existing
 * project). Were a trigger ever added to usage_logs (rollup bookkeeping, say), replica mode
 * would skip it too and corrupt what the bench measures, so it is then left off.
 */
/** A connection to seed over: a `pg` Client, or an embedded PGlite database. */
export interface SqlClient {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

async function prepareSession(clients: SqlClient[]): Promise<void> {
  const { rows } = await clients[0].query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'usage_logs'::regclass AND NOT tgisinternal`,
  );
  const noTriggers = Number(rows[0].n) === 0;
  for (const c of clients) {
    await c.query(`SET wal_compression = 'lz4'`).catch(() => c.query(`SET wal_compression = 'on'`));
    if (noTriggers) await c.query(`SET session_replication_role = replica`);
  }
}

export interface SeedOptions {
  projectId: string;
  apiKeyId: string | null;
  rows: number;
  from: Date;
  to: Date;
  chunkRows?: number;
  onProgress?: (done: number) => void;
}

/** Inserts `rows` logs over the given connections (chunks run in parallel, one per connection). */
export async function seedLogs(clients: SqlClient[], opts: SeedOptions): Promise<number> {
  await prepareSession(clients);
  const chunk = opts.chunkRows ?? 200_000;
  const chunks: number[] = [];
  for (let left = opts.rows; left > 0; left -= chunk) chunks.push(Math.min(chunk, left));
  let next = 0;
  let done = 0;
  const tag = Date.now().toString(36);
  const start = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      while (next < chunks.length) {
        const i = next++;
        try {
          await client.query(SEED_SQL, [
            opts.projectId,
            opts.apiKeyId,
            opts.from.toISOString(),
            opts.to.toISOString(),
            `${tag}${i}`,
            chunks[i],
          ]);
        } catch (err) {
          next = chunks.length; // stop the other connection too
          throw new Error(`seeding chunk ${i} failed: ${errorMessage(err)}`);
        }
        done += chunks[i];
        opts.onProgress?.(done);
      }
    }),
  );
  return (performance.now() - start) / 1000;
}
