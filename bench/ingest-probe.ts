/**
 * A focused ingest probe for working on the ingest path: starts the server on a fresh
 * database, runs logUsage (or logUsageBatch) at the given concurrency and prints req/s,
 * p50, p99, and server and Postgres CPU per request. Not part of the issue-5 table (bench/run.ts is).
 *
 *   npx tsx bench/ingest-probe.ts [--clients 64] [--seconds 10] [--batch 0] [--budgets 0] [--cpu-prof DIR]
 *     [--node-args='--flag ...']   (PROBE_X=v in the environment sets the server's X=v)
 *
 * --budgets N defines N budgets on the project before the load (every period, a few zones,
 * a third narrowed by alias name), so the alert worker evaluates them while calls arrive
 * (PROBE_LLMRING_ALERT_INTERVAL_MS sets how often).
 */
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Cleanup } from './lib/cleanup';
import { GraphQLClient } from './lib/http';
import { closedLoop } from './lib/load';
import { benchDatabaseName, connect, createDatabase, databaseUrl, dropDatabase } from './lib/pg';
import { postmasterPid, RssSampler, ServerProcess } from './lib/server';
import { ALIASES, logInput, rng } from './lib/workload';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '0' },
    budgets: { type: 'string', default: '0' },
    'cpu-prof': { type: 'string' },
    'node-args': { type: 'string', default: '' },
  },
});

/** N budgets on the key's project, as an operator would define them. */
async function defineBudgets(client: GraphQLClient, key: string, adminToken: string, n: number) {
  if (n === 0) return;
  const me = await client.post(JSON.stringify({ query: '{ currentProject { id } }' }), { 'x-api-key': key });
  const projectId = JSON.parse(me.text).data.currentProject.id as string;
  const periods = ['DAY', 'WEEK', 'MONTH', 'TOTAL'];
  const zones = ['UTC', 'Europe/Berlin', 'America/Los_Angeles', 'Asia/Kolkata'];
  for (let i = 0; i < n; i++) {
    const input = {
      projectId,
      name: `budget ${i}`,
      amount: String(1_000_000 + i),
      period: periods[i % periods.length],
      timeZone: zones[i % zones.length],
      ...(i % 3 === 1 ? { aliasNames: [ALIASES[i % ALIASES.length]] } : {}),
    };
    const res = await client.post(
      JSON.stringify({
        query: 'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }',
        variables: { i: input },
      }),
      { authorization: `Bearer ${adminToken}` },
    );
    if (res.text.includes('"errors"')) throw new Error(res.text.slice(0, 300));
  }
  console.log(`${n} budgets defined`);
}

async function main() {
  const cleanup = new Cleanup();
  const name = benchDatabaseName();
  await createDatabase(name);
  cleanup.add('drop', () => dropDatabase(name));
  const adminToken = randomBytes(24).toString('hex');
  try {
    const server = await ServerProcess.start({
      label: 'probe',
      env: {
        DATABASE_URL: databaseUrl(name),
        LLMRING_ADMIN_TOKEN: adminToken,
        LLMRING_RECEIPTS_PRIVATE_KEY: String(
          generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d,
        ),
        LLMRING_RECEIPTS_KEY_ID: 'k-probe',
        ...Object.fromEntries(
          Object.entries(process.env)
            .filter(([k]) => k.startsWith('PROBE_'))
            .map(([k, v]) => [k.slice(6), v!]),
        ),
      },
      cleanup,
      nodeArgs: [
        ...(values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : []),
        ...values['node-args']!.split(' ').filter(Boolean),
      ],
    });
    const client = new GraphQLClient(server.url, { maxSockets: 256 });
    const key = server.firstKey!;
    const batch = Number(values.batch);
    const r = rng(1);
    const send = async () => {
      const body =
        batch > 0
          ? {
              query: `mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { usageLog { id } receipt { receiptId } } } }`,
              variables: { inputs: Array.from({ length: batch }, () => logInput(r)) },
            }
          : {
              query: `mutation BenchLogUsage($input: LogUsageInput!) {
  logUsage(input: $input) { usageLog { id cost costSource } receipt { receiptId signature } }
}`,
              variables: { input: logInput(r) },
            };
      const { status, text } = await client.post(JSON.stringify(body), { 'x-api-key': key });
      if (status !== 200 || text.includes('"errors"')) throw new Error(text.slice(0, 300));
    };
    await closedLoop({ concurrency: 16, durationMs: 2000, send });
    await defineBudgets(client, key, adminToken, Number(values.budgets));
    const admin = await connect(databaseUrl(name));
    await admin.query('CHECKPOINT');
    const postmaster = await postmasterPid(admin);
    await admin.end();
    const rss = new RssSampler(server.pid, 100).start();
    const lat: Array<[number, number]> = [];
    const t0 = performance.now();
    const timed = async () => {
      const t = performance.now();
      await send();
      lat.push([t - t0, performance.now() - t]);
    };
    const elu0 = performance.eventLoopUtilization();
    const cpuClient0 = process.cpuUsage();
    const res = await closedLoop({
      concurrency: Number(values.clients),
      durationMs: Number(values.seconds) * 1000,
      send: timed,
      serverPid: server.pid,
      postmasterPid: postmaster,
    });
    rss.stop();
    const elu = performance.eventLoopUtilization(elu0);
    const cpuClient = process.cpuUsage(cpuClient0);
    console.log(
      `load generator: event loop ${(elu.utilization * 100).toFixed(0)}% busy, CPU ${(((cpuClient.user + cpuClient.system) / 1e6 / Number(values.seconds)) * 100).toFixed(0)}% of a core`,
    );
    const per = batch > 0 ? batch : 1;
    console.log(
      `clients ${res.concurrency}: ${(res.perSecond * per).toFixed(0)} logs/s (${res.perSecond.toFixed(0)} req/s), p50 ${res.p50.toFixed(1)} ms, p99 ${res.p99.toFixed(1)} ms, server CPU ${res.serverCpuMs?.toFixed(3) ?? 'n/a'} ms/req, Postgres CPU ${res.postgresCpuMs?.toFixed(3) ?? 'n/a'} ms/req, errors ${res.errors} ${res.firstError ?? ''}`,
    );
    const sorted = lat.map((l) => l[1]).sort((a, b) => a - b);
    const q = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1);
    console.log(`server RSS peak ${rss.peakMb.toFixed(0)} MB`);
    console.log(`p50 ${q(50)} p90 ${q(90)} p95 ${q(95)} p99 ${q(99)} p99.9 ${q(99.9)} max ${q(100)}`);
    // Per 500 ms window: the slowest latency started in it, to tell stalls from a wide spread.
    const windows = new Map<number, number[]>();
    for (const [at, ms] of lat)
      windows.set(Math.floor(at / 500), [...(windows.get(Math.floor(at / 500)) ?? []), ms]);
    console.log(
      [...windows.values()]
        .map((w) => {
          w.sort((a, b) => a - b);
          return `${w[Math.floor(w.length * 0.99)].toFixed(0)}`;
        })
        .join(' '),
    );
    await client.close();
  } finally {
    await cleanup.run();
  }
}
void main();
