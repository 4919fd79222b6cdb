/**
 * One instance's leases of rate-limit tokens (src/services/rateLimits.ts has the design). For
 * each bucket (a key's or project's counter of one limit) an instance holds the tokens it
 * reserved from the bucket's current window in Postgres (src/db/rateCounters.ts) and takes a
 * call's tokens from them in memory; when they run short it leases again.
 *
 * - A call takes its tokens from all its buckets at once or from none: every bucket is
 *   checked and then all are taken without an await between, so a refused call takes nothing.
 * - One lease statement in flight per bucket: callers that run short meanwhile wait for it
 *   and share what it brings (no herd of statements on a hot key).
 * - A lease's tokens are used only until the window may have ended by the database's clock:
 *   the statement's clock reading is taken as of the moment it was sent (the earliest it can
 *   have been read), so the local deadline is never later than the database's window end.
 * - Lease size: what the bucket's callers on this instance took in this or the previous window
 *   (or what is waiting now, or, within a window, as much as was leased in it so far), at most
 *   1/16 of the limit and never less than the call needs; the statement grants at most a
 *   quarter of what the window has left. A limit under 32 leases what each call needs: exact.
 * - A bucket whose window, as last read, cannot hold a call is refused here, with no
 *   statement, until the window ends (a window's count only grows).
 */
import type { Knex } from 'knex';
import { leaseTokens, type LeaseAnswer, type LeaseAsk } from '../db/rateCounters';

/** A lease is at most this fraction of the limit (so at least 1/16 of it reaches the database per lease). */
export const LEASE_FRACTION = 16;
/** Leases kept per instance; beyond, idle ones are dropped (their tokens are lost, never granted twice). */
const MAX_LEASES = 10_000;
/**
 * Rounds of leasing after which a call gives up with an error. Each round ends with tokens
 * taken, a refusal, or a lease statement that brings tokens or proves the window cannot fit
 * the call; only other callers taking the tokens first (each round shares a lease sized to
 * every waiter) or a window ending mid-statement make a call go round again. A call that still
 * goes round is a bug, and failing it beats querying the database forever.
 */
const MAX_ROUNDS = 100;

export interface BucketSpec {
  bucket: string;
  windowMs: number;
  limit: number;
}

/** The tokens a call needs from one bucket. */
export interface Need<S extends BucketSpec = BucketSpec> {
  spec: S;
  amount: number;
}

export interface Refusal<S extends BucketSpec> {
  spec: S;
  /** Whole seconds until the refusing window ends at the database (at least 1). */
  retryAfterSeconds: number;
}

/** The most tokens one lease of a bucket with this limit asks for. */
export const leaseCap = (limit: number) => Math.max(1, Math.floor(limit / LEASE_FRACTION));

class Lease {
  /** Window (database epoch ms) that `tokens` and `counted` belong to; NaN before the first lease. */
  window = NaN;
  /** performance.now() from which the window may have ended at the database: tokens unusable. */
  endsBy = -Infinity;
  /** performance.now() by which the window has ended at the database (Retry-After). */
  endsAfter = -Infinity;
  tokens = 0;
  /** The window's count at the database after our last lease: its true count is at least this. */
  counted = 0;
  /** Tokens leased and taken in `window`, and taken in the window before it (demand). */
  leased = 0;
  taken = 0;
  takenBefore = 0;
  /** Tokens that callers waiting for a lease of this bucket need. */
  waiting = 0;
  inFlight: Promise<void> | null = null;

  current(now: number): boolean {
    return now < this.endsBy;
  }

  holds(amount: number, now: number): boolean {
    return this.current(now) && this.tokens >= amount;
  }

  /** True when this window, as last read, cannot give `amount` more: refuse without a statement. */
  cannotFit(amount: number, limit: number, now: number): boolean {
    return this.current(now) && amount > this.tokens + Math.max(0, limit - this.counted);
  }

  /** Tokens to ask for when a call needs `need` more (see the header). */
  size(spec: BucketSpec, need: number, now: number): number {
    const recent = now < this.endsAfter + spec.windowMs;
    const demand = Math.max(this.waiting, recent ? Math.max(this.leased, this.taken, this.takenBefore) : 0);
    return Math.max(need, Math.min(leaseCap(spec.limit), demand));
  }

  apply(answer: LeaseAnswer, windowMs: number, sentAt: number, receivedAt: number): void {
    if (answer.windowStart !== this.window) {
      this.takenBefore = answer.windowStart === this.window + windowMs ? this.taken : 0;
      this.window = answer.windowStart;
      this.tokens = 0;
      this.leased = 0;
      this.taken = 0;
    }
    this.tokens += answer.granted;
    this.leased += answer.granted;
    this.counted = answer.count;
    const left = answer.windowStart + windowMs - answer.nowMs;
    this.endsBy = sentAt + left;
    this.endsAfter = receivedAt + left;
  }
}

export class TokenLeases {
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly db: Knex) {}

  /**
   * Takes every need's tokens, or none and answers which bucket refused. `extras` are other
   * buckets of the same caller that a lease statement of this call also renews when they are
   * in use and have run out (the request and logs limits of a logging call in one statement);
   * only buckets whose leases exceed one token, so small limits stay exact.
   */
  async admit<S extends BucketSpec>(
    needs: Array<Need<S>>,
    extras: BucketSpec[] = [],
  ): Promise<Refusal<S> | null> {
    // The leases this call waits for, each with what it needs: a lease starting is sized to
    // every caller still waiting, not only to the one that starts it.
    const waitingFor = new Map<Lease, number>();
    try {
      for (let round = 0; ; round++) {
        if (round === MAX_ROUNDS) throw new Error(`no rate-limit lease settled in ${MAX_ROUNDS} rounds`);
        const now = performance.now();
        const leases = needs.map((n) => this.leaseOf(n.spec.bucket));
        const full = needs.findIndex((n, i) => leases[i].cannotFit(n.amount, n.spec.limit, now));
        if (full >= 0) {
          const retry = Math.ceil((leases[full].endsAfter - now) / 1000);
          return { spec: needs[full].spec, retryAfterSeconds: Math.max(1, retry) };
        }
        const short = needs.filter((n, i) => !leases[i].holds(n.amount, now));
        if (short.length === 0) {
          needs.forEach((n, i) => {
            leases[i].tokens -= n.amount;
            leases[i].taken += n.amount;
          });
          return null;
        }
        for (const n of short) {
          const lease = this.leaseOf(n.spec.bucket);
          if (waitingFor.has(lease)) continue;
          waitingFor.set(lease, n.amount);
          lease.waiting += n.amount;
        }
        await this.renew(short, extras, now);
      }
    } finally {
      for (const [lease, amount] of waitingFor) lease.waiting -= amount;
    }
  }

  /** Waits for a lease of every short bucket: the one in flight, or one statement for the rest. */
  private async renew(short: Need[], extras: BucketSpec[], now: number): Promise<void> {
    const waits: Array<Promise<void>> = [];
    const asks: LeaseAsk[] = [];
    const specs = new Map<string, BucketSpec>();
    for (const n of short) {
      const lease = this.leaseOf(n.spec.bucket);
      if (lease.inFlight) {
        waits.push(lease.inFlight);
        continue;
      }
      const need = Math.max(1, n.amount - (lease.current(now) ? lease.tokens : 0));
      asks.push({ ...n.spec, want: lease.size(n.spec, need, now), need });
      specs.set(n.spec.bucket, n.spec);
    }
    if (asks.length > 0) {
      for (const spec of extras) {
        const lease = this.leases.get(spec.bucket);
        if (!lease || specs.has(spec.bucket) || !this.worthRenewing(lease, spec, now)) continue;
        asks.push({ ...spec, want: lease.size(spec, 1, now), need: 1 });
        specs.set(spec.bucket, spec);
      }
      waits.push(this.lease(asks, specs));
    }
    await Promise.all(waits);
  }

  /** An extra bucket rides along when its leases exceed one token, it is in use and it ran out. */
  private worthRenewing(lease: Lease, spec: BucketSpec, now: number): boolean {
    if (spec.limit <= 0 || leaseCap(spec.limit) <= 1 || lease.inFlight) return false;
    if (lease.taken + lease.takenBefore === 0 || now >= lease.endsAfter + spec.windowMs) return false;
    return !lease.current(now) || (lease.tokens === 0 && lease.counted < spec.limit);
  }

  /** One statement for these asks; its promise is every asked bucket's lease in flight. */
  private lease(asks: LeaseAsk[], specs: Map<string, BucketSpec>): Promise<void> {
    const leases = asks.map((a) => this.leaseOf(a.bucket));
    const sentAt = performance.now();
    const run = async () => {
      try {
        const answers = await leaseTokens(this.db, asks);
        const receivedAt = performance.now();
        for (const answer of answers) {
          this.leaseOf(answer.bucket).apply(answer, specs.get(answer.bucket)!.windowMs, sentAt, receivedAt);
        }
      } finally {
        for (const lease of leases) lease.inFlight = null;
      }
    };
    const inFlight = run();
    for (const lease of leases) lease.inFlight = inFlight;
    return inFlight;
  }

  private leaseOf(bucket: string): Lease {
    let lease = this.leases.get(bucket);
    if (!lease) {
      if (this.leases.size >= MAX_LEASES) this.dropIdle();
      lease = new Lease();
      this.leases.set(bucket, lease);
    }
    return lease;
  }

  /** Drops the leases nobody waits for whose windows are over (or all such, when none is over). */
  private dropIdle(): void {
    const now = performance.now();
    const idle = [...this.leases].filter(([, l]) => !l.inFlight && l.waiting === 0);
    const over = idle.filter(([, l]) => !l.current(now));
    for (const [bucket] of over.length > 0 ? over : idle) this.leases.delete(bucket);
  }
}
