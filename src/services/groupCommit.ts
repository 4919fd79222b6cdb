/**
 * Group commit for ingest: the calls that arrive while earlier statements are still running
 * travel together in the next statement, so that 64 concurrent logUsage calls cost a few
 * multi-row INSERTs and commits instead of 64. A call never waits for a timer: with a
 * statement slot free it is sent on the next turn of the event loop, so a lone client sees no
 * added latency; batches form only while the database is busy.
 *
 * Each submitted unit (one logUsage call, or one logUsageBatch) is all-or-nothing and is never
 * split. When a shared statement fails with an error that Postgres reported for it (so it was
 * rolled back and stored nothing), each unit is retried in a statement of its own, so that one
 * bad unit fails alone. The retries queue like any call, ahead of the calls that came later,
 * after a short randomised pause: they respect the limit of statements in flight, so a failed
 * statement of 1,000 calls never becomes 1,000 statements at once. Any other failure (a lost
 * connection, where the commit may or may not have happened) fails every unit in it without a
 * retry: a retry could store a log twice.
 */

export interface GroupCommitOptions<Item, Result> {
  /** Runs one statement for the items of several units, in submission order. */
  run: (items: Item[]) => Promise<Result>;
  /** Statements in flight at once; more calls wait and join the next statement. */
  maxInFlight: number;
  /** Items one statement carries at most (a larger single unit still goes alone). */
  maxItems: number;
  /** Longest pause before a unit is retried alone (randomised from half of it); default 10 ms. */
  retryDelayMs?: number;
}

interface Unit<Item, Result> {
  items: Item[];
  resolve: (result: Result) => void;
  reject: (err: unknown) => void;
  /** Retried after its shared statement failed: goes in a statement of its own, once. */
  alone?: boolean;
}

/** SQLSTATE classes after which the statement's outcome is unknown or a retry cannot help. */
const NO_RETRY_CLASSES = new Set(['08', '53', '57', '58', 'XX']);

/** True when Postgres itself answered the statement with an error, so nothing of it was stored. */
export function rolledBackByServer(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !NO_RETRY_CLASSES.has(code.slice(0, 2));
}

export class GroupCommit<Item, Result> {
  private queue: Array<Unit<Item, Result>> = [];
  private inFlight = 0;
  private scheduled = false;
  private unsettled = 0;

  constructor(private readonly options: GroupCommitOptions<Item, Result>) {}

  /** Stores `items` as one unit; resolves with the result of the statement that carried them. */
  submit(items: Item[]): Promise<Result> {
    this.unsettled++;
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.schedule();
    }).finally(() => {
      this.unsettled--;
    });
  }

  /** Units submitted and not yet stored or failed: waiting for a slot or in a statement. */
  get pending(): number {
    return this.unsettled;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // setImmediate, not a microtask: requests parsed in the same turn of the loop join in.
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
        void this.flush(this.take());
      }
    });
  }

  private take(): Array<Unit<Item, Result>> {
    const units = [this.queue.shift()!];
    if (units[0].alone) return units;
    let count = units[0].items.length;
    while (
      this.queue.length > 0 &&
      !this.queue[0].alone &&
      count + this.queue[0].items.length <= this.options.maxItems
    ) {
      const unit = this.queue.shift()!;
      count += unit.items.length;
      units.push(unit);
    }
    return units;
  }

  /** Puts the units back at the head of the queue, each to go alone, after a short pause. */
  private retryAlone(units: Array<Unit<Item, Result>>): void {
    const longest = this.options.retryDelayMs ?? 10;
    setTimeout(
      () => {
        this.queue.unshift(...units.map((u) => ({ ...u, alone: true })));
        this.schedule();
      },
      longest / 2 + Math.random() * (longest / 2),
    );
  }

  private async flush(units: Array<Unit<Item, Result>>): Promise<void> {
    this.inFlight++;
    try {
      try {
        const result = await this.options.run(units.flatMap((u) => u.items));
        for (const u of units) u.resolve(result);
      } catch (err) {
        if (units.length === 1 || !rolledBackByServer(err)) {
          for (const u of units) u.reject(err);
          return;
        }
        this.retryAlone(units);
      }
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}
