/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, for T1525 and
 * T1565.001): root on the node stops the mount watchdog with SIGSTOP
 * instead of killing it, then edits a layer file of a running protected
 * container in place. The watchdog's process is still there, with its pid
 * and start time, but does no work: a liveness check that only asks
 * whether the process exists is fooled.
 *
 * What must catch it: the audit daemon, which takes a stopped watchdog
 * (state T, or t under a tracer) for one that does not run
 * (lab/audit/node/defence-liveness.ts) and names the containers left
 * unwatched. The watchdog stays stopped; the lab's teardown kills it.
 */
import type { Technique } from '../technique.ts';
import { signalling, tamperWithoutWatchdog } from './watchdog-kill.ts';

export const watchdogFreeze: Technique = {
  name: 'watchdog-freeze',
  run: (ctx) => tamperWithoutWatchdog(ctx, signalling('STOP', 'stopped')),
};
