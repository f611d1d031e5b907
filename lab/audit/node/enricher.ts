/**
 * The lab's Enricher (lab/audit/context.ts): which container of the lab a
 * process belongs to, its pod, its ancestors and its user name, for audit
 * records, which carry none of it.
 *
 * Placing a process: its cgroup when it is still alive and not a zombie
 * (procfs.ts), as Falco places processes, so a process that entered a
 * container's namespaces with nsenter from the node stays the node's;
 * else the key of the per-container rule that matched (kernel-rules.ts), which
 * says whose files it touched; else what an earlier event said about it
 * (the process table); else its parent's place. A process that was seen
 * in the node first and gone by the time its container record is read
 * (runc init joins the container's namespaces, then execs) is placed by
 * the key: the table may still hold its node-side past.
 */
import type { ContainerInfo, Enricher, ProcessContext, ProcessInfo } from '../context.ts';
import { parseKey } from './kernel-rules.ts';
import { parsePasswd, ProcessTable, readProcess, type ProcessRecord, type ProcessScope, type ProcReader } from './procfs.ts';

const MAX_ANCESTORS = 5;

/** How an event's process was placed, kept for the last few events as evidence. */
export interface Placement {
  pid: number;
  key: string | null;
  /** `mount-target`: a mount whose target is on a container's root file system is that container's (daemon.ts). */
  by: 'cgroup' | 'rule-key' | 'exec-event' | 'parent' | 'mount-target';
  scope: ProcessScope;
}

/** What the enricher knows about the lab's containers (the CRI inventory). */
export interface ContainerDirectory {
  info(id: string): ContainerInfo | undefined;
  /** The full id of a container whose id starts with `prefix` (keys carry 12 digits). */
  fullId(prefix: string): string | undefined;
  /** A live process of the container on the host, to read its /etc/passwd. */
  hostPid(id: string): number | undefined;
}

export interface LabEnricherOptions {
  labId: string;
  nodeContainerId: string;
  nodePid: number;
  proc: ProcReader;
  containers: ContainerDirectory;
  table?: ProcessTable;
}

export class LabEnricher implements Enricher {
  readonly #o: LabEnricherOptions;
  readonly #table: ProcessTable;
  readonly #users = new Map<string, Map<number, string>>();

  constructor(options: LabEnricherOptions) {
    this.#o = options;
    this.#table = options.table ?? new ProcessTable();
  }

  /** Where the process runs, and how that was found; undefined when it cannot be told. */
  place(pid: number, ppid: number | undefined, key: string | undefined): Omit<Placement, 'pid' | 'key'> | undefined {
    const node = this.#o.nodeContainerId;
    const live = readProcess(this.#o.proc, pid, node);
    if (live) return { scope: live.scope, by: 'cgroup' };
    const fromKey = parseKey(key);
    if (fromKey?.labId === this.#o.labId && fromKey.containerId) {
      return { scope: { scope: 'container', containerId: this.#o.containers.fullId(fromKey.containerId) ?? fromKey.containerId }, by: 'rule-key' };
    }
    const remembered = this.#table.get(pid);
    if (remembered) return { scope: remembered.scope, by: 'exec-event' };
    if (ppid !== undefined) {
      const parent = readProcess(this.#o.proc, ppid, node) ?? this.#table.get(ppid);
      if (parent) return { scope: parent.scope, by: 'parent' };
    }
    return undefined;
  }

  /** Remembers what an event said about its process: always for an exec, else only if unknown. */
  remember(record: ProcessRecord, exec: boolean): void {
    if (exec || !this.#table.get(record.pid)) this.#table.remember(record);
  }

  /** Enricher: the context of a process of this lab; undefined outside it or when it cannot be placed. */
  lookup(pid: number, ppid: number | undefined, key?: string): ProcessContext | undefined {
    const placed = this.place(pid, ppid, key);
    if (!placed || placed.scope.scope === 'outside') return undefined;
    return this.context(placed.scope, ppid);
  }

  context(scope: ProcessScope, ppid: number | undefined): ProcessContext {
    const ctx: ProcessContext = { ancestors: this.ancestors(ppid) };
    if (scope.scope === 'container') ctx.container = this.#o.containers.info(scope.containerId) ?? { id: scope.containerId };
    return ctx;
  }

  /** Parent first, from /proc or the table. */
  ancestors(ppid: number | undefined): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    let pid = ppid;
    while (pid !== undefined && pid > 0 && out.length < MAX_ANCESTORS) {
      const p = readProcess(this.#o.proc, pid, this.#o.nodeContainerId) ?? this.#table.get(pid);
      if (!p) break;
      const info: ProcessInfo = { pid };
      if (p.name !== undefined) info.name = p.name;
      if (p.exepath !== undefined) info.exepath = p.exepath;
      if (p.exe !== undefined) info.exe = p.exe;
      if (p.cmdline !== undefined) info.cmdline = p.cmdline;
      out.push(info);
      pid = p.ppid;
    }
    return out;
  }

  /** The user name as the container (or the node) sees it, from its /etc/passwd; root is root. */
  userName(uid: number, scope: ProcessScope): string | undefined {
    const where = scope.scope === 'container' ? scope.containerId : 'node';
    let users = this.#users.get(where);
    if (!users) {
      const pid = scope.scope === 'container' ? this.#o.containers.hostPid(scope.containerId) : this.#o.nodePid;
      if (pid === undefined) return uid === 0 ? 'root' : undefined;
      users = parsePasswd(this.#o.proc.readText(`/proc/${pid}/root/etc/passwd`) ?? '');
      this.#users.set(where, users);
    }
    return users.get(uid) ?? (uid === 0 ? 'root' : undefined);
  }
}
