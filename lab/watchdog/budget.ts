/**
 * The re-verification budget: a read-rate limit shared by every verification
 * (fed by lab/verity's `beforeRead` hook, which is called before each chunk
 * is read) and a cap on verifications running at once.
 *
 * The rate limit is the generic cell rate algorithm (ITU-T I.371, the
 * "virtual scheduling" form): each read of n bytes moves a theoretical
 * arrival time forward by n / rate, and a read waits until the previous
 * reads' arrival time has come. Over any window W the bytes read are at most
 * rate × W plus one chunk, which is what the budget promises and what
 * bench/watchdog.ts measures.
 */
import { watchdogError } from './errors.ts';

export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realTimer: Timer = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export class ReadBudget {
  readonly bytesPerMs: number;
  readonly #timer: Timer;
  #tat = -Infinity;
  /** Bytes granted so far and milliseconds spent waiting, for the status file. */
  granted = 0;
  waitedMs = 0;

  constructor(maxReadMBps: number, timer: Timer = realTimer) {
    if (!(maxReadMBps > 0) || !Number.isFinite(maxReadMBps)) {
      throw watchdogError('WATCHDOG_BUDGET_INVALID', `read budget: expected a positive number of MB/s, got ${maxReadMBps}`);
    }
    this.bytesPerMs = (maxReadMBps * 1_000_000) / 1000;
    this.#timer = timer;
  }

  /** Waits until `bytes` may be read without exceeding the rate. */
  async acquire(bytes: number): Promise<void> {
    const now = this.#timer.now();
    const start = Math.max(this.#tat, now);
    this.#tat = start + bytes / this.bytesPerMs;
    this.granted += bytes;
    if (start > now) {
      this.waitedMs += start - now;
      await this.#timer.sleep(start - now);
    }
  }

  /** A `beforeRead` hook for lab/verity. */
  get beforeRead(): (bytes: number) => Promise<void> {
    return (bytes) => this.acquire(bytes);
  }
}

/** At most `limit` holders at once; the others wait in order. */
export class Semaphore {
  readonly limit: number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw watchdogError('WATCHDOG_BUDGET_INVALID', `parallel verifications: expected an integer ≥ 1, got ${limit}`);
    this.limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#held >= this.limit) await new Promise<void>((r) => this.#waiting.push(r));
    else this.#held++;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#held--;
    }
  }
}
