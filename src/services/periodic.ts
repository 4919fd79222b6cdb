/**
 * A background round that runs every `intervalMs` on each instance, one at a time, never
 * holding the process open: the rollup worker, the alert worker, the webhook sender. A round
 * that fails is logged and the next one runs as usual; stop() waits for the round in flight.
 */
import type { Logger } from '../logger';

export class Periodic {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly what: string,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly round: () => Promise<unknown>,
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.round()
        .catch((err) => this.logger.warn({ err }, `${this.what} round failed; retrying next round`))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    const timer = this.timer;
    this.timer = undefined;
    if (timer) clearTimeout(timer);
    await this.running;
  }
}
