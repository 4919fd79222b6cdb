/**
 * The raw reference: pgbench inserting one usage_logs-shaped row per transaction, the same
 * columns the server writes (a ~200-byte jsonb metadata included), into an exact copy of
 * usage_logs (LIKE ... INCLUDING ALL: defaults incl. the tx column, CHECKs, every index)
 * with the same foreign keys. A copy keeps these rows out of the server's statistics and
 * rollups, while each INSERT does exactly the work an INSERT into usage_logs does.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from 'pg';
import type { Cleanup } from './cleanup';
import { adminUrl } from './pg';
import { clusterCpuSeconds } from './server';
import { ALIASES, MODELS, ORIGINS, PROFILES, sqlNumArray, sqlTextArray } from './workload';

export const RAW_TABLE = 'bench_raw_usage_logs';

export async function createRawTable(db: Client): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${RAW_TABLE}`);
  await db.query(`CREATE TABLE ${RAW_TABLE} (LIKE usage_logs INCLUDING ALL)`);
  await db.query(`ALTER TABLE ${RAW_TABLE}
    ADD FOREIGN KEY (project_id) REFERENCES projects (id),
    ADD FOREIGN KEY (api_key_id) REFERENCES api_keys (id)`);
}

export async function dropRawTable(db: Client): Promise<void> {
  await db.query(`DROP TABLE IF EXISTS ${RAW_TABLE}`);
}

/** The pgbench script: one INSERT of one row per transaction, values varied like the HTTP load's. */
export function pgbenchScript(projectId: string, apiKeyId: string): string {
  const uuid = /^[0-9a-f-]{36}$/;
  if (!uuid.test(projectId) || !uuid.test(apiKeyId)) throw new Error('unexpected id format');
  return `\\set a random(1, ${ALIASES.length + 2})
\\set m random(1, ${MODELS.length})
\\set o random(1, ${ORIGINS.length})
\\set p random(1, ${PROFILES.length})
\\set it random(50, 8000)
\\set ot random(10, 2000)
\\set lat random(150, 9000)
\\set u random(1, 50000)
\\set r random(1, 1000000000)
INSERT INTO ${RAW_TABLE} (id, project_id, api_key_id, alias_name, provider, model, input_tokens, output_tokens, cached_input_tokens, cost, cost_source, latency_ms, origin, id_at_origin, profile, metadata, occurred_at, created_at, idempotency_key, input_price_per_million, output_price_per_million, cached_input_price_per_million, registry_version) VALUES (gen_random_uuid(), '${projectId}', '${apiKeyId}', (${sqlTextArray(ALIASES)})[:a], (${sqlTextArray(MODELS.map((m) => m.provider))})[:m], (${sqlTextArray(MODELS.map((m) => m.model))})[:m], :it, :ot, 0, (:it * (${sqlNumArray(MODELS.map((m) => m.input))})[:m] + :ot * (${sqlNumArray(MODELS.map((m) => m.output))})[:m]) / 1000000, 'registry', :lat, (${sqlTextArray(ORIGINS)})[:o], 'resp_' || :r::text, (${sqlTextArray(PROFILES)})[:p], ('{"user_id": "user_' || :u::text || '", "session_id": "' || gen_random_uuid()::text || '", "feature": "chat", "env": "production", "client": {"name": "llmring-py", "version": "1.4.2"}, "tags": ["beta", "eu-west-1"], "prompt_version": 7}')::jsonb, now(), now(), NULL, (${sqlNumArray(MODELS.map((m) => m.input))})[:m], (${sqlNumArray(MODELS.map((m) => m.output))})[:m], (${sqlNumArray(MODELS.map((m) => m.cached))})[:m], '2025-08-20');
`;
}

export interface PgbenchResult {
  clients: number;
  rowsPerSecond: number;
  latencyAvgMs: number;
  failed: number;
  /** The Postgres cluster's CPU time per row inserted, when the caller gave the postmaster's pid. */
  postgresCpuMs?: number;
}

export async function runPgbench(opts: {
  database: string;
  scriptPath: string;
  clients: number;
  seconds: number;
  cleanup: Cleanup;
  onSpawn?: (pid: number) => void;
  postmasterPid?: number;
}): Promise<PgbenchResult> {
  const url = adminUrl();
  const args = [
    '-h',
    url.hostname.replace(/^\[|\]$/g, ''),
    '-p',
    url.port || '5432',
    '-U',
    decodeURIComponent(url.username || 'postgres'),
    '-n', // no vacuum of pgbench's own tables
    '-M',
    'prepared',
    '-c',
    String(opts.clients),
    '-j',
    String(Math.min(2, opts.clients)),
    '-T',
    String(opts.seconds),
    '-f',
    opts.scriptPath,
    opts.database,
  ];
  const env = {
    ...process.env,
    PGPASSWORD: decodeURIComponent(url.password) || process.env.PGPASSWORD || '',
  };
  const pgCpu0 = opts.postmasterPid ? clusterCpuSeconds(opts.postmasterPid) : NaN;
  const child = spawn(process.env.PGBENCH ?? 'pgbench', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid) opts.onSpawn?.(child.pid);
  const unregister = opts.cleanup.add('stop pgbench', () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  unregister();
  const pgCpu = opts.postmasterPid ? clusterCpuSeconds(opts.postmasterPid) - pgCpu0 : NaN;
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (code !== 0 || !tps) throw new Error(`pgbench failed (exit ${code}):\n${out.slice(-2000)}`);
  const rows = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? NaN);
  return {
    clients: opts.clients,
    rowsPerSecond: Number(tps[1]),
    latencyAvgMs: Number(/latency average = ([\d.]+) ms/.exec(out)?.[1] ?? NaN),
    failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
    postgresCpuMs: Number.isFinite(pgCpu) && rows > 0 ? (pgCpu * 1000) / rows : undefined,
  };
}

export function writeScript(dir: string, script: string): string {
  const file = path.join(dir, 'insert-usage-log.sql');
  fs.writeFileSync(file, script);
  return file;
}
