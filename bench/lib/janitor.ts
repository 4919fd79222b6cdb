/**
 * The janitor: a detached process (its own session, so Ctrl-C does not reach it) that
 * watches the bench process and, should it die without cleaning up (SIGKILL from a wrapper
 * such as the tsx CLI, the OOM killer, a crash), stops the servers and pgbench it started,
 * drops the bench database and removes its temp folders. The bench keeps the state file up
 * to date and ends the janitor itself after a normal cleanup.
 *
 *   node --import tsx bench/lib/janitor.ts <state.json>     (started by bench/run.ts)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { dropDatabase } from './pg';

export interface JanitorState {
  benchPid: number;
  database?: string;
  /** Child processes to stop, with a word their command line must contain (guards against pid reuse). */
  processes: Array<{ pid: number; mark: string }>;
  dirs: string[];
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts the janitor for this process; returns a function that updates its state and one that ends it. */
export function startJanitor(stateFile: string, initial: Omit<JanitorState, 'benchPid'>) {
  const state: JanitorState = { benchPid: process.pid, ...initial };
  const write = () => fs.writeFileSync(stateFile, JSON.stringify(state));
  write();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'janitor.ts'), stateFile], {
    cwd: path.resolve(__dirname, '..', '..'),
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  return {
    update(change: (s: JanitorState) => void) {
      change(state);
      write();
    },
    /** After a complete cleanup: nothing is left to do. */
    dismiss() {
      try {
        if (child.pid) process.kill(child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      fs.rmSync(stateFile, { force: true });
    },
  };
}

async function sweep(stateFile: string): Promise<void> {
  let state: JanitorState;
  try {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as JanitorState;
  } catch {
    return; // the bench cleaned up and removed the file
  }
  for (const { pid, mark } of state.processes) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(mark)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (state.database) {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await dropDatabase(state.database);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }
  for (const dir of state.dirs) fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(stateFile, { force: true });
}

async function watch(stateFile: string): Promise<void> {
  const { benchPid } = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as JanitorState;
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => undefined);
  while (alive(benchPid) && fs.existsSync(stateFile))
    await new Promise((resolve) => setTimeout(resolve, 500));
  await sweep(stateFile);
}

if (require.main === module) {
  watch(process.argv[2]).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}
