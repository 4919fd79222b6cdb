/**
 * Everything the bench must undo (child processes, the bench database, temp folders), undone in
 * reverse order exactly once: at the end, on failure, and on SIGINT/SIGTERM.
 */
import { errorMessage, progress } from './log';

interface Step {
  name: string;
  fn: () => Promise<void> | void;
}

export class Cleanup {
  private readonly steps = new Map<number, Step>();
  private next = 0;
  private running?: Promise<void>;

  /** Registers an undo step; the returned function unregisters it (after undoing it yourself). */
  add(name: string, fn: () => Promise<void> | void): () => void {
    if (this.running) {
      // Cleaning up already (interrupted): undo this at once rather than leave it behind.
      void Promise.resolve()
        .then(fn)
        .catch((err) => progress(`cleanup: ${name} failed: ${errorMessage(err)}`));
      return () => undefined;
    }
    const id = this.next++;
    this.steps.set(id, { name, fn });
    return () => {
      this.steps.delete(id);
    };
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      const steps = [...this.steps.entries()].sort((a, b) => b[0] - a[0]);
      this.steps.clear();
      for (const [, step] of steps) {
        try {
          await step.fn();
        } catch (err) {
          progress(`cleanup: ${step.name} failed: ${errorMessage(err)}`);
        }
      }
    })();
    return this.running;
  }
}
