/**
 * The real server as a child process, run as production runs it (docs/operations.md): compiled
 * by `npm run compile`, then `node dist/src/main.js` with NODE_ENV=production, spawned straight
 * from this node binary so that the child's pid is the server's node process, which is what the
 * RSS sampler reads. Its output is kept: the first start prints the 'default' project's API key
 * once, and warnings or errors it logs are reported with the table.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Cleanup } from './cleanup';
import { getJson } from './http';
import { errorMessage, progress, sleep } from './log';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Settings the server reads (src/config.ts) that must come from the bench only, never the caller's shell. */
const SERVER_ENV = /^(DATABASE_|LLMRING_|PORT$|HOST$|LOG_LEVEL$|NODE_OPTIONS$|NODE_ENV$)/;

let built: Promise<void> | undefined;

/** Compiles the server into dist/ (once per bench process), as a production install does. */
export function buildServer(): Promise<void> {
  built ??= (async () => {
    progress('compiling the server: npm run compile');
    await promisify(execFile)('npm', ['run', '--silent', 'compile'], { cwd: REPO_ROOT });
  })();
  return built;
}

export interface ServerOptions {
  label: string;
  env: Record<string, string>;
  cleanup: Cleanup;
  readyTimeoutMs?: number;
  /** Extra node options before the entry point, e.g. ['--cpu-prof'] to profile the server. */
  nodeArgs?: string[];
  /** Told the child's pid as soon as it exists (for the janitor). */
  onSpawn?: (pid: number) => void;
}

export interface LogLine {
  level: string;
  message: string;
  count: number;
}

export class ServerProcess {
  readonly url: string;
  /** The 'default' project's API key, when this start created it and printed it. */
  firstKey?: string;
  private stdout = '';
  private tail: string[] = [];
  private readonly logLines = new Map<string, LogLine>();
  private exitCode: number | null | undefined;
  private readonly exited: Promise<void>;
  private readonly unregister: () => void;
  private stopping = false;

  private constructor(
    readonly label: string,
    private readonly child: ChildProcess,
    readonly port: number,
    cleanup: Cleanup,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        if (!this.stopping) {
          progress(
            `${label} server exited unexpectedly (code ${code}, signal ${signal}); its last output:\n${this.outputTail()}`,
          );
        }
        resolve();
      });
    });
    child.stdout!.setEncoding('utf8').on('data', (s: string) => this.onOutput(s, true));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => this.onOutput(s, false));
    this.unregister = cleanup.add(`stop ${label} server`, () => this.kill());
  }

  static async start(opts: ServerOptions): Promise<ServerProcess> {
    await buildServer();
    const port = await freePort();
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !SERVER_ENV.test(k)) env[k] = v;
    Object.assign(
      env,
      { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'production' },
      opts.env,
    );
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join('dist', 'src', 'main.js')], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid) opts.onSpawn?.(child.pid);
    const server = new ServerProcess(opts.label, child, port, opts.cleanup);
    await server.waitReady(opts.readyTimeoutMs ?? 90_000);
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  private onOutput(chunk: string, isStdout: boolean): void {
    if (isStdout && !this.firstKey) {
      this.stdout += chunk;
      const m = /shown only once:\s*\n\s*\n\s*(\S+)/.exec(this.stdout);
      if (m) this.firstKey = m[1];
      if (this.stdout.length > 100_000) this.stdout = this.stdout.slice(-10_000);
    }
    for (const line of chunk.split('\n')) {
      if (!line.trim()) continue;
      // stdout carries the first API key's banner: keep only its log records, never the secret.
      if (isStdout && !line.startsWith('{')) continue;
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
      this.noteLogLine(line, isStdout);
    }
  }

  /** Collects what the server logs at warn level or above (JSON lines) and anything else on stderr. */
  private noteLogLine(line: string, isStdout: boolean): void {
    let level: string | undefined;
    let message: string | undefined;
    if (line.startsWith('{')) {
      try {
        const rec = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        const n = rec.level ?? 30;
        if (n < 40) return;
        level = n >= 60 ? 'fatal' : n >= 50 ? 'error' : 'warn';
        message = `${rec.msg ?? ''}${rec.err?.message ? `: ${rec.err.message}` : ''}`;
      } catch {
        // not a log record
      }
    }
    if (!level) {
      if (isStdout || line.startsWith('(Use `node --trace-warnings')) return;
      level = 'stderr';
      message = line.trim();
    }
    const key = `${level} ${message}`.slice(0, 400);
    const seen = this.logLines.get(key);
    if (seen) seen.count++;
    else this.logLines.set(key, { level, message: (message ?? '').slice(0, 300), count: 1 });
  }

  /** Warnings and errors the server logged, most frequent first. */
  logged(): LogLine[] {
    return [...this.logLines.values()].sort((a, b) => b.count - a.count);
  }

  outputTail(): string {
    return this.tail.join('\n');
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`${this.label} server exited during start-up:\n${this.outputTail()}`);
      try {
        const { status, body } = await getJson(`${this.url}/ready`);
        if (status === 200) return;
        last = JSON.stringify(body);
      } catch (err) {
        last = errorMessage(err);
      }
      await sleep(200);
    }
    throw new Error(
      `${this.label} server not ready within ${timeoutMs / 1000} s (${last}):\n${this.outputTail()}`,
    );
  }

  /** Fails when the server died: a measurement against a dead server means nothing. */
  assertAlive(): void {
    if (!this.alive)
      throw new Error(`${this.label} server is not running any more (exit code ${this.exitCode})`);
  }

  private async kill(): Promise<void> {
    this.stopping = true;
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.alive) this.child.kill('SIGKILL');
    }, 12_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Graceful stop (SIGTERM; SIGKILL after 12 s). */
  async stop(): Promise<void> {
    await this.kill();
    this.unregister();
  }
}

export interface MemoryReading {
  rssKb: number;
  hwmKb: number;
}

export function readMemory(pid: number): MemoryReading | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** A process's /proc/PID/stat: its command name, and the fields after it (parent pid at 1). */
function procStat(pid: number | string): { comm: string; fields: string[] } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const close = stat.lastIndexOf(')');
  return { comm: stat.slice(stat.indexOf('(') + 1, close), fields: stat.slice(close + 2).split(' ') };
}

const USER_HZ = 100; // clock ticks per second on Linux
/** utime + stime (fields 14 and 15 of stat), and with children, cutime + cstime (16, 17). */
const ticksOf = (fields: string[], children = false) =>
  Number(fields[11]) + Number(fields[12]) + (children ? Number(fields[13]) + Number(fields[14]) : 0);

/** CPU time (user + system) a process has used so far, in seconds; NaN when unreadable. */
export function cpuSeconds(pid: number): number {
  try {
    return ticksOf(procStat(pid).fields) / USER_HZ;
  } catch {
    return NaN;
  }
}

/**
 * CPU time (user + system) the whole Postgres cluster has used so far, in seconds: the
 * postmaster, every live child (backends, WAL writer, checkpointer...) and every child that
 * has exited and been reaped (the postmaster's cutime and cstime), so that the backends of a
 * pgbench run still count once it has ended. A child reaped while the children are read would
 * be counted in neither, so the reading is taken again until the postmaster's own totals stay
 * the same across it. NaN when /proc cannot be read.
 */
export function clusterCpuSeconds(postmasterPid: number): number {
  try {
    for (;;) {
      const before = ticksOf(procStat(postmasterPid).fields, true);
      let children = 0;
      for (const entry of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          const { fields } = procStat(entry);
          if (Number(fields[1]) === postmasterPid) children += ticksOf(fields);
        } catch {
          // exited meanwhile: the postmaster's totals change once it is reaped
        }
      }
      if (ticksOf(procStat(postmasterPid).fields, true) === before) return (before + children) / USER_HZ;
    }
  } catch {
    return NaN;
  }
}

/**
 * The pid of the postmaster serving this connection, or NaN unless both it and the backend
 * are Postgres processes of this machine (a containerised or remote Postgres has its own pids).
 */
export async function postmasterPid(db: {
  query(sql: string): Promise<{ rows: Array<{ pid: number }> }>;
}): Promise<number> {
  const { pid } = (await db.query('SELECT pg_backend_pid() AS pid')).rows[0];
  try {
    const backend = procStat(pid);
    const parent = Number(backend.fields[1]);
    return backend.comm === 'postgres' && procStat(parent).comm === 'postgres' ? parent : NaN;
  } catch {
    return NaN;
  }
}

/** Samples a process's VmRSS (and the kernel's high-water mark, VmHWM) every `intervalMs` while running. */
export class RssSampler {
  private timer?: NodeJS.Timeout;
  peakKb = 0;
  /** The highest VmHWM seen: the peak RSS up to the last sample, including peaks between samples. */
  hwmKb = 0;
  samples = 0;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  start(): this {
    const sample = () => {
      const m = readMemory(this.pid);
      if (m && Number.isFinite(m.rssKb)) {
        this.samples++;
        this.peakKb = Math.max(this.peakKb, m.rssKb);
        if (Number.isFinite(m.hwmKb)) this.hwmKb = Math.max(this.hwmKb, m.hwmKb);
      }
    };
    sample();
    this.timer = setInterval(sample, this.intervalMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get peakMb(): number {
    return this.peakKb / 1024;
  }

  get highWaterMb(): number {
    return Math.max(this.peakKb, this.hwmKb) / 1024;
  }
}
