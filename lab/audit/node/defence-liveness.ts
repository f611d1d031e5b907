/**
 * Whether the node's mount watchdog still runs, seen from the audit
 * sidecar (T1562.001 Impair Defenses: disable or modify tools).
 *
 * The watchdog is the only defence that reports what happens inside
 * running containers after they started: overmounts, layer files edited in
 * place. Root on the node who kills it (or stops it, or lets it crash)
 * leaves every container unwatched, and nothing would say so: the gates
 * and the admission webhook fail closed when they are gone, the watchdog
 * fails silent. The audit daemon runs outside the node (its own container,
 * in the host's PID namespace), so it can watch the watchdog's process
 * from where root on the node cannot reach it.
 *
 * It latches on the first process of the node's PID namespace that runs
 * the watchdog (`node <daemon file> <configuration>`, exactly: not the
 * `--pin` run at lab start), by host pid and start time (a
 * pid reused by another process has another start time), and reports once
 * when that process is gone or does no work (killed, stopped by SIGSTOP,
 * held by a tracer, or frozen by the cgroup freezer), for whatever reason;
 * then it latches on the next one
 * that runs (the same process once it is let go on). A decoy with the same command line started after the
 * kill does not undo the report. The first watchdog is taken to be the
 * lab's own: the lab starts it before any scenario acts.
 *
 * Pure over the ProcReader; the daemon raises the alert.
 */
import type { ProcReader } from './procfs.ts';

/** The watchdog process latched on. */
export interface WatchedProcess {
  hostPid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): with the pid, one process. */
  startTime: string;
  /** Its command line, arguments joined by spaces. */
  cmdline: string;
}

/** Field 22 of a /proc/<pid>/stat text, or undefined; the command name (field 2) may hold spaces and parentheses. */
export function startTimeOf(stat: string | undefined): string | undefined {
  if (stat === undefined) return undefined;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field 22 is rest[19].
  return rest[19];
}

/** Field 3 of a /proc/<pid>/stat text (R, S, D, Z, …), or undefined. */
function stateOf(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/**
 * States of a process that does no work: a zombie (Z, killed and not yet
 * reaped: its parent, the node's init, may reap it late), dead (X), and
 * stopped (T, SIGSTOP; t, stopped by a tracer that does not let it go on).
 */
const NOT_RUNNING = new Set(['Z', 'X', 'T', 't']);

/**
 * Where a task frozen by the cgroup freezer waits, as /proc/<pid>/task/<tid>/wchan
 * names it: `__refrigerator` under cgroup v1 (its state reads D), and under
 * v2 `do_freezer_trap`, which kernel 6.18 inlines into `get_signal` (its
 * state reads S; measured here). A task stopped by a signal or a tracer
 * also waits in get_signal, but reads T or t, taken above. Since Linux 6.1
 * a frozen task has no state letter of its own and no flag in
 * /proc/<pid>/stat, so where it sleeps is the only sign; reading it needs
 * ptrace access, which the daemon has (SYS_PTRACE).
 */
const FREEZER_WAITS = new Set(['__refrigerator', 'do_freezer_trap', 'get_signal']);

/** Whether `p` is still the process latched on, and running. */
export function stillRunning(proc: ProcReader, p: WatchedProcess): boolean {
  return whyNotRunning(proc, p) === undefined;
}

/**
 * Why `p` does not run any more (its process is gone, killed, stopped,
 * frozen, …), or undefined while it runs. Every thread is read, not only
 * the first: root may stop or freeze one thread (a v1 cgroup's `tasks`
 * takes thread ids), and the watchdog's event loop or the threads its file
 * reads wait on are enough to stall it.
 */
export function whyNotRunning(proc: ProcReader, p: WatchedProcess): string | undefined {
  const stat = proc.readText(`/proc/${p.hostPid}/stat`);
  if (stat === undefined || startTimeOf(stat) !== p.startTime) return 'its process is gone';
  const state = stateOf(stat) ?? '';
  if (NOT_RUNNING.has(state)) return { Z: 'killed, a zombie not yet reaped', X: 'dead', T: 'stopped by SIGSTOP', t: 'held stopped by a tracer' }[state];
  for (const tid of proc.tasks(p.hostPid)) {
    const task = `/proc/${p.hostPid}/task/${tid}`;
    const threadState = stateOf(proc.readText(`${task}/stat`) ?? '');
    if (threadState === 'T' || threadState === 't') return `its thread ${tid} is ${threadState === 'T' ? 'stopped' : 'held stopped by a tracer'}`;
    const wchan = proc.readText(`${task}/wchan`)?.trim();
    if (wchan !== undefined && FREEZER_WAITS.has(wchan)) return `frozen by the cgroup freezer (its thread ${tid} waits in ${wchan})`;
  }
  return undefined;
}

/**
 * The process of the node's PID namespace (the namespace of `nodePid`, the
 * node's init in the host's) that runs `node` with exactly `args`; the
 * oldest when there are several.
 */
export function findDaemon(proc: ProcReader, nodePid: number, args: readonly string[]): WatchedProcess | undefined {
  const nodeNamespace = proc.readLink(`/proc/${nodePid}/ns/pid`);
  if (nodeNamespace === undefined) return undefined;
  let found: WatchedProcess | undefined;
  for (const pid of proc.pids()) {
    // cmdline ends with a NUL: the last element of the split is empty.
    const argv = proc.readText(`/proc/${pid}/cmdline`)?.split('\0').slice(0, -1);
    if (!argv || argv.length !== args.length + 1 || !/(^|\/)node$/.test(argv[0]!) || args.some((a, i) => argv[i + 1] !== a)) continue;
    if (proc.readLink(`/proc/${pid}/ns/pid`) !== nodeNamespace) continue;
    const startTime = startTimeOf(proc.readText(`/proc/${pid}/stat`));
    if (startTime === undefined) continue;
    const candidate = { hostPid: pid, startTime, cmdline: argv.join(' ') };
    if (whyNotRunning(proc, candidate) !== undefined) continue;
    if (found === undefined || Number(startTime) < Number(found.startTime)) found = candidate;
  }
  return found;
}
