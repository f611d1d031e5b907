/**
 * Bounded waits, in one place: a probe is called until its value is what the
 * caller waits for, or the time is up. The caller names what it waited for
 * in its own error (`CRI on node-x not ready after 30000 ms: …`), with the
 * last value or error `poll` hands back; grace periods (wait for alerts, at
 * most so long) use the last value as their answer.
 */
import type { Exec } from './exec.ts';

export interface PollOptions {
  /** Give up once this many milliseconds have passed since the first probe. */
  timeoutMs: number;
  /** Pause between probes. Default 200 ms. */
  intervalMs?: number;
  /** A probe that throws counts as "not yet" (a service still starting) instead of ending the wait. Default false. */
  retryOnError?: boolean;
}

/** How a wait ended: `ok` with the value that satisfied it, or the last value (or error) seen when time ran out. */
export type Polled<T> = { ok: true; value: T; elapsedMs: number } | { ok: false; value?: T; error?: unknown; elapsedMs: number };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `probe` until `done(value)` holds or `timeoutMs` passed, at least
 * once. With `retryOnError`, a probe that throws counts as not done and its
 * error is kept (the last one is returned, so that "not ready" can say why);
 * otherwise the error ends the wait.
 */
export async function poll<T>(probe: () => Promise<T>, done: (value: T) => boolean, options: PollOptions): Promise<Polled<T>> {
  const started = Date.now();
  const interval = options.intervalMs ?? 200;
  let last: Polled<T> = { ok: false, elapsedMs: 0 };
  for (;;) {
    try {
      const value = await probe();
      if (done(value)) return { ok: true, value, elapsedMs: Date.now() - started };
      last = { ok: false, value, elapsedMs: 0 };
    } catch (error) {
      if (!options.retryOnError) throw error;
      last = { ok: false, error, elapsedMs: 0 };
    }
    const elapsedMs = Date.now() - started;
    if (elapsedMs >= options.timeoutMs) return { ...last, elapsedMs };
    await sleep(interval);
  }
}

/**
 * The same kind of wait, run where the condition is: one shell (in a lab
 * node, through its Exec) tests `condition` every `intervalMs` until it
 * holds or about `timeoutMs` passed. One command through `docker exec`
 * costs about 35 ms of the machine's CPU (docs/benchmarks.md), so probing
 * a node from the host every 100 ms keeps a third of a core busy; this
 * costs one. `condition` is shell, written by the caller, never from input.
 */
export async function waitInShell(exec: Exec, condition: string, options: { timeoutMs: number; intervalMs?: number }): Promise<{ ok: boolean; elapsedMs: number }> {
  const interval = options.intervalMs ?? 50;
  const tries = Math.max(1, Math.ceil(options.timeoutMs / interval));
  // Bounded by the clock too: on a loaded machine each test and sleep take
  // longer than their share, and `tries` alone would outlast the timeout.
  const seconds = Math.max(1, Math.ceil(options.timeoutMs / 1000));
  const script = `n=0; end=$(( $(date +%s) + ${seconds} )); while ! { ${condition} ; } >/dev/null 2>&1; do n=$((n+1)); [ "$n" -ge ${tries} ] && exit 124; [ "$(date +%s)" -ge "$end" ] && exit 124; sleep ${(interval / 1000).toFixed(3)}; done`;
  const started = Date.now();
  const r = await exec.run(['sh', '-c', script], { timeoutMs: options.timeoutMs + 10_000 });
  return { ok: r.exitCode === 0, elapsedMs: Date.now() - started };
}
