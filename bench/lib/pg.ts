/**
 * The Postgres side of the bench: the admin connection that creates and drops the bench
 * database, and plain `pg` clients for seeding and for the raw reference scans.
 * Only a loopback Postgres is accepted: the bench never sends traffic anywhere else.
 */
import { Client } from 'pg';

/** Connection to the maintenance database; BENCH_PG_URL overrides (loopback hosts only). */
export function adminUrl(): URL {
  const url = new URL(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new Error(`BENCH_PG_URL must point at a loopback Postgres (got host ${url.hostname})`);
  }
  return url;
}

export function databaseUrl(database: string): string {
  const url = adminUrl();
  url.pathname = `/${database}`;
  return url.toString();
}

export function benchDatabaseName(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `llmring_bench_${stamp}_${process.pid}`;
}

export async function connect(url: string, applicationName = 'llmring-bench'): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  return client;
}

function ident(name: string): string {
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected database name ${name}`);
  return `"${name}"`;
}

export async function createDatabase(name: string): Promise<void> {
  const admin = await connect(adminUrl().toString());
  try {
    await admin.query(`CREATE DATABASE ${ident(name)}`);
  } finally {
    await admin.end();
  }
}

/** Drops the database, ending any session still connected to it. */
export async function dropDatabase(name: string): Promise<void> {
  const admin = await connect(adminUrl().toString());
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export async function serverVersion(client: Client): Promise<string> {
  const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  return rows[0].v;
}

/**
 * Closes a connection without waiting for a statement still running on it (a seeding chunk,
 * a 10M-row scan) for more than `ms`: DROP DATABASE ... WITH (FORCE) ends that backend anyway.
 */
export async function endQuietly(client: Client, ms = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
