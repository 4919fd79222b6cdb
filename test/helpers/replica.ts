/**
 * A real streaming replica on this machine, for the read-replica tests: a primary cluster of
 * its own (initdb on a free port, so the machine's cluster and its pg_hba stay untouched) and a
 * replica made from it with pg_basebackup, streaming from it. Both run as the postgres OS
 * user (Postgres refuses root), with sockets and data in a temporary folder, and are stopped
 * and removed by stop().
 *
 * `replicaUnavailable()` says why this cannot be done here (no Postgres binaries, no postgres
 * user), so a test can skip with that message.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const versions = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (['initdb', 'pg_ctl', 'pg_basebackup'].every((b) => fs.existsSync(path.join(dir, b)))) return dir;
  }
  return null;
}

function postgresUser(): { uid: number; gid: number } | null {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout), gid: Number(g.stdout) } : null;
}

/** Why a replica cannot be set up here, or null when it can. */
export function replicaUnavailable(): string | null {
  if (!binDir())
    return 'no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) under /usr/lib/postgresql';
  if (!postgresUser()) return 'no postgres OS user to run the clusters as';
  if (process.getuid?.() !== 0 && os.userInfo().username !== 'postgres') {
    return 'the tests run neither as root nor as postgres, so they cannot start clusters as postgres';
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ReplicaPair {
  /** postgres:// URLs of a database that exists on both (created on the primary, replicated). */
  primaryUrl: string;
  replicaUrl: string;
  /** Runs SQL on the primary or the replica as the superuser, returning the first column of the first row. */
  sql(on: 'primary' | 'replica', statement: string): string;
  stop(): Promise<void>;
}

export async function startReplicaPair(database = 'llmring_replica_test'): Promise<ReplicaPair> {
  const bin = binDir()!;
  const user = postgresUser()!;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-replica-'));
  fs.chownSync(root, user.uid, user.gid);
  const asPostgres = (cmd: string, args: string[]) => {
    const full = path.join(bin, cmd);
    const [file, argv] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, args];
    return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  };
  const primaryDir = path.join(root, 'primary');
  const replicaDir = path.join(root, 'replica');
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const started: string[] = [];
  const stop = async () => {
    for (const dir of started.reverse()) {
      try {
        asPostgres('pg_ctl', ['-D', dir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  try {
    asPostgres('initdb', ['-D', primaryDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    fs.appendFileSync(
      path.join(primaryDir, 'postgresql.conf'),
      `\nport = ${primaryPort}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${root}'\n` +
        `wal_level = replica\nmax_wal_senders = 4\nfsync = off\nautovacuum = off\n`,
    );
    fs.appendFileSync(
      path.join(primaryDir, 'pg_hba.conf'),
      '\nhost replication postgres 127.0.0.1/32 trust\n',
    );
    asPostgres('pg_ctl', ['-D', primaryDir, '-l', path.join(root, 'primary.log'), '-w', 'start']);
    started.push(primaryDir);
    asPostgres('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(primaryPort),
      '-U',
      'postgres',
      '-D',
      replicaDir,
      '-R',
      '-X',
      'stream',
    ]);
    fs.appendFileSync(
      path.join(replicaDir, 'postgresql.conf'),
      `\nport = ${replicaPort}\nhot_standby = on\n`,
    );
    asPostgres('pg_ctl', ['-D', replicaDir, '-l', path.join(root, 'replica.log'), '-w', 'start']);
    started.push(replicaDir);
    const sql = (on: 'primary' | 'replica', statement: string, db = database) =>
      asPostgres('psql', [
        '-h',
        '127.0.0.1',
        '-p',
        String(on === 'primary' ? primaryPort : replicaPort),
        '-U',
        'postgres',
        '-d',
        db,
        '-tAqc',
        statement,
      ]).trim();
    sql('primary', `CREATE DATABASE ${database}`, 'postgres');
    return {
      primaryUrl: `postgres://postgres@127.0.0.1:${primaryPort}/${database}`,
      replicaUrl: `postgres://postgres@127.0.0.1:${replicaPort}/${database}`,
      sql: (on, statement) => sql(on, statement),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
