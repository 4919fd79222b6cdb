/**
 * A closed-loop load generator: `concurrency` workers, each sending its next request as soon
 * as the previous one completes, for a fixed duration. Throughput is completions over the
 * time until the last in-flight request finished; latency is per request.
 */
import { clusterCpuSeconds, cpuSeconds } from './server';
import { percentile } from './stats-math';

export interface LoadResult {
  concurrency: number;
  seconds: number;
  completed: number;
  errors: number;
  firstError?: string;
  /** Completed requests per second. */
  perSecond: number;
  p50: number;
  p99: number;
  /** Server CPU time per completed request, when the caller measured it. */
  serverCpuMs?: number;
  /** The Postgres cluster's CPU time per completed request, when the caller measured it. */
  postgresCpuMs?: number;
}

export async function closedLoop(opts: {
  concurrency: number;
  durationMs: number;
  /** One request; throw to count an error. */
  send: (worker: number) => Promise<void>;
  /** The server's pid: its CPU time over the run is reported per request. */
  serverPid?: number;
  /** The postmaster's pid: the cluster's CPU time over the run is reported per request. */
  postmasterPid?: number;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const cpu0 = opts.serverPid ? cpuSeconds(opts.serverPid) : NaN;
  const pgCpu0 = opts.postmasterPid ? clusterCpuSeconds(opts.postmasterPid) : NaN;
  const start = performance.now();
  const end = start + opts.durationMs;
  const worker = async (w: number) => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        await opts.send(w);
        latencies.push(performance.now() - t);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        await new Promise((resolve) => setTimeout(resolve, 20)); // no hot loop against a failing server
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - start) / 1000;
  const cpu = opts.serverPid ? cpuSeconds(opts.serverPid) - cpu0 : NaN;
  const pgCpu = opts.postmasterPid ? clusterCpuSeconds(opts.postmasterPid) - pgCpu0 : NaN;
  const perRequestMs = (seconds: number) =>
    Number.isFinite(seconds) && latencies.length ? (seconds * 1000) / latencies.length : undefined;
  return {
    concurrency: opts.concurrency,
    seconds,
    completed: latencies.length,
    errors,
    firstError,
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    serverCpuMs: perRequestMs(cpu),
    postgresCpuMs: perRequestMs(pgCpu),
  };
}
