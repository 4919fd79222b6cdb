/**
 * What the fault tests need: a database of their own on the Postgres server named by
 * TEST_DATABASE_URL; the real server as a child process, run as production runs it (`node
 * dist/src/main.js` with NODE_ENV=production, compiled by `npm run test:faults`; node itself,
 * so that a signal reaches the server); a client that keeps logging calls and retries each
 * with its idempotency key until it succeeds; and the check that what the client was told
 * matches what the database holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const ADMIN_TOKEN = 'fault-admin-token-0123456789abcdef';
export const adminDatabaseUrl = process.env.TEST_DATABASE_URL;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `fn` with a fresh connection (earlier ones may have died with the server). */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined); // a restart may end it; the caller's query fails instead
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface FaultDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createDatabase(): Promise<FaultDatabase> {
  const admin = adminDatabaseUrl!;
  const name = `llmring_fault_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () =>
      withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The server as a child process; stdout and stderr are kept. */
export class ChildServer {
  output = '';
  firstKey?: string;
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      }),
    );
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString('utf8');
      this.firstKey ??= /shown only once:\s*\n\s*\n\s*(\S+)/.exec(this.output)?.[1];
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
  }

  static async start(env: Record<string, string>, port: number): Promise<ChildServer> {
    const child = spawn(process.execPath, [path.join('dist', 'src', 'main.js')], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        HOST: '127.0.0.1',
        PORT: String(port),
        NODE_ENV: 'production',
        LLMRING_ENV: 'test',
        LLMRING_ADMIN_TOKEN: ADMIN_TOKEN,
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ChildServer(child, `http://127.0.0.1:${port}`);
    await server.waitReady(60_000);
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  async ready(): Promise<number> {
    try {
      const res = await fetch(`${this.baseUrl}/ready`, { signal: AbortSignal.timeout(3_000) });
      await res.text();
      return res.status;
    } catch {
      return 0; // no answer at all
    }
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`server exited during start-up:\n${this.output.slice(-3000)}`);
      if ((await this.ready()) === 200) return;
      await sleep(100);
    }
    throw new Error(`server not ready within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Waits for the process to end; resolves with how long it took, or throws after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<number> {
    const start = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`server still running after ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
    return Date.now() - start;
  }

  /** Stops it whatever it is doing (test clean-up). */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const LOG = `mutation($input: LogUsageInput!) {
  logUsage(input: $input) { replayed usageLog { id idempotencyKey } receipt { receiptId } }
}`;

export interface Attempt {
  key: string;
  at: number;
  /** success: data with ids; error: an HTTP error or GraphQL errors; network: no HTTP answer. */
  outcome: 'success' | 'error' | 'network';
  status?: number;
  codes?: string[];
  usageLogId?: string;
  receiptId?: string;
}

/** One logged call through the GraphQL API, classified. */
export async function logOnce(
  baseUrl: string,
  secret: string,
  key: string,
  timeoutMs = 10_000,
): Promise<Attempt> {
  const at = Date.now();
  let res: Response;
  let text: string;
  try {
    res = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': secret },
      body: JSON.stringify({
        query: LOG,
        variables: {
          input: {
            provider: 'openai',
            model: 'gpt-4.1',
            inputTokens: 100,
            outputTokens: 10,
            idempotencyKey: key,
          },
        },
      }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await res.text();
  } catch {
    return { key, at, outcome: 'network' };
  }
  let body: {
    data?: {
      logUsage?: { usageLog: { id: string; idempotencyKey: string }; receipt: { receiptId: string } } | null;
    } | null;
    errors?: Array<{ extensions?: { code?: string } }>;
  } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: an error
  }
  const result = body.data?.logUsage;
  if (res.status === 200 && result && !body.errors?.length) {
    if (result.usageLog.idempotencyKey !== key)
      throw new Error(`answer for ${key} names ${result.usageLog.idempotencyKey}`);
    return {
      key,
      at,
      outcome: 'success',
      status: 200,
      usageLogId: result.usageLog.id,
      receiptId: result.receipt.receiptId,
    };
  }
  return {
    key,
    at,
    outcome: 'error',
    status: res.status,
    codes: (body.errors ?? []).map((e) => String(e.extensions?.code)),
  };
}

/**
 * Sustained ingest: `workers` clients, each logging calls one after another, every call with a
 * new idempotency key and retried with the same key until it succeeds, as a careful client
 * would. stop() lets each worker finish the call it is on.
 */
export class Ingest {
  readonly attempts: Attempt[] = [];
  private running = true;
  private readonly done: Promise<void[]>;
  private baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly secret: string,
    opts: { workers?: number; pauseMs?: number } = {},
  ) {
    this.baseUrl = baseUrl;
    const pauseMs = opts.pauseMs ?? 10;
    this.done = Promise.all(Array.from({ length: opts.workers ?? 4 }, () => this.worker(pauseMs)));
  }

  private async worker(pauseMs: number): Promise<void> {
    while (this.running) {
      const key = randomUUID();
      const giveUpAt = Date.now() + 60_000;
      for (;;) {
        const attempt = await logOnce(this.baseUrl, this.secret, key);
        this.attempts.push(attempt);
        if (attempt.outcome === 'success') break;
        if (Date.now() > giveUpAt) throw new Error(`call ${key} did not succeed within 60 s`);
        await sleep(100);
      }
      await sleep(pauseMs);
    }
  }

  successes(since = 0): number {
    return this.attempts.filter((a) => a.outcome === 'success' && a.at >= since).length;
  }

  async waitForSuccesses(n: number, since: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.successes(since) < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${this.successes(since)} of ${n} successes within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

export interface Reconciliation {
  keys: number;
  successes: number;
  failures: number;
  rows: number;
}

/**
 * Every call that got a success is in the database exactly once, with the id and receipt it was
 * told; every row is one of the calls sent; every call ended in a success (the client retried
 * until it did), so there are exactly as many rows as calls.
 */
export async function reconcile(url: string, attempts: Attempt[]): Promise<Reconciliation> {
  const rows = await withClient(url, async (c) => {
    const logs = await c.query<{ id: string; idempotency_key: string }>(
      'SELECT id, idempotency_key FROM usage_logs',
    );
    const receipts = await c.query<{ receipt_id: string; usage_log_id: string }>(
      'SELECT receipt_id, usage_log_id FROM receipts',
    );
    return { logs: logs.rows, receipts: receipts.rows };
  });
  const rowsByKey = new Map<string, string[]>();
  for (const r of rows.logs)
    rowsByKey.set(r.idempotency_key, [...(rowsByKey.get(r.idempotency_key) ?? []), r.id]);
  const receiptsByLog = new Map<string, string[]>();
  for (const r of rows.receipts)
    receiptsByLog.set(r.usage_log_id, [...(receiptsByLog.get(r.usage_log_id) ?? []), r.receipt_id]);

  const problems: string[] = [];
  const keys = new Set(attempts.map((a) => a.key));
  const successes = attempts.filter((a) => a.outcome === 'success');
  for (const s of successes) {
    const ids = rowsByKey.get(s.key) ?? [];
    if (ids.length !== 1 || ids[0] !== s.usageLogId)
      problems.push(`success for ${s.key} (${s.usageLogId}): rows ${ids.join(',') || 'none'}`);
    const receipts = receiptsByLog.get(s.usageLogId!) ?? [];
    if (receipts.length !== 1 || receipts[0] !== s.receiptId)
      problems.push(`success for ${s.key}: receipts ${receipts.join(',') || 'none'}`);
  }
  for (const [key, ids] of rowsByKey) {
    if (!keys.has(key)) problems.push(`row ${ids.join(',')} has a key no call used: ${key}`);
    if (ids.length > 1) problems.push(`key ${key} stored ${ids.length} times`);
  }
  const succeededKeys = new Set(successes.map((s) => s.key));
  for (const key of keys) if (!succeededKeys.has(key)) problems.push(`call ${key} never succeeded`);
  if (rows.logs.length !== keys.size) problems.push(`${rows.logs.length} rows for ${keys.size} calls`);
  if (problems.length)
    throw new Error(
      `the database disagrees with what clients were told:\n${problems.slice(0, 20).join('\n')}`,
    );
  return {
    keys: keys.size,
    successes: successes.length,
    failures: attempts.length - successes.length,
    rows: rows.logs.length,
  };
}
