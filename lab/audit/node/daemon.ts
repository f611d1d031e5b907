/**
 * The node-side audit daemon's core: audit records and the CRI inventory
 * in, enriched events through the rules engine, alerts out. All I/O comes
 * through DaemonIo (daemon-main.ts wires the real one), so tests drive it
 * with recorded records and a fake /proc.
 *
 *   audit-tap lines ─► records ─► groups ─► event ─► place (lab? container?)
 *                                                      │ drop if outside the lab
 *   CRI inventory ──► container event, container rules ▼
 *   k8s_audit input ─────────────────────────────► enrich ─► engine ─► alerts
 *
 * Events are placed and enriched by the lab's Enricher (enricher.ts);
 * events that cannot be placed, or belong to no container of this lab's
 * node, are counted and dropped.
 */
import { applyContext } from '../context.ts';
import { AuditAssembler, AuditRecordError, auditGroupToEvent, parseAuditLine, type AuditRecordGroup } from '../auditd.ts';
import type { Alert, AuditEngine, RuleSet } from '../engine.ts';
import { formatTime, timeOfDay } from '../engine.ts';
import { RulesLoadError, type RulesLocation } from '../errors.ts';
import type { AuditEvent, FieldValue } from '../fields.ts';
import type { RulesSource } from '../loader.ts';
import type { DecisionRecord } from '../../admission/index.ts';
import { describeError } from '../../errors.ts';
import { LAB_BACKLOG_LIMIT, containerRules, labKey, labRules, parseKey, parseRuleList, rootfsAuditDev, rootfsMountPoint, rulesOfLab, type KernelAuditStatus, type SensitivePath } from './kernel-rules.ts';
import { inventoryEntry, inventoryEvent, type CriContainerStatus, type InventoryEntry } from './inventory.ts';
import { decisionToK8sAuditEvent } from './k8s-audit.ts';
import { k8sAuditEvent } from '../k8saudit.ts';
import { LabEnricher, type Placement } from './enricher.ts';
import { pidsOfContainer, type ProcessRecord, type ProcReader } from './procfs.ts';
import { findDaemon, whyNotRunning, type WatchedProcess } from './defence-liveness.ts';
import { parseTapLine } from './records.ts';
import { EXIT_LIST, FILTER_LISTS, deleteArgs, isLabKey, judgeForeignAdd } from './kernel-silencing.ts';

export type { Placement };

/** The rule name of the alert raised when audit records were lost (kernel or tap). */
export const RECORDS_LOST_RULE = 'Audit records lost';

/** The rule name of the alert raised when a running container's kernel rules were removed by a process, not by the kernel. */
export const RULES_REMOVED_RULE = 'Audit rules of a container removed';

/** The calls that change what is mounted where, or how (mount_setattr: `noexec` taken off): placed by the device of their target. */
const MOUNT_CALLS: ReadonlySet<string> = new Set(['mount', 'move_mount', 'mount_setattr']);

/** The rule name of the alert raised when kernel auditing was switched off, or a rule another party added suppresses records (kernel-silencing.ts). */
export const AUDIT_SILENCED_RULE = 'Kernel auditing silenced';

/** The rule name of the alert raised when the node's mount watchdog stops running (defence-liveness.ts). */
export const WATCHDOG_STOPPED_RULE = 'Mount watchdog of the node stopped';

export interface DaemonConfig {
  labId: string;
  /** The lab node's Docker container id (64 hex). */
  nodeContainerId: string;
  /** The node's init process in the host PID namespace. */
  nodePid: number;
  /** `hostname` of alerts: the node's. */
  hostname: string;
  sensitivePaths: SensitivePath[];
  /** Rules files in load order, as the daemon reads them. */
  rulesFiles: string[];
  /**
   * The admission webhook's decision log inside the node, when the node runs
   * one (lab/admission NODE_PATHS.decisions): the k8s_audit source.
   */
  admissionDecisionLog?: string;
  /**
   * kube-apiserver's audit log inside the node, when the node is a kind
   * control plane (one audit.k8s.io/v1 Event per line): the k8s_audit
   * source with the real apiserver's events.
   */
  apiServerAuditLog?: string;
  /**
   * What the node's mount watchdog runs as, after `node` (its daemon file
   * and configuration), when the profile has one: that process is watched
   * (defence-liveness.ts).
   */
  watchdogCommand?: string[];
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface DaemonIo {
  now(): Date;
  proc: ProcReader;
  listContainers(): Promise<{ id: string; state: string }[]>;
  containerStatus(id: string): Promise<{ status: CriContainerStatus; info: Record<string, unknown> }>;
  auditctl(args: readonly string[]): Promise<CommandResult>;
  /**
   * A rule in auditctl's syntax added from the node's mount namespace, still
   * in the host PID namespace, by the component's own static helper
   * (native/audit-rule.c): never the node's auditctl, which root on the node
   * can replace by one that says "set" and sets nothing.
   */
  auditctlInNode(args: readonly string[]): Promise<CommandResult>;
  readRules(paths: readonly string[]): Promise<RulesSource[]>;
  emit(alert: Alert): void;
  /** Whether the host has begun tearing the lab down (AUDIT_FILES.stopping): its rule removals are then the harness's. */
  tearingDown?(): boolean;
  /** The records of one event placed in the lab, as auditd text lines (the lab's audit log). */
  record?(lines: readonly string[]): void;
  log(line: string): void;
}

export interface ReloadResult {
  /** Echoes the request's generation. */
  generation: number;
  ok: boolean;
  /** When not ok: the loader's error; the previous rules stay in force. */
  error?: { code: string; message: string; location?: RulesLocation };
  /** The rule set in force after the request. */
  rules: RulesSummary;
}

export interface RulesSummary {
  files: string[];
  count: number;
  names: string[];
}

export interface ContainerWatch {
  id: string;
  name?: string;
  pod?: string;
  namespace?: string;
  hostPid?: number;
  /** auditctl rules set for it (as argument lists joined by spaces). */
  rules: string[];
  /** Rules not set, with auditctl's reason (e.g. a sensitive path the image does not have). */
  skipped: string[];
  /** The kernel removed its rules (CONFIG_CHANGE op=remove_rule naming the watched dir or path: it went away). */
  removedByKernel: boolean;
  /** Times a process (not the kernel) removed its rules while it ran; each raised an alert and set them again. */
  removedByProcess?: number;
}

export interface DaemonCounters {
  records: number;
  malformed: number;
  /** Overflows of this lab's audit-tap socket (ENOBUFS): the kernel dropped records for this reader. */
  lost: number;
  /** Records the kernel dropped since this daemon started (`lost` of `auditctl -s`, host-wide). */
  kernelLost: number;
  events: number;
  inLab: number;
  outside: number;
  unplaced: number;
  alerts: number;
  k8sAudit: number;
  containerEvents: number;
}

export interface DaemonStatus {
  labId: string;
  tapReady: boolean;
  counters: DaemonCounters;
  rules: RulesSummary;
  lastReload?: ReloadResult;
  containers: ContainerWatch[];
  /** The last in-lab events: how each was placed. */
  recentPlacements: Placement[];
}

interface Known {
  entry: InventoryEntry;
  watch: ContainerWatch;
}

export class AuditDaemon {
  readonly #config: DaemonConfig;
  readonly #io: DaemonIo;
  readonly #engine: AuditEngine;
  readonly #assembler = new AuditAssembler();
  readonly #enricher: LabEnricher;
  readonly #containers = new Map<string, Known>();
  /** Root file system device (audit's `dev=` form) → container id, for mounts made onto a container from outside it. */
  readonly #rootfsDevs = new Map<string, string>();
  /** Discoveries in progress: the inventory poll and a start hold may ask for the same container at once. */
  readonly #discovering = new Map<string, Promise<void>>();
  readonly #counters: DaemonCounters = { records: 0, malformed: 0, lost: 0, kernelLost: 0, events: 0, inLab: 0, outside: 0, unplaced: 0, alerts: 0, k8sAudit: 0, containerEvents: 0 };
  #tapReady = false;
  #line = 0;
  #quiet = true;
  #kernelLostSeen: number | undefined;
  #pendingLoss = { kernel: 0, tap: 0 };
  #syncing = false;
  #lastReload?: ReloadResult;
  readonly #placements: Placement[] = [];
  /** Per container, the last rule removal by a process alerted on (its pid and second), so one request alerts once. */
  readonly #removalsSeen = new Map<string, string>();
  /** Raw lines of the events still being assembled, by `time:serial`. */
  readonly #raw = new Map<string, string[]>();
  /** The node's watchdog process, once seen running. */
  #watchdog: WatchedProcess | undefined;
  /** The lab's own rules are set: from then on, auditing switched off is not another lab's teardown (daemon-main.ts sets them under the host lock). */
  #started = false;
  /** Kernel auditing was seen off and reported; cleared once it is seen on again, so each time it goes off alerts once. */
  #auditingOffReported = false;
  /** An exit-list rule with a lab key was added since the last tick (by whom): the lists are read at the next tick (kernel-silencing.ts). */
  #labKeyedAddBy: string | undefined;

  constructor(config: DaemonConfig, io: DaemonIo, engine: AuditEngine) {
    this.#config = config;
    this.#io = io;
    this.#engine = engine;
    const containers = this.#containers;
    const fullId = (prefix: string) => [...containers.keys()].find((id) => id.startsWith(prefix));
    this.#enricher = new LabEnricher({
      labId: config.labId,
      nodeContainerId: config.nodeContainerId,
      nodePid: config.nodePid,
      proc: io.proc,
      containers: {
        info: (id) => containers.get(id)?.entry.info,
        fullId,
        hostPid: (id) => containers.get(id)?.watch.hostPid,
      },
    });
  }

  /** The Enricher the daemon places and describes processes with. */
  get enricher(): LabEnricher {
    return this.#enricher;
  }

  get counters(): Readonly<DaemonCounters> {
    return this.#counters;
  }

  /** Loads the configured rules (throws RulesLoadError: a daemon without rules is useless) and sets the lab rule. */
  async start(): Promise<void> {
    this.#engine.load(await this.#io.readRules(this.#config.rulesFiles));
    for (const rule of labRules(this.#config.labId)) await this.#auditctlChecked(rule);
    this.#started = true;
  }

  // ------------------------------------------------------------ audit records

  /** One line of audit-tap output. */
  handleTapLine(text: string): void {
    const parsed = parseTapLine(text);
    if (parsed.kind === 'ready') this.#tapReady = true;
    else if (parsed.kind === 'lost') {
      this.#counters.lost++;
      this.#pendingLoss.tap++;
    }
    else if (parsed.kind === 'record') this.handleAuditLine(parsed.line);
  }

  /** One line in auditd's text format. */
  handleAuditLine(line: string): void {
    this.#quiet = false;
    let record;
    try {
      record = parseAuditLine(line, ++this.#line);
    } catch (err) {
      if (err instanceof AuditRecordError) {
        this.#counters.malformed++;
        return;
      }
      throw err;
    }
    if (!record) return;
    this.#counters.records++;
    if (this.#io.record) {
      const key = `${record.time}:${record.serial}`;
      const lines = this.#raw.get(key);
      if (lines) lines.push(line);
      else {
        this.#raw.set(key, [line]);
        // The assembler keeps at most 64 events open; keep the raw lines bounded too.
        if (this.#raw.size > 1024) this.#raw.delete(this.#raw.keys().next().value as string);
      }
    }
    for (const group of this.#assembler.push(record)) this.#onGroup(group);
  }

  /** Called periodically: releases events left open when no record came since the last tick. */
  tick(): void {
    if (this.#quiet) for (const group of this.#assembler.flush()) this.#onGroup(group);
    this.#quiet = true;
    this.#reportLoss();
    if (this.#labKeyedAddBy !== undefined) {
      const by = this.#labKeyedAddBy;
      this.#labKeyedAddBy = undefined;
      void this.#judgeAdd(EXIT_LIST, by, { suppressingOnly: true }).catch((err: unknown) => this.#io.log(`reading the rule lists after rules added by ${by} failed: ${describeError(err)}`));
    }
  }

  /**
   * The kernel's audit status, read periodically (`auditctl -s`): records it
   * lost since the first reading are reported like the tap's overflows. The
   * counter is host-wide, so a loss may have been another lab's record or
   * this lab's: either way this lab cannot say it saw everything.
   */
  noteKernelStatus(status: KernelAuditStatus): void {
    if (status.enabled === 0) this.#onAuditingOff('found off: auditctl -s reads "enabled 0"');
    else if (status.enabled !== undefined) this.#auditingOffReported = false;
    if (status.lost === undefined) return;
    if (this.#kernelLostSeen === undefined || status.lost < this.#kernelLostSeen) {
      this.#kernelLostSeen = status.lost;
      return;
    }
    const delta = status.lost - this.#kernelLostSeen;
    this.#kernelLostSeen = status.lost;
    this.#counters.kernelLost += delta;
    this.#pendingLoss.kernel += delta;
    this.#reportLoss();
  }

  /**
   * Lost records raise one alert per tick that saw any, as Falco raises
   * "Falco internal: syscall event drop": an attack in that window may have
   * gone unseen, and a run that claims "no alert" must not pass over it.
   * It names no container, so it is never counted as a detection.
   */
  #reportLoss(): void {
    const { kernel, tap } = this.#pendingLoss;
    if (kernel === 0 && tap === 0) return;
    this.#pendingLoss = { kernel: 0, tap: 0 };
    const message = `audit records were lost, events in this window may be missing (kernel lost=${kernel}, tap overflows=${tap}, since lab start: kernel ${this.#counters.kernelLost}, tap ${this.#counters.lost})`;
    this.#internalAlert(RECORDS_LOST_RULE, message, { 'kernel.lost': kernel, 'tap.lost': tap });
  }

  /**
   * Called periodically: latches on the node's watchdog process once it
   * runs, and raises one Critical alert when that process is gone, naming
   * the containers left unwatched. Nothing on a node without a watchdog.
   */
  checkWatchdog(): void {
    const command = this.#config.watchdogCommand;
    if (command === undefined) return;
    const why = this.#watchdog && whyNotRunning(this.#io.proc, this.#watchdog);
    if (this.#watchdog && why === undefined) return;
    if (this.#watchdog) {
      const gone = this.#watchdog;
      this.#watchdog = undefined;
      const { names, ids } = this.#runningContainers();
      this.#internalAlert(
        WATCHDOG_STOPPED_RULE,
        `the mount watchdog of the node (pid ${gone.hostPid} in the host, "${gone.cmdline}") stopped running (${why}): overmounts and layer files edited in place in the node's running containers go unreported while it does not run; containers running now: ${names.join(', ') || 'none'}`,
        { 'proc.pid': gone.hostPid, 'proc.cmdline': gone.cmdline, 'proc.state': why ?? null, 'container.ids': ids },
        ['T1562.001'],
      );
    }
    this.#watchdog = findDaemon(this.#io.proc, this.#config.nodePid, command);
    if (this.#watchdog) this.#io.log(`mount watchdog of the node: pid ${this.#watchdog.hostPid} in the host, watched until it stops`);
  }

  /** A Critical alert of the daemon's own (source `internal`), not of a rules file. */
  #internalAlert(rule: string, message: string, fields: Alert['output_fields'], tags: readonly string[] = []): void {
    const time = formatTime(this.#io.now());
    this.#counters.alerts++;
    this.#io.emit({
      output: `${timeOfDay(time)}: Critical ${message}`,
      priority: 'Critical',
      rule,
      time,
      output_fields: fields,
      source: 'internal',
      tags: ['integrity-lab', 'internal', ...tags],
      hostname: this.#config.hostname,
    });
  }

  #onGroup(group: AuditRecordGroup): void {
    const raw = this.#raw.get(`${group.time}:${group.serial}`);
    this.#raw.delete(`${group.time}:${group.serial}`);
    for (const r of group.records) {
      if (r.type !== 'CONFIG_CHANGE') continue;
      const op = r.fields.get('op');
      if (op === 'remove_rule') this.#onRuleRemoved(r.fields, group);
      else if (op === 'add_rule' && r.fields.get('res') === '1') this.#onRuleAdded(r.fields, group);
      else if (op === 'set' && r.fields.get('audit_enabled') === '0' && r.fields.get('res') === '1') this.#onAuditingOff(`switched off by ${describeRequester(group)}`);
      else if (op === 'set' && r.fields.get('audit_enabled') === '1') this.#auditingOffReported = false;
      else if (op === 'set' && r.fields.get('res') === '1') this.#onThrottled(r.fields, group);
    }
    const event = auditGroupToEvent(group) as Record<string, FieldValue> | undefined;
    if (!event) return;
    this.#counters.events++;
    const pid = event['proc.pid'];
    if (typeof pid !== 'number') {
      this.#counters.unplaced++;
      return;
    }
    const ppid = typeof event['proc.ppid'] === 'number' ? event['proc.ppid'] : undefined;
    const key = typeof event['evt.arg.key'] === 'string' ? event['evt.arg.key'] : undefined;
    // A mount onto a container's root file system belongs to that container,
    // whoever made it: root on the node entering its mount namespace stays
    // the node's by cgroup, and its mount(8) is gone before the record is read.
    const target = MOUNT_CALLS.has(String(event['evt.type'])) ? this.#mountedContainer(group) : undefined;
    const placed = target ? { scope: { scope: 'container' as const, containerId: target }, by: 'mount-target' as const } : this.#enricher.place(pid, ppid, key);
    if (!placed) {
      this.#counters.unplaced++;
      return;
    }
    const scope = placed.scope;
    if (scope.scope === 'outside') {
      this.#counters.outside++;
      return;
    }
    this.#counters.inLab++;
    this.#placements.push({ pid, key: key ?? null, ...placed });
    if (this.#placements.length > 50) this.#placements.shift();
    if (raw) this.#io.record?.(raw);
    const self: ProcessRecord = { pid, scope };
    if (ppid !== undefined) self.ppid = ppid;
    for (const [field, prop] of [['proc.name', 'name'], ['proc.exepath', 'exepath'], ['proc.exe', 'exe'], ['proc.cmdline', 'cmdline']] as const) {
      const v = event[field];
      if (typeof v === 'string') self[prop] = v;
    }
    this.#enricher.remember(self, event['evt.type'] === 'execve' || event['evt.type'] === 'execveat');
    applyContext(event, this.#enricher.context(scope, ppid));
    const uid = event['user.uid'];
    if (typeof uid === 'number' && event['user.name'] === undefined) {
      const name = this.#enricher.userName(uid, scope);
      if (name !== undefined) event['user.name'] = name;
    }
    this.#evaluate(event as AuditEvent);
  }

  #evaluate(event: AuditEvent): void {
    for (const alert of this.#engine.evaluate(event)) {
      this.#counters.alerts++;
      this.#io.emit(alert);
    }
  }

  /** The lab container whose root file system a PATH record of the event is on (by device, never by path). */
  #mountedContainer(group: AuditRecordGroup): string | undefined {
    for (const r of group.records) {
      if (r.type !== 'PATH') continue;
      const id = this.#rootfsDevs.get(r.fields.get('dev') ?? '');
      if (id !== undefined && this.#containers.has(id)) return id;
    }
    return undefined;
  }

  /**
   * A rule with one of this lab's container keys was removed. The kernel
   * removes a tree or watch rule when what it watches goes away (the
   * container's root file system, a process's /proc entry), and its record
   * names that `dir=` or `path=`. A removal asked over audit netlink
   * (`auditctl -d`/`-D`) names only the key, and comes with the SYSCALL
   * record of the process that asked. This daemon removes its rules only
   * when it stops, after its record stream is closed; so a process's
   * removal while the container runs is root blinding the audit layer for
   * that container (`audit-rules-deleted-from-node`): it raises an alert
   * naming the container and the process, and sets the rules again.
   */
  #onRuleRemoved(fields: ReadonlyMap<string, string>, group: AuditRecordGroup): void {
    const parsed = parseKey(fields.get('key'));
    if (parsed?.labId !== this.#config.labId || !parsed.containerId) return;
    const id = [...this.#containers.keys()].find((c) => c.startsWith(parsed.containerId!));
    const known = id ? this.#containers.get(id) : undefined;
    if (!known) return;
    if (fields.has('dir') || fields.has('path')) {
      known.watch.removedByKernel = true;
      return;
    }
    if (known.watch.removedByKernel || known.watch.hostPid === undefined) return;
    // The harness's cleanup removes the rules of containers that still run (cleanupRules in component.ts).
    if (this.#io.tearingDown?.()) return;
    // One alert per removal request, not per rule: `auditctl -D -k KEY` removes them one by one, each with its own record.
    const by = requesterOf(group);
    const burst = `${by.pid ?? '?'}:${group.time.slice(0, group.time.indexOf('.'))}`;
    if (this.#removalsSeen.get(known.watch.id) === burst) return;
    this.#removalsSeen.set(known.watch.id, burst);
    known.watch.removedByProcess = (known.watch.removedByProcess ?? 0) + 1;
    const w = known.watch;
    const who = [w.namespace, w.pod, w.name].filter(Boolean).join('/') || w.id.slice(0, 12);
    const message = `the kernel audit rules of running container ${who} (${w.id.slice(0, 12)}) were removed by process ${by.pid ?? 'unknown'} (${by.exe ?? by.comm ?? 'unknown executable'}), not by the kernel: its execs and reads go unaudited until the daemon has set them again, which it does now`;
    this.#internalAlert(
      RULES_REMOVED_RULE,
      message,
      {
        'container.id': w.id.slice(0, 12),
        'container.name': w.name ?? null,
        'k8s.pod.name': w.pod ?? null,
        'k8s.ns.name': w.namespace ?? null,
        'proc.pid': by.pid === undefined ? null : Number(by.pid),
        'proc.exepath': by.exe ?? null,
        'evt.arg.key': fields.get('key') ?? null,
      },
      ['T1562.012'],
    );
    void this.#setRulesAgain(known).catch((err: unknown) => this.#io.log(`setting the rules of ${w.id.slice(0, 12)} again failed: ${describeError(err)}`));
  }

  /** The lab's containers that run now, as alerts name them: (namespace/pod (id12), ...) and their full ids. */
  #runningContainers(): { names: string[]; ids: string[] } {
    const running = [...this.#containers.values()].map((k) => k.watch).filter((w) => w.hostPid !== undefined);
    return {
      names: running.map((w) => `${[w.namespace, w.pod].filter(Boolean).join('/') || w.name || 'container'} (${w.id.slice(0, 12)})`),
      ids: running.map((w) => w.id),
    };
  }

  /** A Critical "Kernel auditing silenced" alert naming the containers left unaudited. */
  #silencedAlert(what: string, fields: Alert['output_fields']): void {
    const { names, ids } = this.#runningContainers();
    this.#internalAlert(AUDIT_SILENCED_RULE, `${what}: execs and reads in the lab's running containers go unaudited meanwhile; containers running now: ${names.join(', ') || 'none'}`, { ...fields, 'container.ids': ids }, ['T1562.012']);
  }

  /**
   * Kernel auditing was switched off (`how`: by whom, from its CONFIG_CHANGE
   * record, or found off by the periodic status). Once this lab's rules are
   * set, no lab's teardown turns it off (the last lab does, under the host
   * lock, only when no other lab's rule is listed): it is root silencing
   * every container. One alert per time it goes off; auditing is switched
   * on again.
   */
  #onAuditingOff(how: string): void {
    if (!this.#started || this.#io.tearingDown?.() || this.#auditingOffReported) return;
    this.#auditingOffReported = true;
    this.#silencedAlert(`kernel auditing was ${how}; the daemon switches it on again`, { 'audit.enabled': 0 });
    this.#undo(['-e', '1']);
  }

  /**
   * Root can also keep auditing on and every rule listed but starve the
   * record stream: a rate limit (`auditctl -r N`: the kernel drops every
   * record past N a second) or a backlog limit lowered below the lab's
   * (`-b N`: records dropped while N wait). The kernel counts what it drops
   * (the records-lost alert), but that alert names no container; the
   * change itself is reported here, naming them, and undone.
   */
  #onThrottled(fields: ReadonlyMap<string, string>, group: AuditRecordGroup): void {
    if (!this.#started || this.#io.tearingDown?.()) return;
    const rate = Number(fields.get('audit_rate_limit') ?? 0);
    const backlog = fields.has('audit_backlog_limit') ? Number(fields.get('audit_backlog_limit')) : undefined;
    let what: string;
    let undo: string[];
    if (rate > 0) [what, undo] = [`a rate limit of ${rate} records a second`, ['-r', '0']];
    else if (backlog !== undefined && backlog < LAB_BACKLOG_LIMIT) [what, undo] = [`a backlog limit of ${backlog} records (the lab's is ${LAB_BACKLOG_LIMIT})`, ['-b', String(LAB_BACKLOG_LIMIT)]];
    else return;
    this.#silencedAlert(`kernel auditing was throttled to ${what} by ${describeRequester(group)}, so the kernel drops records; the daemon undoes it`, rate > 0 ? { 'audit.rate_limit': rate } : { 'audit.backlog_limit': backlog ?? null });
    this.#undo(undo);
  }

  /** Puts a kernel audit setting back (auditctl in the host PID namespace); a failure is logged, the alert already said what happened. */
  #undo(args: readonly string[]): void {
    void this.#io.auditctl(args).then(
      (r) => r.exitCode !== 0 && this.#io.log(`auditctl ${args.join(' ')} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim()}`),
      (err: unknown) => this.#io.log(`auditctl ${args.join(' ')} failed: ${describeError(err)}`),
    );
  }

  /**
   * A rule was added, and judged from the rule lists read after it
   * (kernel-silencing.ts): a rule that suppresses records is reported and
   * removed, one that was already gone is reported, an `always` rule is left
   * alone. The labs add exit-list rules with a lab key all the time (every
   * container start); those are read at the next tick, once for all of them,
   * and only for a suppressing rule: a key is whatever the adder wrote, so
   * `-a never,exit … -k il:…` is no lab's rule. A lab never adds to any other
   * list, so a rule there is judged at once, whatever its key.
   */
  #onRuleAdded(fields: ReadonlyMap<string, string>, group: AuditRecordGroup): void {
    if (!this.#started || this.#io.tearingDown?.()) return;
    const list = Number(fields.get('list'));
    const by = describeRequester(group);
    if (list === EXIT_LIST && isLabKey(fields.get('key'))) {
      this.#labKeyedAddBy = by;
      return;
    }
    void this.#judgeAdd(list, by).catch((err: unknown) => this.#io.log(`reading the rule lists after a rule added by ${by} failed: ${describeError(err)}`));
  }

  async #judgeAdd(list: number, by: string, options: { suppressingOnly?: boolean } = {}): Promise<void> {
    const listed = await this.#io.auditctl(['-l']);
    if (listed.exitCode !== 0) throw new Error(`auditctl -l exited ${listed.exitCode}: ${listed.stderr.trim()}`);
    const judged = judgeForeignAdd(list, parseRuleList(listed.stdout));
    const listName = FILTER_LISTS[list] ?? `list ${list}`;
    if (options.suppressingOnly && judged.verdict !== 'suppressing') return;
    if (judged.verdict !== 'suppressing') {
      if (judged.verdict === 'harmless') this.#io.log(`a rule without a lab key was added to the ${listName} list (${by}); it only adds records`);
      else this.#silencedAlert(`a kernel audit rule was added to the ${listName} list by ${by} and was gone before the daemon read the lists: while it was there it could have kept new processes or syscalls from being audited`, { 'audit.list': listName });
      return;
    }
    const texts = judged.rules.map((r) => r.text);
    this.#silencedAlert(`kernel audit rules that suppress records were added by ${by}: ${texts.join('; ')}; the daemon removes them`, { 'audit.list': listName, 'audit.rules': texts });
    for (const rule of judged.rules) {
      const r = await this.#io.auditctl(deleteArgs(rule));
      if (r.exitCode !== 0) this.#io.log(`removing "${rule.text}" failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()}`);
    }
  }

  /** After a process removed them: the container's rules again, if it still runs (a rule still set is refused by the kernel and noted). */
  async #setRulesAgain(known: Known): Promise<void> {
    const w = known.watch;
    if (w.hostPid === undefined || this.#io.proc.readText(`/proc/${w.hostPid}/cgroup`) === undefined) return;
    const rootfsInNode = rootfsMountPoint(this.#io.proc.readText(`/proc/${this.#config.nodePid}/mountinfo`) ?? '', w.id);
    if (rootfsInNode === undefined) return;
    await this.#setRules(w, { hostPid: w.hostPid, rootfsInNode });
  }

  // -------------------------------------------------------------- inventory

  /**
   * Polls CRI: each container seen for the first time gives one `container`
   * event and, while it runs, its audit rules. Returns how many were new.
   */
  async syncInventory(): Promise<number> {
    // Once the host tears the lab down, a container found now would get rules behind its cleanup.
    if (this.#syncing || this.#io.tearingDown?.()) return 0;
    this.#syncing = true;
    let discovered = 0;
    try {
      const list = await this.#io.listContainers();
      const present = new Set(list.map((c) => c.id));
      for (const c of list) {
        if (this.#containers.has(c.id) || this.#discovering.has(c.id)) continue;
        if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_EXITED') continue;
        await this.#discoverOnce(c.id, false);
        discovered++;
      }
      for (const [id, known] of this.#containers) {
        // Keep exited containers' data a while: their last records may still come.
        if (!present.has(id) && known.watch.removedByKernel) {
          this.#containers.delete(id);
          for (const [dev, owner] of this.#rootfsDevs) if (owner === id) this.#rootfsDevs.delete(dev);
        }
      }
    } finally {
      this.#syncing = false;
    }
    return discovered;
  }

  /**
   * A start hold (start-hold.ts): `runc start` of this id waits until its
   * rules are set. The container is created (runc init waits on exec.fifo
   * in its cgroup and namespaces; CRI still says CONTAINER_CREATED), so its
   * rules can be set now and its first process is audited. Resolves with
   * its watch; an id CRI does not know as a container (a sandbox) needs
   * none and gets a reason instead.
   */
  async watchBeforeStart(id: string): Promise<{ watch?: ContainerWatch; reason?: string }> {
    try {
      await this.#discoverOnce(id, true);
    } catch (err) {
      return { reason: `not a CRI container of the node (${describeError(err)}): nothing to hold` };
    }
    const known = this.#containers.get(id);
    return known ? { watch: known.watch } : { reason: 'not found after discovery' };
  }

  async #discoverOnce(id: string, starting: boolean): Promise<void> {
    if (this.#containers.has(id)) return;
    const running = this.#discovering.get(id);
    if (running) return running;
    const p = this.#discover(id, starting).finally(() => this.#discovering.delete(id));
    this.#discovering.set(id, p);
    return p;
  }

  async #discover(id: string, starting: boolean): Promise<void> {
    const { status, info } = await this.#io.containerStatus(id);
    const entry = inventoryEntry(status, info);
    const watch: ContainerWatch = { id, rules: [], skipped: [], removedByKernel: false };
    if (entry.info.name !== undefined) watch.name = entry.info.name;
    if (entry.info.k8sPod !== undefined) watch.pod = entry.info.k8sPod;
    if (entry.info.k8sNamespace !== undefined) watch.namespace = entry.info.k8sNamespace;
    this.#containers.set(id, { entry, watch });
    this.#counters.containerEvents++;
    this.#evaluate(inventoryEvent(entry, formatTime(this.#io.now())));
    if (status.state !== 'CONTAINER_RUNNING' && !(starting && status.state === 'CONTAINER_CREATED')) return;
    const hostPid = pidsOfContainer(this.#io.proc, this.#config.nodeContainerId, id)[0];
    if (hostPid === undefined) {
      watch.skipped.push('no process of the container found in /proc: it exited before its rules could be set');
      return;
    }
    watch.hostPid = hostPid;
    const nodeMountinfo = this.#io.proc.readText(`/proc/${this.#config.nodePid}/mountinfo`) ?? '';
    const rootfsInNode = rootfsMountPoint(nodeMountinfo, id);
    const dev = rootfsAuditDev(nodeMountinfo, id);
    if (dev !== undefined) this.#rootfsDevs.set(dev, id);
    if (rootfsInNode === undefined) {
      watch.skipped.push(`no rootfs mount of the container in the node's mountinfo (pid ${this.#config.nodePid}): exec events of this container are not audited`);
      return;
    }
    await this.#setRules(watch, { hostPid, rootfsInNode });
  }

  /** Sets a container's kernel rules and notes each in its watch (set, or skipped with the reason). */
  async #setRules(watch: ContainerWatch, target: { hostPid: number; rootfsInNode: string }): Promise<void> {
    // All at once: every rule is `always` with the container's key, so their order in the
    // kernel's list changes nothing. A container held at start waits for them: on the lab
    // node the seven took 17-29 ms together (median 18), 21-32 ms one after another (median 25).
    const rules = containerRules(this.#config.labId, watch.id, target, this.#config.sensitivePaths);
    const results = await Promise.all(rules.map((rule) => (rule.inNodeMountNamespace ? this.#io.auditctlInNode(rule.args) : this.#io.auditctl(rule.args))));
    for (const [i, rule] of rules.entries()) {
      const r = results[i]!;
      const text = `${rule.inNodeMountNamespace ? '(node mount ns) audit-rule' : 'auditctl'} ${rule.args.join(' ')}`;
      if (r.exitCode === 0) {
        if (!watch.rules.includes(text)) watch.rules.push(text);
      }
      else watch.skipped.push(`${text}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
    }
  }

  // ------------------------------------------------------------------ rules

  /**
   * Replaces the rules with these files. A file that does not load is
   * reported (file, item, position) and the previous rules stay in force.
   */
  async reload(generation: number, files: readonly string[]): Promise<ReloadResult> {
    let result: ReloadResult;
    try {
      this.#engine.load(await this.#io.readRules(files));
      result = { generation, ok: true, rules: this.rulesSummary() };
    } catch (err) {
      const error: NonNullable<ReloadResult['error']> = {
        code: (err as { code?: string }).code ?? 'UNKNOWN',
        message: err instanceof Error ? err.message : String(err),
      };
      if (err instanceof RulesLoadError) error.location = err.location;
      result = { generation, ok: false, error, rules: this.rulesSummary() };
      this.#io.log(`reload ${generation} refused, previous rules kept: ${describeError(err)}`);
    }
    this.#lastReload = result;
    return result;
  }

  rulesSummary(): RulesSummary {
    const set: RuleSet = this.#engine.ruleSet();
    return { files: set.files.map((f) => f.file), count: set.rules.length, names: set.rules.map((r) => r.name) };
  }

  // --------------------------------------------------------------- k8s_audit

  /** An admission decision from the API-server path, as a k8s_audit event. */
  handleAdmission(record: DecisionRecord, object?: unknown): void {
    this.#counters.k8sAudit++;
    this.#evaluate(decisionToK8sAuditEvent(record, object));
  }

  /** One audit.k8s.io/v1 Event from kube-apiserver's own audit log; anything else throws EVENT_FORMAT. */
  handleApiServerEvent(event: unknown): void {
    const parsed = k8sAuditEvent(event);
    this.#counters.k8sAudit++;
    this.#evaluate(parsed);
  }

  // ---------------------------------------------------------------- status

  status(): DaemonStatus {
    const s: DaemonStatus = {
      labId: this.#config.labId,
      tapReady: this.#tapReady,
      counters: { ...this.#counters },
      rules: this.rulesSummary(),
      containers: [...this.#containers.values()].map((k) => ({ ...k.watch, rules: [...k.watch.rules], skipped: [...k.watch.skipped] })),
      recentPlacements: [...this.#placements],
    };
    if (this.#lastReload) s.lastReload = this.#lastReload;
    return s;
  }

  /** Removes every kernel rule of this lab (its own and its containers'); returns the rules still listed. */
  async removeRules(): Promise<string[]> {
    return removeLabRules(this.#io.auditctl, this.#config.labId);
  }

  async #auditctlChecked(args: readonly string[]): Promise<void> {
    const r = await this.#io.auditctl(args);
    if (r.exitCode !== 0) throw new Error(`auditctl ${args.join(' ')} exited ${r.exitCode}: ${(r.stderr || r.stdout).trim()}`);
  }
}

/**
 * `auditctl -D -k il:<lab>:` (a key prefix only this lab's keys have),
 * then `auditctl -l` to confirm; returns the lab's rules still listed.
 */
export async function removeLabRules(auditctl: DaemonIo['auditctl'], labId: string): Promise<string[]> {
  await auditctl(['-D', '-k', labKey(labId)]);
  const listed = await auditctl(['-l']);
  return rulesOfLab(parseRuleList(listed.stdout), labId).map((r) => r.text);
}

/** The process an audit netlink request came from, from the SYSCALL record of its event (absent when that syscall was not audited). */
function requesterOf(group: AuditRecordGroup): { pid?: string; exe?: string; comm?: string } {
  const syscall = group.records.find((r) => r.type === 'SYSCALL')?.fields;
  return { pid: syscall?.get('pid'), exe: syscall?.get('exe'), comm: syscall?.get('comm') };
}

function describeRequester(group: AuditRecordGroup): string {
  const by = requesterOf(group);
  return by.pid === undefined ? 'a process whose syscall was not recorded' : `process ${by.pid} (${by.exe ?? by.comm ?? 'unknown executable'})`;
}
