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
 * held by a tracer, or frozen by the cgroup freezer), for whatever reason,
 * or when it is set up to be starved (a thread moved to another cgroup, where
 * a CPU limit or a freezer stops it; made nicer; put in SCHED_IDLE); then it
 * latches on the next one
 * that runs (the same process once it is let go on). A decoy with the same command line started after the
 * kill does not undo the report. The first watchdog is taken to be the
 * lab's own: the lab starts it before any scenario acts.
 *
 * Pure over the ProcReader; the daemon raises the alert.
 */
import { parseStat, type ProcReader } from './procfs.ts';

/** The watchdog process latched on, and how it ran then. */
export interface WatchedProcess {
  hostPid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): with the pid, one process. */
  startTime: string;
  /** Its command line, arguments joined by spaces. */
  cmdline: string;
  /** Its /proc/<pid>/cgroup when latched on: its threads must stay there. */
  cgroup?: string;
  /** Its nice value when latched on: its threads must not be made nicer. */
  nice?: number;
}

/** Field 22 of a /proc/<pid>/stat text, or undefined; the command name (field 2) may hold spaces and parentheses. */
export function startTimeOf(stat: string | undefined): string | undefined {
  return stat === undefined ? undefined : parseStat(stat)?.startTime;
}

/** SCHED_IDLE (sched(7)): runs only when nothing else on its CPU wants to. */
const SCHED_IDLE = 5;

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
 * frozen, …) or may be starved (moved out of its cgroup, made nicer, put in
 * SCHED_IDLE), or undefined while it runs as it did when latched on. Every
 * thread is read, not only the first: root may move, stop or freeze one
 * thread (a v1 cgroup's `tasks` takes thread ids), and the watchdog's event
 * loop or the threads its file reads wait on are enough to stall it. Not
 * seen: a CPU limit on the node's own cgroup (it slows every process of the
 * node alike, the attacker's and containerd's too), nor busy processes that
 * merely share the watchdog's priority.
 */
export function whyNotRunning(proc: ProcReader, p: WatchedProcess): string | undefined {
  const stat = parseStat(proc.readText(`/proc/${p.hostPid}/stat`) ?? '');
  if (stat === undefined || stat.startTime !== p.startTime) return 'its process is gone';
  if (NOT_RUNNING.has(stat.state)) return { Z: 'killed, a zombie not yet reaped', X: 'dead', T: 'stopped by SIGSTOP', t: 'held stopped by a tracer' }[stat.state];
  for (const tid of proc.tasks(p.hostPid)) {
    const task = `/proc/${p.hostPid}/task/${tid}`;
    const thread = parseStat(proc.readText(`${task}/stat`) ?? '');
    if (thread === undefined) continue; // the thread ended
    if (thread.state === 'T' || thread.state === 't') return `its thread ${tid} is ${thread.state === 'T' ? 'stopped' : 'held stopped by a tracer'}`;
    const wchan = proc.readText(`${task}/wchan`)?.trim();
    if (wchan !== undefined && FREEZER_WAITS.has(wchan)) return `frozen by the cgroup freezer (its thread ${tid} waits in ${wchan})`;
    const cgroup = proc.readText(`${task}/cgroup`);
    if (p.cgroup !== undefined && cgroup !== undefined && cgroup !== p.cgroup) return `its thread ${tid} was moved to another cgroup (${movedLines(p.cgroup, cgroup)}): a CPU limit or a freezer there stops it`;
    if (p.nice !== undefined && thread.nice !== undefined && thread.nice > p.nice) return `its thread ${tid} was made nicer (${p.nice} to ${thread.nice}): busy processes of the node starve it`;
    if (thread.policy === SCHED_IDLE) return `its thread ${tid} was put in SCHED_IDLE: busy processes of the node starve it`;
  }
  return undefined;
}

/** The cgroup lines that differ, as `old → new`. */
function movedLines(before: string, now: string): string {
  const was = new Set(before.split('\n').filter(Boolean));
  return now.split('\n').filter((l) => l && !was.has(l)).map((l) => {
    const hierarchy = l.slice(0, l.indexOf(':', l.indexOf(':') + 1) + 1);
    const old = [...was].find((w) => w.startsWith(hierarchy));
    return `${old ?? '(none)'} → ${l}`;
  }).join('; ');
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
    const stat = parseStat(proc.readText(`/proc/${pid}/stat`) ?? '');
    const startTime = stat?.startTime;
    if (startTime === undefined) continue;
    const candidate: WatchedProcess = { hostPid: pid, startTime, cmdline: argv.join(' ') };
    const cgroup = proc.readText(`/proc/${pid}/cgroup`);
    if (cgroup !== undefined) candidate.cgroup = cgroup;
    if (stat?.nice !== undefined) candidate.nice = stat.nice;
    if (whyNotRunning(proc, candidate) !== undefined) continue;
    if (found === undefined || Number(startTime) < Number(found.startTime)) found = candidate;
  }
  return found;
}
