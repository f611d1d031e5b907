/**
 * The machine's busy CPU time, for benchmarks that measure what a piece of
 * work costs the whole machine (the harness, dockerd, containerd and every
 * container together), not only the process that asks for it.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/stat and /proc/<pid>/stat count in 1/100 s. */
export const CLOCK_TICKS = 100;

/** Busy CPU seconds of the whole machine since boot: everything but idle and iowait. */
export function machineBusySeconds(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}
