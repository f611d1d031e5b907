/**
 * Which lab container a process belongs to, and its ancestry, from /proc
 * (proc(5): /proc/<pid>/cgroup, stat, cmdline, exe) as seen from the host
 * PID namespace.
 *
 * Audit records carry no container id (FACTS.md). A container process of
 * the lab lives in the cgroup `…/docker/<node container id>/k8s.io/<container
 * id>` (cgroupfs driver; measured) or `…/docker-<node id>.scope/…` with the
 * systemd driver; a process of the node itself (containerd, runc, a `docker
 * exec` into the node) stops at the node's cgroup. Anything else is not
 * this lab's and is dropped.
 *
 * Trust boundary: /proc contents of container processes are under the
 * workload's control (comm, cmdline); they are copied into fields, never
 * interpreted. The cgroup path is set by the runtime, not the workload.
 */
import type { ProcessInfo } from '../context.ts';

/** Reads /proc; injected so tests run on fixtures. Both return undefined when the process is gone. */
export interface ProcReader {
  readText(path: string): string | undefined;
  readLink(path: string): string | undefined;
  /** Numeric entries of /proc. */
  pids(): number[];
  /** The threads of a process: numeric entries of /proc/<pid>/task (none when it is gone). */
  tasks(pid: number): number[];
}

/** Where a process runs, relative to one lab node. */
export type ProcessScope =
  | { scope: 'container'; containerId: string }
  /** In the node but in no container: containerd, runc, a shell on the node (Falco's container.id=host). */
  | { scope: 'node' }
  /** Not in this lab. */
  | { scope: 'outside' };

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Places a process by its cgroup file. `nodeContainerId` is the node's
 * Docker container id (64 hex). Lines are `hierarchy:controllers:path`.
 * Any line that puts the process in a container below the node decides:
 * runc moves exec'd processes only into the hierarchies it manages, so
 * other lines (v1 misc, the v2 line of a hybrid host) still show the node
 * (measured: a CRI exec shows `0::/docker/<node id>` next to
 * `8:pids:/docker/<node id>/k8s.io/<container id>`).
 */
export function scopeFromCgroup(cgroupText: string, nodeContainerId: string): ProcessScope {
  let inNode = false;
  for (const line of cgroupText.split('\n')) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const segments = line.slice(second + 1).split('/');
    const at = segments.findIndex((s) => s === nodeContainerId || s === `docker-${nodeContainerId}.scope`);
    if (at < 0) continue;
    inNode = true;
    for (let i = segments.length - 1; i > at; i--) {
      const id = containerIdOf(segments[i]!);
      if (id) return { scope: 'container', containerId: id };
    }
  }
  return inNode ? { scope: 'node' } : { scope: 'outside' };
}

/** `<64 hex>`, `cri-containerd-<64 hex>.scope` or `docker-<64 hex>.scope` → the id. */
function containerIdOf(segment: string): string | undefined {
  if (HEX64.test(segment)) return segment;
  const m = /^(?:cri-containerd|docker|crio)-([0-9a-f]{64})\.scope$/.exec(segment);
  return m?.[1];
}

/** The task is exiting (include/linux/sched.h): set in do_exit, before its cgroups are left, never cleared. */
const PF_EXITING = 0x4;

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  /** Field 9, when the line has it. */
  flags?: number;
  /** Field 22, clock ticks since boot, when the line has it: with the pid, it names one process. */
  startTime?: string;
  /** Field 19, the nice value (-20 to 19), when the line has it. */
  nice?: number;
  /** Field 41, the scheduling policy (0 normal, 3 batch, 5 idle, …), when the line has it. */
  policy?: number;
}

/**
 * /proc/<pid>/stat (proc(5)): comm is between the first '(' and the last
 * ')', since comm may hold both; then the state letter (field 3), the
 * parent's pid (4), the flags (9), the nice value (19), the start time (22)
 * and the scheduling policy (41).
 */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  if (!Number.isInteger(ppid)) return undefined;
  const stat: ProcStat = { comm: text.slice(open + 1, close), state: rest[0] ?? '', ppid };
  const flags = Number(rest[6]);
  if (rest[6] !== undefined && Number.isInteger(flags)) stat.flags = flags;
  if (rest[19] !== undefined && /^\d+$/.test(rest[19])) stat.startTime = rest[19];
  if (rest[16] !== undefined && /^-?\d+$/.test(rest[16])) stat.nice = Number(rest[16]);
  if (rest[38] !== undefined && /^\d+$/.test(rest[38])) stat.policy = Number(rest[38]);
  return stat;
}

function parseStatOf(proc: ProcReader, pid: number): ProcStat | undefined {
  const text = proc.readText(`/proc/${pid}/stat`);
  return text === undefined ? undefined : parseStat(text);
}

/** Whether a process in this state still says where it runs: not a zombie, not dead, not exiting. */
function placeable(stat: ProcStat | undefined): stat is ProcStat {
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X' && ((stat.flags ?? 0) & PF_EXITING) === 0;
}

/** /proc/<pid>/cmdline: NUL-separated argv, usually NUL-terminated. */
export function parseCmdline(text: string): string[] {
  const parts = text.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** A process as remembered or read: what ProcessInfo needs, plus its parent and place. */
export interface ProcessRecord extends ProcessInfo {
  pid: number;
  ppid?: number;
  scope: ProcessScope;
}

/**
 * Processes of the lab seen in exec events, so that a short-lived process
 * (`sh -c 'cat /etc/shadow'` is gone before its records are read) can
 * still be placed and named as a parent. Bounded: the oldest entries go.
 */
export class ProcessTable {
  readonly #max: number;
  readonly #byPid = new Map<number, ProcessRecord>();

  constructor(max = 4096) {
    this.#max = max;
  }

  remember(record: ProcessRecord): void {
    this.#byPid.delete(record.pid);
    this.#byPid.set(record.pid, record);
    if (this.#byPid.size > this.#max) this.#byPid.delete(this.#byPid.keys().next().value as number);
  }

  get(pid: number): ProcessRecord | undefined {
    return this.#byPid.get(pid);
  }

  get size(): number {
    return this.#byPid.size;
  }
}

/**
 * Reads what /proc says about a live process; undefined once it is gone.
 * An exiting process counts as gone, from the moment it starts to exit
 * (PF_EXITING), not only once it is a zombie: on cgroup v1, /proc/<pid>/cgroup
 * shows an exiting task in the root of every v1 hierarchy while the unified
 * line still names the node's cgroup (kernel/cgroup/cgroup.c,
 * proc_cgroup_show), so a process of a container would read as the node's.
 * Measured: a `cat /etc/shadow` started by CRI exec, 200 times, read as the
 * node's 18 times. The stat is read again after the cgroup: the flag is
 * never cleared, so a process not exiting then was not exiting when its
 * cgroup was read, and the same start time says it is the same process.
 */
export function readProcess(proc: ProcReader, pid: number, nodeContainerId: string): ProcessRecord | undefined {
  const before = parseStatOf(proc, pid);
  if (!placeable(before)) return undefined;
  const cgroup = proc.readText(`/proc/${pid}/cgroup`);
  if (cgroup === undefined) return undefined;
  const after = parseStatOf(proc, pid);
  if (!placeable(after) || after.startTime !== before.startTime) return undefined;
  const argv = parseCmdline(proc.readText(`/proc/${pid}/cmdline`) ?? '');
  const record: ProcessRecord = { pid, ppid: before.ppid, name: before.comm, scope: scopeFromCgroup(cgroup, nodeContainerId) };
  const exepath = proc.readLink(`/proc/${pid}/exe`);
  if (exepath !== undefined) record.exepath = exepath.replace(/ \(deleted\)$/, '');
  if (argv.length > 0) {
    record.exe = argv[0]!;
    record.cmdline = [before.comm, ...argv.slice(1)].join(' ');
  }
  return record;
}

/** Host pids whose cgroup places them in the given container; the lowest first (the container's init). */
export function pidsOfContainer(proc: ProcReader, nodeContainerId: string, containerId: string): number[] {
  const out: number[] = [];
  for (const pid of proc.pids()) {
    const cgroup = proc.readText(`/proc/${pid}/cgroup`);
    if (cgroup === undefined || !cgroup.includes(containerId)) continue;
    const scope = scopeFromCgroup(cgroup, nodeContainerId);
    if (scope.scope === 'container' && scope.containerId === containerId) out.push(pid);
  }
  return out.sort((a, b) => a - b);
}

/**
 * User names as the container sees them (/etc/passwd inside it, read
 * through /proc/<pid>/root), cached per container; root is root when the
 * file cannot be read.
 */
export function parsePasswd(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined && /^\d+$/.test(uid) && !out.has(Number(uid))) out.set(Number(uid), name);
  }
  return out;
}
