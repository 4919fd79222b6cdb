/**
 * The issue-20 bench: OTLP ingest against logUsageBatch, and the exports' memory.
 *
 *   npx tsx bench/otlp.ts [--seconds 10] [--clients 4] [--export-rows 1000000]
 *                         [--skip-ingest] [--embedded] [--runs 1] [--only PATH] [--cpu-prof DIR]
 *
 * 1. Starts the compiled server on a fresh Postgres database (BENCH_PG_URL, as bench/run.ts),
 *    or with --embedded on a fresh embedded PGlite folder.
 * 2. Ingest (left out with --skip-ingest), in the same run, 100 calls per request at --clients
 *    clients for --seconds each: logUsageBatch over GraphQL; POST /v1/traces with 100 GenAI
 *    spans as OTLP/JSON; the same as OTLP/protobuf. Same call mix (bench/lib/workload.ts), fresh
 *    span ids every request (no replays). Prints logs/s, p50, p99 and server CPU per log for
 *    each. Target: OTLP at least as many logs/s as logUsageBatch.
 * 3. Export: seeds --export-rows logs in SQL, then runs `llmring-server export` as the compiled
 *    CLI to a file, --runs times for each of --format csv, focus and focus-parquet, sampling the
 *    CLI's RSS and high-water mark (VmHWM) every 100 ms. Prints the peak RSS of each run, rows/s,
 *    the file size, the load average and the progress lines, after the RSS of `llmring-server
 *    status` on the same database (what the CLI takes before it exports anything). Target: peak
 *    under 200 MB for 1M logs, with progress shown.
 * The database (or folder), the server and the files go at the end, on failure and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import protobuf from 'protobufjs';
import { Cleanup } from './lib/cleanup';
import { closedLoop, type LoadResult } from './lib/load';
import { benchDatabaseName, connect, createDatabase, databaseUrl, dropDatabase } from './lib/pg';
import { postmasterPid, REPO_ROOT, RssSampler, ServerProcess } from './lib/server';
import { seedLogs } from './lib/seed';
import { logInput, rng, type LogInput } from './lib/workload';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '4' },
    'export-rows': { type: 'string', default: '1000000' },
    'skip-ingest': { type: 'boolean', default: false },
    embedded: { type: 'boolean', default: false },
    runs: { type: 'string', default: '1' },
    /** Measure one ingest path only: batch, json or protobuf (to profile it). */
    only: { type: 'string' },
    /** Write the server's CPU profile (node --cpu-prof) to this folder when it stops. */
    'cpu-prof': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
const EXPORT_ROWS = Number(values['export-rows']);
const SKIP_INGEST = values['skip-ingest'];
const EMBEDDED = values.embedded;
const RUNS = Number(values.runs);
const BATCH = 100;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** One call as an OTLP span (JSON mapping), ended just now. */
function span(input: LogInput, nowMs: number) {
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const int = (key: string, value: number) => ({ key, value: { intValue: String(value) } });
  const attributes = [
    str('gen_ai.operation.name', 'chat'),
    str('gen_ai.provider.name', input.provider),
    str('gen_ai.response.model', input.model),
    int('gen_ai.usage.input_tokens', input.inputTokens),
    int('gen_ai.usage.output_tokens', input.outputTokens),
    int('gen_ai.usage.cache_read.input_tokens', input.cachedInputTokens ?? 0),
    str('gen_ai.response.id', input.idAtOrigin ?? hex(8)),
  ];
  if (input.aliasName) attributes.push(str('llmring.alias', input.aliasName));
  if (input.cost !== undefined && input.cost !== null) {
    attributes.push({ key: 'llmring.cost', value: { doubleValue: input.cost } } as never);
  }
  for (const [k, v] of Object.entries(input.metadata ?? {})) {
    if (typeof v === 'string') attributes.push(str(`llmring.metadata.${k}`, v));
  }
  const end = BigInt(nowMs) * 1_000_000n;
  return {
    traceId: hex(16),
    spanId: hex(8),
    name: `chat ${input.model}`,
    kind: 3,
    startTimeUnixNano: String(end - BigInt(input.latencyMs ?? 500) * 1_000_000n),
    endTimeUnixNano: String(end),
    attributes,
  };
}

function otlpRequest(inputs: LogInput[], origin: string) {
  const now = Date.now();
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: origin } }] },
        scopeSpans: [{ scope: { name: 'llmring-bench' }, spans: inputs.map((i) => span(i, now)) }],
      },
    ],
  };
}

/** The vendored OTLP protos, to encode the same requests as protobuf. */
function requestType(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(REPO_ROOT, 'proto', target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
}

function toProtobuf(type: protobuf.Type, request: ReturnType<typeof otlpRequest>): Uint8Array {
  const spans = request.resourceSpans[0].scopeSpans[0].spans.map((s) => ({
    ...s,
    traceId: Buffer.from(s.traceId, 'hex'),
    spanId: Buffer.from(s.spanId, 'hex'),
    startTimeUnixNano: s.startTimeUnixNano,
    endTimeUnixNano: s.endTimeUnixNano,
  }));
  const message = type.fromObject({
    resourceSpans: [
      { ...request.resourceSpans[0], scopeSpans: [{ ...request.resourceSpans[0].scopeSpans[0], spans }] },
    ],
  });
  return type.encode(message).finish();
}

function line(label: string, res: LoadResult): string {
  return (
    `${label.padEnd(28)} ${(res.perSecond * BATCH).toFixed(0).padStart(7)} logs/s  ` +
    `(${res.perSecond.toFixed(1)} req/s)  p50 ${res.p50.toFixed(1)} ms  p99 ${res.p99.toFixed(1)} ms  ` +
    `server CPU ${res.serverCpuMs === undefined ? 'n/a' : (res.serverCpuMs / BATCH).toFixed(3)} ms/log  ` +
    `Postgres CPU ${res.postgresCpuMs === undefined || Number.isNaN(res.postgresCpuMs) ? 'n/a' : (res.postgresCpuMs / BATCH).toFixed(3)} ms/log  ` +
    `errors ${res.errors}${res.firstError ? ` (${res.firstError.slice(0, 200)})` : ''}`
  );
}

/** The compiled CLI with `args`, its RSS sampled; the database only from `env` (none from the shell). */
async function cliRun(
  args: string[],
  env: Record<string, string>,
): Promise<{ peakMb: number; seconds: number; progress: string[]; code: number | null; load: number }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, NODE_ENV: 'production' };
  if (!env.DATABASE_URL) delete childEnv.DATABASE_URL;
  if (!env.LLMRING_DATA_DIR) delete childEnv.LLMRING_DATA_DIR;
  const start = performance.now();
  const child = spawn(process.execPath, [path.join('dist', 'src', 'cli.js'), ...args], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const rss = new RssSampler(child.pid!, 100).start();
  const progress: string[] = [];
  child
    .stderr!.setEncoding('utf8')
    .on('data', (s: string) => progress.push(...s.split(/[\r\n]+/).filter(Boolean)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  rss.stop();
  // The one-minute load average as the run ends: on a shared machine the peak grows with it
  // (V8's concurrent marking gets less CPU, and the heap grows meanwhile).
  const load = os.loadavg()[0];
  return { peakMb: rss.highWaterMb, seconds: (performance.now() - start) / 1000, progress, code, load };
}

/** Seeds `rows` logs of the 'default' project over the last 30 days, in SQL. */
async function seed(env: Record<string, string>, rows: number): Promise<void> {
  const to = new Date();
  const from = new Date(to.getTime() - 30 * 86_400_000);
  if (env.DATABASE_URL) {
    const pg = await connect(env.DATABASE_URL);
    const { rows: projects } = await pg.query(`SELECT id FROM projects WHERE key = 'default'`);
    const seeders = [pg, await connect(env.DATABASE_URL)];
    await seedLogs(seeders, { projectId: projects[0].id, apiKeyId: null, rows, from, to });
    await Promise.all(seeders.map((c) => c.end()));
    return;
  }
  // The embedded database, opened here while no server or CLI has it open (one process at a
  // time), in smaller chunks: PGlite's memory grows with the statement.
  const { PGlite } = await import('@electric-sql/pglite');
  const lite = await PGlite.create(path.join(env.LLMRING_DATA_DIR, 'pglite'));
  try {
    const { rows: projects } = await lite.query<{ id: string }>(
      `SELECT id FROM projects WHERE key = 'default'`,
    );
    await seedLogs([lite], { projectId: projects[0].id, apiKeyId: null, rows, from, to, chunkRows: 50_000 });
  } finally {
    await lite.close();
  }
}

/** Part 2: the three ingest paths against the running server. */
async function ingest(server: ServerProcess, databaseUrl?: string): Promise<void> {
  const key = server.firstKey!;
  // The Postgres cluster's CPU too (a loopback Postgres of this machine; not the embedded one).
  let postmaster: number | undefined;
  if (databaseUrl) {
    const pg = await connect(databaseUrl);
    postmaster = await postmasterPid(pg);
    await pg.end();
  }
  const r = rng(20);
  const type = requestType();

  const batchBody = () =>
    JSON.stringify({
      query: `mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { usageLog { id } receipt { receiptId } } } }`,
      variables: { inputs: Array.from({ length: BATCH }, () => logInput(r)) },
    });
  const post = async (pathName: string, body: string | Uint8Array, headers: Record<string, string>) => {
    const res = await fetch(`${server.url}${pathName}`, {
      method: 'POST',
      headers: { 'x-api-key': key, ...headers },
      body,
    });
    const text = await res.text();
    if (res.status !== 200 || text.includes('"errors"') || text.includes('rejected')) {
      throw new Error(`${res.status} ${text.slice(0, 300)}`);
    }
  };
  const sends = {
    'logUsageBatch (GraphQL)': () => post('/graphql', batchBody(), { 'content-type': 'application/json' }),
    'OTLP/JSON /v1/traces': () =>
      post(
        '/v1/traces',
        JSON.stringify(
          otlpRequest(
            Array.from({ length: BATCH }, () => logInput(r)),
            'bench',
          ),
        ),
        {
          'content-type': 'application/json',
        },
      ),
    'OTLP/protobuf /v1/traces': () =>
      post(
        '/v1/traces',
        toProtobuf(
          type,
          otlpRequest(
            Array.from({ length: BATCH }, () => logInput(r)),
            'bench',
          ),
        ),
        {
          'content-type': 'application/x-protobuf',
        },
      ),
  };
  const only = { batch: 'logUsageBatch', json: 'OTLP/JSON', protobuf: 'OTLP/protobuf' }[values.only ?? ''];
  if (values.only !== undefined && only === undefined)
    throw new Error('--only takes batch, json or protobuf');
  const order = Object.entries(sends).filter(([label]) => only === undefined || label.startsWith(only));
  // Warm up each path, then measure them one after another, twice, in alternating order.
  for (const [, send] of order) await closedLoop({ concurrency: CLIENTS, durationMs: 1000, send });
  console.log(`ingest: ${BATCH} calls per request, ${CLIENTS} clients, ${SECONDS} s each`);
  for (const round of [order, [...order].reverse()]) {
    for (const [label, send] of round) {
      const res = await closedLoop({
        concurrency: CLIENTS,
        durationMs: SECONDS * 1000,
        send,
        serverPid: server.pid,
        postmasterPid: postmaster,
      });
      console.log(line(label, res));
    }
  }
}

async function main() {
  const cleanup = new Cleanup();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-bench-otlp-'));
  cleanup.add('files', async () => fs.rmSync(tmp, { recursive: true, force: true }));
  try {
    let database: Record<string, string>;
    if (EMBEDDED) {
      database = { LLMRING_DATA_DIR: path.join(tmp, 'data') };
    } else {
      const name = benchDatabaseName();
      await createDatabase(name);
      cleanup.add('drop', () => dropDatabase(name));
      database = { DATABASE_URL: databaseUrl(name) };
    }
    const env = {
      ...database,
      LLMRING_ADMIN_TOKEN: randomBytes(24).toString('hex'),
      LLMRING_RECEIPTS_PRIVATE_KEY: String(
        generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d,
      ),
      LLMRING_RECEIPTS_KEY_ID: 'k-bench',
    };
    // The server's first start migrates the database and creates the 'default' project.
    const server = await ServerProcess.start({
      label: 'otlp',
      env,
      cleanup,
      nodeArgs: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [],
    });
    if (!SKIP_INGEST) await ingest(server, database.DATABASE_URL);
    await server.stop();

    if (EXPORT_ROWS > 0) {
      await seed(database, EXPORT_ROWS);
      const total = `${EXPORT_ROWS}${SKIP_INGEST ? '' : '+'}`; // plus the ingest's logs
      const at = EMBEDDED ? 'embedded PGlite' : 'Postgres';
      const idle = await cliRun(['status'], database);
      console.log(
        `export: ${total} logs on ${at}; llmring-server status: CLI RSS peak ${idle.peakMb.toFixed(0)} MB`,
      );
      for (const [format, ext] of [
        ['csv', 'csv'],
        ['focus', 'csv'],
        ['focus-parquet', 'parquet'],
      ]) {
        const file = path.join(tmp, `export-${format}.${ext}`);
        for (let i = 0; i < RUNS; i++) {
          const run = await cliRun(
            ['export', '--format', format, '--start', '2000-01-01', '-o', file],
            database,
          );
          const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
          console.log(
            `export --format ${format}: ${run.code === 0 ? 'ok' : `exit ${run.code}`}, ${total} logs in ${run.seconds.toFixed(1)} s ` +
              `(${(EXPORT_ROWS / run.seconds).toFixed(0)} logs/s), CLI RSS peak ${run.peakMb.toFixed(0)} MB, file ${(size / 1e6).toFixed(1)} MB, ` +
              `load average ${run.load.toFixed(1)}`,
          );
          if (i === 0) {
            console.log(
              `  progress: ${run.progress.slice(0, 3).join(' | ')} ... ${run.progress.slice(-2).join(' | ')}`,
            );
          }
          fs.rmSync(file, { force: true });
        }
      }
    }
  } finally {
    await cleanup.run();
  }
}
void main();
