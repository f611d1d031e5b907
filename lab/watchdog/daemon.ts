/**
 * The watchdog daemon that runs in the node (bundled by the component):
 *
 * - discovers containers from containerd's runtime v2 task directory (each
 *   bundle's config.json and init pid) and watches those whose Kubernetes
 *   namespace the configuration names, in `detect` or `enforce` mode;
 * - derives each container's expected mount set (expected.ts) and compares
 *   its mount namespace with it (diff.ts) whenever the kernel reports a
 *   mount event in that namespace (fanotify, Linux 6.15+), or on a timer
 *   where it cannot;
 * - re-verifies every layer file in use against its signed root hash under a
 *   read and parallelism budget (reverify.ts, budget.ts);
 * - writes alerts and activity as JSON lines, stops containers in enforce
 *   mode, and releases what a stopped container's namespace still holds.
 *
 * All state is rebuilt from the node at start: a restarted watchdog reports
 * every deviation still in place. Everything the node can take away at any
 * moment (a container, its process, its namespace) is an ordinary outcome.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeError } from '../errors.ts';
import type { Exec } from '../exec.ts';
import type { GateConfig } from '../gates/config.ts';
import { tierOf } from '../gates/tiers.ts';
import type { ActivityKind, ActivityRecord, NotifyMode, ScanTrigger, WatchdogAlert } from './alerts.ts';
import { ReadBudget, Semaphore } from './budget.ts';
import { modeFor, type WatchdogConfig, type WatchdogMode } from './config.ts';
import { changedDefences, CTR_PATH, fingerprint, parsePins, pinnedDefenceFiles, ungatedReason, type Fingerprints } from './defences.ts';
import { diffMounts, type MountFinding } from './diff.ts';
import { globMatch } from '../gates/config.ts';
import { deriveExpectation, deriveRootfs, type MountExpectation, type OciSpec } from './expected.ts';
import { findHolders, planRelease } from './leftovers.ts';
import { parseMountinfo, type MountinfoEntry } from './mountinfo.ts';
import type { HelperLine, MountNotifier, startNotifier } from './notify.ts';
import type { NodeView, TaskInfo } from './proc.ts';
import { equalHex } from '../constant-time.ts';
import { pinnedProgramHolder, type HoldResult } from '../pinned-program.ts';
import { ReverifySchedule, type LayerRecord } from './reverify.ts';
import { CRI_ANNOTATIONS } from '../cri/annotations.ts';
import { gatedSpec, specDifferences } from '../gates/bundle-spec.ts';
import type { ContainerdRecords, RecordedSpec } from '../gates/containerd-records.ts';
import { identityDifferences, type CriIdentity, type CriIdentitySource, type CriRequest } from '../cri/identity.ts';
import { departuresFromRequest, unexplainedMounts, type RecordedProcessAndMounts } from '../gates/cri-request.ts';
import { imageTrust, pairLayers, type ImageTrust, type LayerTrust } from './trust.ts';

/** How long a missing mount must stay missing before it is reported. */
export const CONFIRM_MS = 100;

/** The files the runtime writes for a pod and binds into each of its containers. */
export const SANDBOX_FILES = ['/etc/resolv.conf', '/etc/hosts', '/etc/hostname'];

const sha256 = (b: Buffer | undefined) => (b === undefined ? 'missing' : createHash('sha256').update(b).digest('hex'));

export interface DaemonDeps {
  view: NodeView;
  /** Runs ctr (manifests, killing tasks) and the release helper. */
  exec: Exec;
  /** Wall clock, ms since the epoch. */
  now(): number;
  appendLine(path: string, line: string): void;
  writeFile(path: string, data: string): void;
  startNotifier: typeof startNotifier;
  kill(pid: number, signal: NodeJS.Signals): void;
  hash(file: string, budget: ReadBudget): Promise<{ hex: string; bytes: number }>;
  fileIdentity(file: string): string | undefined;
  /** The application tier's reference root hashes of an image (gates/app-image.ts); absent: application containers are not re-verified. */
  applicationTrust?(image: string): Promise<ImageTrust>;
  /** Errors go here as well as to the activity log. */
  stderr(line: string): void;
  cpuUsage(): NodeJS.CpuUsage;
  /** How long after the fanotify helper died it is started again (doubling per failed try, at most 30 s). Default 1000 ms. */
  notifierRestartMs?: number;
  /** Holds one of the watchdog's own helpers when its bytes are the pinned ones (lab/pinned-program.ts). */
  programHolder(path: string, pinnedSha256: string): () => HoldResult;
  /** containerd's records (its API): whose a task is, and the spec its bundle was written from. Absent: the bundle's word is taken. */
  records?: Pick<ContainerdRecords, 'recordedSpec'>;
  /** CRI's memory of a workload container: its pod, and the CreateContainer request its record's mounts must follow from. */
  cri?: CriIdentitySource;
}

export const realDaemonDeps = (view: NodeView, exec: Exec, extra: Pick<DaemonDeps, 'startNotifier' | 'hash' | 'fileIdentity' | 'applicationTrust' | 'records' | 'cri'>): DaemonDeps => ({
  view,
  exec,
  now: () => Date.now(),
  appendLine: (path, line) => {
    mkdirSync(dirname(path), { recursive: true });
    appendFileSync(path, line + '\n');
  },
  writeFile: (path, data) => {
    mkdirSync(dirname(path), { recursive: true });
    // rename is atomic: readers never see a half-written status
    writeFileSync(`${path}.tmp`, data);
    renameSync(`${path}.tmp`, path);
  },
  kill: (pid, signal) => process.kill(pid, signal),
  stderr: (line) => process.stderr.write(line + '\n'),
  cpuUsage: () => process.cpuUsage(),
  programHolder: pinnedProgramHolder,
  ...extra,
});

export interface Watched {
  id: string;
  bundleDir: string;
  pid: number;
  startTime: string;
  nsLink: string;
  mode: WatchdogMode;
  namespace: string;
  pod?: string;
  name?: string;
  image?: string;
  sandbox: boolean;
  expectation: MountExpectation;
  layerMajmins: Set<string>;
  lastText?: string;
  reported: Set<string>;
  stopped: boolean;
  /** fanotify could not watch this namespace: it is polled. */
  polled: boolean;
  /** A second look at missing mounts is scheduled. */
  confirmTimer?: NodeJS.Timeout;
  /** The mount namespace's unique 64-bit id (never reused, unlike the mnt:[N] number). */
  nsId?: string;
  trust?: LayerTrust;
  addedAt: number;
  /** sha256 of the node files bound on the sandbox files (resolv.conf, hosts, hostname) when first seen. */
  sandboxFiles?: Map<string, { destination: string; sha: string }>;
}

export interface DaemonStatus {
  pid: number;
  startedAt: string;
  updatedAt: string;
  notify: NotifyMode;
  notifyDetail: string;
  /** The fanotify helper's pid, when it runs. */
  helperPid?: number;
  containers: { id: string; name?: string; pod?: string; namespace: string; mode: WatchdogMode; pid: number; sandbox: boolean; polled: boolean; stopped: boolean; layersSigned: boolean | undefined; trustReason?: string }[];
  ignored: number;
  scans: { total: number; diffed: number; lastMs: number; maxMs: number };
  alerts: number;
  errors: number;
  reverify: {
    budget: WatchdogConfig['reverify'];
    layers: { file: string; users: number; lastStartedAt?: string; ok?: boolean; bytes?: number; ms?: number; error?: string }[];
    verifications: number;
    bytesRead: number;
    waitedMs: number;
    running: number;
  };
  cpu: { userUs: number; systemUs: number };
}

export class WatchdogDaemon {
  readonly config: WatchdogConfig;
  readonly deps: DaemonDeps;
  readonly containers = new Map<string, Watched>();
  readonly #ignored = new Map<string, string>();
  readonly schedule: ReverifySchedule;
  readonly budget: ReadBudget;
  readonly #sem: Semaphore;
  readonly #trustCache = new Map<string, Promise<ImageTrust>>();
  #notifier?: MountNotifier;
  notify: NotifyMode = 'poll';
  notifyDetail = '';
  #nodeMounts: MountinfoEntry[] = [];
  #standard?: { file: string; rootHash: string };
  /** The gates' tier policy (gates/tiers.ts): application containers are re-verified against their references. */
  #tiers?: Pick<GateConfig, 'protectedNamespaces' | 'applicationTier'>;
  /** The start gate's protected namespaces at lab start (the pins), or when the watchdog started without pins; later edits of gates.json do not change them. */
  #protectedNamespaces: string[] = [];
  /** What the node gates were made of at lab start (the pins), or when the watchdog started without pins. */
  #defencePins: Fingerprints = new Map();
  /** Where #defencePins come from, for alerts: `the lab pinned it at …` or `the watchdog started`. */
  #pinnedBy = '';
  #pinsLoaded = false;
  readonly #defenceReported = new Set<string>();
  #trustedRoots: string[] = [];
  #timers: NodeJS.Timeout[] = [];
  #reverifyTimer?: NodeJS.Timeout;
  #discovering = false;
  #rediscover = false;
  #pendingScans = new Map<string, { timer: NodeJS.Timeout; eventTime?: number }>();
  #scanAllTimer?: NodeJS.Timeout;
  #discoverTimer?: NodeJS.Timeout;
  #retryTimer?: NodeJS.Timeout;
  /** Polling while the fanotify helper is dead, and the timer that starts it again. */
  #fallbackPoll?: NodeJS.Timeout;
  #notifierRestart?: NodeJS.Timeout;
  /** The watchdog's own helpers, each held from the descriptor whose bytes matched its pin. */
  #helpers = new Map<string, () => HoldResult>();
  #ctrFailed = false;
  #recordsFailed = false;
  #criFailed = false;
  #stopped = false;
  readonly startedAt: string;
  readonly #pid = process.pid;
  #counters = { total: 0, diffed: 0, lastMs: 0, maxMs: 0, alerts: 0, errors: 0, verifications: 0, bytesRead: 0 };

  constructor(config: WatchdogConfig, deps: DaemonDeps) {
    this.config = config;
    this.deps = deps;
    this.schedule = new ReverifySchedule(config.reverify.minIntervalMs);
    this.budget = new ReadBudget(config.reverify.maxReadMBps);
    this.#sem = new Semaphore(config.reverify.maxParallel);
    this.startedAt = new Date(deps.now()).toISOString();
    this.#loadNodeConfig();
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    this.deps.writeFile(this.config.pidFile, `${this.#pid}\n`);
    // Before the first discovery (the protected namespaces come from the
    // pins) and before the fanotify helper starts (it is run only as pinned).
    this.#loadPins();
    await this.#startNotify();
    this.activity('started', `watchdog started (pid ${this.#pid}); mount changes by ${this.notify}: ${this.notifyDetail}`, {
      notify: this.notify,
      namespaces: this.config.namespaces,
      reverify: this.config.reverify,
    });
    // What changed while no watchdog ran (a restart after tampering) is reported now.
    this.checkDefences();
    await this.discover('discovery');
    const every = (ms: number, fn: () => void) => this.#timers.push(setInterval(() => this.#guard(fn), ms));
    every(this.config.discoveryIntervalMs, () => void this.#discoverGuarded());
    if (this.notify === 'fanotify-mnt') {
      every(this.config.fullScanIntervalMs, () => this.scanAll('full-scan'));
      every(this.config.pollIntervalMs, () => {
        for (const w of this.containers.values()) if (w.polled) this.scan(w, 'poll');
      });
    } else {
      every(this.config.pollIntervalMs, () => this.scanAll('poll'));
    }
    every(2000, () => this.writeStatus());
    every(this.config.pollIntervalMs * 5, () => this.checkDefences());
    every(this.config.pollIntervalMs, () => this.checkSandboxFiles());
    this.#armReverify();
    this.writeStatus();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    clearTimeout(this.#reverifyTimer);
    clearTimeout(this.#scanAllTimer);
    clearTimeout(this.#discoverTimer);
    clearTimeout(this.#retryTimer);
    clearInterval(this.#fallbackPoll);
    clearTimeout(this.#notifierRestart);
    for (const p of this.#pendingScans.values()) clearTimeout(p.timer);
    for (const w of this.containers.values()) clearTimeout(w.confirmTimer);
    this.#notifier?.close();
    this.activity('stopping', `watchdog stopping (pid ${this.#pid})`);
    this.writeStatus();
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.error(undefined, `internal error: ${describeError(err)}`, err);
    }
  }

  /** What the node says about trust: the lab's roots, and the start gate's standard layer when it has one. */
  #loadNodeConfig(): void {
    const pem = this.deps.view.readText(this.config.trustedRootsFile) ?? '';
    this.#trustedRoots = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (this.#trustedRoots.length === 0) this.error(undefined, `no certificate in ${this.config.trustedRootsFile} (${pem.length} bytes): layers cannot be re-verified`);
    const gates = this.deps.view.readText(this.config.gatesConfigFile);
    if (gates) {
      try {
        const g = JSON.parse(gates) as Partial<GateConfig>;
        if (g.standardLayer) this.#standard = { file: g.standardLayer.path, rootHash: g.standardLayer.rootHash };
        if (g.applicationTier) this.#tiers = { protectedNamespaces: g.protectedNamespaces ?? [], applicationTier: g.applicationTier };
        // Only a node with the start gate makes the promise the watchdog checks.
        if (g.standardLayer && Array.isArray(g.protectedNamespaces)) this.#protectedNamespaces = g.protectedNamespaces.filter((n) => typeof n === 'string');
      } catch (err) {
        this.error(undefined, `${this.config.gatesConfigFile} is not JSON: ${describeError(err)}`);
      }
    }
  }

  /**
   * The lab-start pins (defences.ts). Without them (deleted, unreadable) the
   * watchdog says so in an alert and falls back to pinning what the node has
   * now: a change made before this start is then invisible to it.
   */
  #loadPins(): void {
    if (this.#pinsLoaded) return;
    this.#pinsLoaded = true;
    const path = this.config.pinsFile;
    const text = this.deps.view.readText(path);
    let problem = text === undefined ? `${path} is missing` : '';
    if (text !== undefined) {
      try {
        const pins = parsePins(text, path);
        this.#defencePins = new Map(Object.entries(pins.files));
        this.#pinnedBy = `the lab pinned it at ${pins.pinnedAt}`;
        if (pins.gate) {
          this.#protectedNamespaces = pins.gate.protectedNamespaces;
          if (pins.gate.standardLayer) this.#standard = { file: pins.gate.standardLayer.path, rootHash: pins.gate.standardLayer.rootHash };
        }
        this.activity('pins', `comparing the node gates with the lab's pins of ${pins.pinnedAt} (${this.#defencePins.size} files; protected namespaces ${JSON.stringify(this.#protectedNamespaces)})`, { pinsFile: path, pinnedAt: pins.pinnedAt, protectedNamespaces: this.#protectedNamespaces });
        return;
      } catch (err) {
        problem = describeError(err);
      }
    }
    this.#defencePins = fingerprint((p) => this.deps.view.readBytes(p));
    this.#pinnedBy = 'the watchdog started';
    this.nodeAlert(['pins-missing'], `the lab's pins of the node gates are unusable (${problem}): this watchdog pins what the node has now and cannot see a change made before it started`, { file: path });
  }

  async #startNotify(): Promise<void> {
    if (this.config.notify === 'poll') {
      this.notify = 'poll';
      this.notifyDetail = `polling every ${this.config.pollIntervalMs} ms (configured)`;
      return;
    }
    const helper = this.#helperProgram(this.config.notifyHelper);
    const started = helper.ok ? await this.#launchNotifier(helper.execPath) : helper;
    if (!started.ok) {
      this.notify = 'poll';
      this.notifyDetail = `polling every ${this.config.pollIntervalMs} ms: fanotify mount events unavailable (${started.reason})`;
      if (this.config.notify === 'fanotify') this.error(undefined, `notify is "fanotify" but ${started.reason}; polling instead`);
      return;
    }
    this.#notifier = started.notifier;
    this.notify = 'fanotify-mnt';
    this.notifyDetail = `fanotify mount events (FAN_REPORT_MNT, FAN_MARK_MNTNS), helper pid ${started.notifier.pid}; full scan every ${this.config.fullScanIntervalMs} ms`;
    // Container starts and stops attach and detach mounts in the node's own
    // namespace: discovery follows those events instead of waiting for its timer.
    started.notifier.watch('node', '/proc/self/ns/mnt');
  }

  #fallBackToPolling(reason: string): void {
    if (this.#stopped) return;
    this.#notifier = undefined;
    this.notify = 'poll';
    this.notifyDetail = `polling every ${this.config.pollIntervalMs} ms: the fanotify helper stopped (${reason})`;
    this.activity('notify', this.notifyDetail);
    // Root who kills the helper gets a window: a mount made and removed between two polls is never seen.
    this.nodeAlert(['notifier-stopped'], `the watchdog's fanotify mount-event helper stopped (${reason}): mounts are now seen by polling every ${this.config.pollIntervalMs} ms, and one that comes and goes between two polls is missed, until the helper runs again`);
    clearInterval(this.#fallbackPoll);
    this.#fallbackPoll = setInterval(() => this.#guard(() => this.scanAll('poll')), this.config.pollIntervalMs);
    this.#scheduleNotifierRestart(1);
  }

  /**
   * Starts the helper again after its death, so that killing it buys root
   * about a second of polling, each time with its own alert. Only the
   * helper the lab pinned is started: a replaced one is not run (its
   * change raises `defence-changed`), and polling goes on.
   */
  #scheduleNotifierRestart(attempt: number): void {
    const delay = Math.min((this.deps.notifierRestartMs ?? 1000) * 2 ** (attempt - 1), 30_000);
    clearTimeout(this.#notifierRestart);
    this.#notifierRestart = setTimeout(() => void this.#restartNotifier(attempt).catch((err: unknown) => this.error(undefined, `restarting the fanotify helper: ${describeError(err)}`, err)), delay);
  }

  async #restartNotifier(attempt: number): Promise<void> {
    if (this.#stopped || this.#notifier) return;
    const helper = this.#helperProgram(this.config.notifyHelper);
    if (!helper.ok) {
      this.activity('notify', `${helper.reason}: not started again, polling goes on`);
      return;
    }
    const started = await this.#launchNotifier(helper.execPath);
    if (this.#stopped) {
      if (started.ok) started.notifier.close();
      return;
    }
    if (!started.ok) {
      this.activity('notify', `the fanotify helper could not be started again (try ${attempt}: ${started.reason}); polling goes on`);
      this.#scheduleNotifierRestart(attempt + 1);
      return;
    }
    this.#notifier = started.notifier;
    clearInterval(this.#fallbackPoll);
    this.#fallbackPoll = undefined;
    this.notify = 'fanotify-mnt';
    this.notifyDetail = `fanotify mount events (FAN_REPORT_MNT, FAN_MARK_MNTNS), helper pid ${started.notifier.pid}, started again after it stopped; full scan every ${this.config.fullScanIntervalMs} ms`;
    started.notifier.watch('node', '/proc/self/ns/mnt');
    for (const w of this.containers.values()) {
      w.polled = false;
      started.notifier.watch(w.id, `/proc/${w.pid}/ns/mnt`);
    }
    this.activity('notify', this.notifyDetail);
    // What happened while only polling ran: one look at everything now.
    this.scanAll('poll');
  }

  /** Runs the fanotify helper from `execPath` (its pinned descriptor), its lines and its exit handled here. */
  #launchNotifier(execPath: string): ReturnType<typeof startNotifier> {
    return this.deps.startNotifier(
      execPath,
      {
        onLine: (line) => this.#guard(() => this.#onHelperLine(line)),
        onExit: (why) => this.#guard(() => this.#fallBackToPolling(why)),
      },
      this.config.notifyHelper,
    );
  }

  /**
   * What to run for one of the watchdog's own helpers (the fanotify and
   * release-mounts helpers): its descriptor of the file whose bytes matched
   * the pin (lab/pinned-program.ts). A helper that is not the pinned bytes
   * is never run: it would report mounts, namespaces and releases as root
   * wants them. Its change itself raises `defence-changed`.
   */
  #helperProgram(path: string): { ok: true; execPath: string } | { ok: false; reason: string } {
    this.#loadPins(); // loaded by start(); a daemon driven by discover() alone loads them here
    let hold = this.#helpers.get(path);
    if (!hold) {
      hold = this.deps.programHolder(path, this.#defencePins.get(path) ?? 'missing');
      this.#helpers.set(path, hold);
    }
    const held = hold();
    if (held.ok) return { ok: true, execPath: held.program.execPath };
    return { ok: false, reason: `the helper ${path} changed since ${this.#pinnedBy} (it ${held.reason})` };
  }

  #onHelperLine(line: HelperLine): void {
    switch (line.type) {
      case 'mount':
        if (line.key === 'node') this.discoverSoon();
        else if (line.key && this.containers.has(line.key)) this.scanSoon(line.key, line.time);
        else this.scanAllSoon('fanotify');
        return;
      case 'overflow':
        this.scanAllSoon('fanotify');
        this.discoverSoon();
        return;
      case 'watching': {
        const w = this.containers.get(line.key);
        if (w && line.nsId) w.nsId ??= line.nsId;
        return;
      }
      case 'watch-failed': {
        const w = this.containers.get(line.key);
        if (w) {
          w.polled = true;
          this.error(w, `fanotify cannot watch the namespace of ${w.id} (${line.error}); polling it every ${this.config.pollIntervalMs} ms`);
        }
        return;
      }
      default:
        return;
    }
  }

  // ------------------------------------------------------------ discovery

  /** Coalesces bursts of node mount events (a container start mounts many layers). */
  discoverSoon(): void {
    if (this.#discoverTimer) return;
    this.#discoverTimer = setTimeout(() => {
      this.#discoverTimer = undefined;
      void this.#discoverGuarded();
    }, 20);
  }

  #retryDiscovery(): void {
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#discoverGuarded();
    }, 100);
  }

  #discoverGuarded(): Promise<void> {
    return this.discover('discovery').catch((err: unknown) => this.error(undefined, `discovery: ${describeError(err)}`, err));
  }

  /**
   * One discovery pass. The task directory (cheap to list) says which
   * containers exist; containerd itself (`ctr tasks ls`, only when an id is
   * new) says which of them are created or running and with which pid. A
   * task appears there only once `runc create` has returned, that is once
   * every mount of the container exists.
   */
  async discover(_trigger: ScanTrigger = 'discovery'): Promise<void> {
    if (this.#stopped) return;
    if (this.#discovering) {
      this.#rediscover = true;
      return;
    }
    this.#discovering = true;
    try {
      const ids = new Set(this.deps.view.taskIds(this.config.taskDir));
      this.#nodeMounts = parseMountinfo(this.deps.view.mountinfo('self') ?? '');
      for (const w of [...this.containers.values()]) {
        if (!ids.has(w.id) || !this.alive(w)) this.remove(w);
      }
      for (const id of [...this.#ignored.keys()]) if (!ids.has(id)) this.#ignored.delete(id);
      const fresh = [...ids].filter((id) => !this.containers.has(id) && !this.#ignored.has(id));
      if (fresh.length > 0) {
        const tasks = await this.#containerdTasks();
        // Read the node's table again: it must describe each new container as
        // it is now, after its create (the start gate rewires the rootfs then).
        this.#nodeMounts = parseMountinfo(this.deps.view.mountinfo('self') ?? '');
        let creating = 0;
        for (const id of fresh) {
          if (this.containers.has(id) || this.#ignored.has(id)) continue;
          const listed = tasks?.get(id);
          const task = this.deps.view.task(this.config.taskDir, id);
          // Both must say the task exists: containerd's list, and the pid file
          // runc writes once `runc create` has returned (alone if ctr fails).
          const pid = tasks ? (task?.pid ? listed?.pid : undefined) : task?.pid;
          if (!task || !pid) {
            creating++; // not created yet: its mounts are not complete
            continue;
          }
          if (listed && listed.status === 'STOPPED') {
            this.#ignored.set(id, 'exited before it was watched');
            continue;
          }
          const recorded = await this.#recordedSpec(id);
          this.#consider({ ...task, pid }, recorded, recorded && (await this.#criRequest(id, recorded)));
        }
        // A container being created raises no further node mount event once its
        // rootfs is mounted: look again shortly rather than at the next period.
        if (creating > 0) this.#retryDiscovery();
      }
    } finally {
      this.#discovering = false;
    }
    if (this.#rediscover) {
      this.#rediscover = false;
      await this.discover('discovery');
    }
  }

  /** containerd's tasks: id → pid and status; undefined when ctr cannot answer. */
  async #containerdTasks(): Promise<Map<string, { pid: number; status: string }> | undefined> {
    const c = this.config.containerd;
    const ctr = this.#helperProgram(CTR_PATH);
    if (!ctr.ok) {
      // Not believed: the pid files runc writes are evidence enough that a task exists.
      if (!this.#ctrFailed) this.error(undefined, `${ctr.reason}: not run; discovering from the shims' pid files instead`);
      this.#ctrFailed = true;
      return undefined;
    }
    const r = await this.deps.exec.run([ctr.execPath, '--address', c.address, '-n', c.namespace, 'tasks', 'ls'], { timeoutMs: 10_000 }).catch((err: unknown) => ({ exitCode: -1, stdout: Buffer.alloc(0), stderr: describeError(err) }));
    if (r.exitCode !== 0) {
      if (!this.#ctrFailed) this.error(undefined, `ctr tasks ls failed (exit ${r.exitCode}: ${r.stderr.trim()}); discovering from the shims' pid files instead`);
      this.#ctrFailed = true;
      return undefined;
    }
    this.#ctrFailed = false;
    return parseTaskList(r.stdout.toString());
  }

  alive(w: Pick<Watched, 'pid' | 'startTime' | 'nsLink'>): boolean {
    return this.deps.view.startTime(w.pid) === w.startTime && this.deps.view.mntNs(w.pid) === w.nsLink;
  }

  /** containerd's record of a task's spec; undefined (reported once) when it cannot be read, and the bundle's word is taken. */
  async #recordedSpec(id: string): Promise<RecordedSpec | undefined> {
    if (!this.deps.records) return undefined;
    try {
      const spec = await this.deps.records.recordedSpec(id);
      this.#recordsFailed = false;
      return spec;
    } catch (err) {
      if (!this.#recordsFailed) this.error(undefined, `containerd's record of ${id} cannot be read (${describeError(err)}): judging tasks by their bundles' own annotations until it can`);
      this.#recordsFailed = true;
      return undefined;
    }
  }

  /**
   * What CRI holds of a workload container (its pod, the request), when CRI
   * has it; undefined for a sandbox, a container made without CRI, or when
   * CRI cannot be asked (reported once).
   */
  async #criRequest(id: string, recorded: RecordedSpec): Promise<{ identity: CriIdentity; request: CriRequest } | undefined> {
    if (!this.deps.cri || recorded.annotations?.[CRI_ANNOTATIONS.containerType] !== 'container') return undefined;
    try {
      const identity = await this.deps.cri.ofContainer(id);
      const request = identity && (await this.deps.cri.requestOf(id));
      this.#criFailed = false;
      return identity && request ? { identity, request } : undefined;
    } catch (err) {
      if (!this.#criFailed) this.error(undefined, `CRI cannot say what was requested for ${id} (${describeError(err)}): judging containers by containerd's records alone until it can`);
      this.#criFailed = true;
      return undefined;
    }
  }

  /**
   * Which pod a task is and which mounts it must have come from containerd's
   * record when it can be read (lab/gates/bundle-spec.ts): the bundle's
   * config.json is root's to edit, before this daemon reads it. A bundle that
   * departs from the record (after the start gate's rewrite, on a gated root)
   * is itself a finding.
   */
  #consider(task: TaskInfo, recorded?: RecordedSpec, cri?: { identity: CriIdentity; request: CriRequest }): void {
    const a: Record<string, string | undefined> = { ...(recorded ?? task.spec).annotations, ...(cri ? { [CRI_ANNOTATIONS.namespace]: cri.identity.namespace, [CRI_ANNOTATIONS.podName]: cri.identity.pod, [CRI_ANNOTATIONS.containerName]: cri.identity.container } : {}) };
    const namespace = a[CRI_ANNOTATIONS.namespace];
    const mode = namespace === undefined ? undefined : modeFor(this.config, namespace);
    if (!mode) {
      this.#ignored.set(task.id, namespace === undefined ? 'not a CRI container' : `namespace ${namespace} is not watched`);
      return;
    }
    const pid = task.pid!;
    const startTime = this.deps.view.startTime(pid);
    const nsLink = this.deps.view.mntNs(pid);
    if (startTime === undefined || nsLink === undefined) return; // exited already
    const ctx = {
      bundleDir: task.bundleDir,
      nodeMounts: this.#nodeMounts,
      blockDevice: (majmin: string) => this.deps.view.blockDevice(majmin),
      realpath: (p: string) => this.deps.view.realpath(p),
    };
    const recordedSpec = recorded as OciSpec | undefined;
    const gated = recordedSpec ? deriveRootfs(recordedSpec, ctx).gated : false;
    const asWritten = (s: OciSpec) => (gated ? gatedSpec(s) : s);
    // The bundle must be what containerd recorded (with the start gate's rewrite on a gated root).
    const bundleEdits = recordedSpec ? specDifferences(task.spec, asWritten(recordedSpec)) : [];
    // The record itself, held to CRI's memory: the pod it names, and only mounts the request explains;
    // a mount nothing explains is not expected either, so it is also reported as the overmount it is.
    let expected = recordedSpec ? asWritten(recordedSpec) : task.spec;
    const recordChanges: string[] = [];
    if (cri && recordedSpec) {
      const ids = { containerId: task.id, sandboxId: cri.identity.sandboxId };
      const realpath = (p: string) => this.deps.view.realpath(p);
      recordChanges.push(...identityDifferences(cri.identity, recordedSpec.annotations ?? {}), ...departuresFromRequest(recordedSpec as RecordedProcessAndMounts, cri.request, undefined, ids, realpath));
      const unexplained = unexplainedMounts(recordedSpec, cri.request, ids, realpath);
      if (unexplained.length > 0) expected = asWritten({ ...recordedSpec, mounts: (recordedSpec.mounts ?? []).filter((m) => !unexplained.includes(m)) });
    }
    const expectation = deriveExpectation(expected, ctx);
    const sandbox = a[CRI_ANNOTATIONS.containerType] === 'sandbox';
    const w: Watched = {
      id: task.id,
      bundleDir: task.bundleDir,
      pid,
      startTime,
      nsLink,
      mode,
      namespace: namespace!,
      pod: a[CRI_ANNOTATIONS.podName],
      name: sandbox ? `${a[CRI_ANNOTATIONS.podName] ?? ''} (sandbox)` : a[CRI_ANNOTATIONS.containerName],
      image: sandbox ? a[CRI_ANNOTATIONS.sandboxImageName] : a[CRI_ANNOTATIONS.imageName],
      sandbox,
      expectation,
      layerMajmins: new Set(expectation.rootfs.layers.filter((l) => !l.problem && l.mount).map((l) => l.mount!.majmin)),
      reported: new Set(),
      stopped: false,
      polled: this.notify !== 'fanotify-mnt',
      addedAt: this.deps.now(),
    };
    this.containers.set(w.id, w);
    this.#notifier?.watch(w.id, `/proc/${pid}/ns/mnt`);
    this.activity('container-added', `watching ${describeContainer(w)} in ${mode} mode (pid ${pid}, ${nsLink})`, w.id, {
      mode,
      rootfs: { gated: expectation.rootfs.gated, layers: expectation.rootfs.layers.map((l) => ({ lowerdir: l.lowerdir, kind: l.kind, layerFile: l.layerFile, problem: l.problem })) },
      expectedMounts: expectation.mounts.length,
    });
    this.#checkGated(w);
    this.#checkBundle(w, bundleEdits);
    this.#checkRecord(w, recordChanges);
    w.sandboxFiles = this.#sandboxFiles(expected);
    this.scan(w, 'discovery');
    void this.#loadTrust(w).catch((err: unknown) => this.error(w, `layer trust: ${describeError(err)}`, err));
    void this.#loadNamespaceId(w).catch(() => {});
  }

  remove(w: Watched): void {
    this.containers.delete(w.id);
    this.schedule.unregister(w.id);
    const pending = this.#pendingScans.get(w.id);
    if (pending) clearTimeout(pending.timer);
    clearTimeout(w.confirmTimer);
    this.#pendingScans.delete(w.id);
    this.#notifier?.unwatch(w.id);
    this.activity('container-removed', `${describeContainer(w)} stopped`, w.id);
    if (this.config.releaseLeftovers) void this.releaseLeftovers(w).catch((err: unknown) => this.error(w, `leftover mounts: ${describeError(err)}`, err));
  }

  // ------------------------------------------------------------ mount scans

  scanSoon(id: string, eventTime?: number): void {
    const pending = this.#pendingScans.get(id);
    if (pending) return;
    const timer = setTimeout(() => {
      this.#pendingScans.delete(id);
      const w = this.containers.get(id);
      if (w) this.#guard(() => this.scan(w, 'fanotify', eventTime));
    }, 5);
    this.#pendingScans.set(id, { timer, eventTime });
  }

  scanAllSoon(trigger: ScanTrigger): void {
    if (this.#scanAllTimer) return;
    this.#scanAllTimer = setTimeout(() => {
      this.#scanAllTimer = undefined;
      this.#guard(() => this.scanAll(trigger));
    }, 10);
  }

  scanAll(trigger: ScanTrigger): void {
    for (const w of [...this.containers.values()]) this.scan(w, trigger);
    this.scanSecondNamespaces(trigger);
  }

  /**
   * A process of a container may leave the container's mount namespace
   * (unshare(CLONE_NEWNS), or nsenter from the node followed by unshare -m)
   * and mount there: its overmount is invisible in the init's mountinfo,
   * yet that process and its children run what it mounted. So every
   * process in a watched container's PID namespace whose mount namespace is
   * not the init's has its mountinfo diffed against the same spec; extra
   * and changed mounts are reported (a mount missing there hides nothing
   * from the container), with `second-mount-namespace`. fanotify marks
   * only the init's namespace, so these are seen by the full scan.
   * Containers in the node's PID namespace (hostPID) are skipped: every node
   * process would count.
   */
  scanSecondNamespaces(trigger: ScanTrigger): MountFinding[] {
    const view = this.deps.view;
    const nodePidNs = view.pidNs(1);
    const byPidNs = new Map<string, Watched[]>();
    for (const w of this.containers.values()) {
      if (w.stopped) continue;
      const ns = view.pidNs(w.pid);
      if (ns === undefined || ns === nodePidNs) continue;
      byPidNs.set(ns, [...(byPidNs.get(ns) ?? []), w]);
    }
    const out: MountFinding[] = [];
    if (byPidNs.size === 0) return out;
    const seen = new Map<Watched, Set<string>>();
    for (const pid of view.pids()) {
      const pns = view.pidNs(pid);
      const watched = pns === undefined ? undefined : byPidNs.get(pns);
      if (!watched) continue;
      const mnt = view.mntNs(pid);
      if (mnt === undefined) continue;
      for (const w of watched) {
        if (mnt === w.nsLink) continue;
        const done = seen.get(w) ?? new Set<string>();
        seen.set(w, done);
        if (done.has(mnt)) continue;
        done.add(mnt);
        out.push(...this.#scanSecond(w, pid, mnt, trigger));
      }
    }
    // A namespace that is gone may come back with new mounts: report them again then.
    for (const w of byPidNs.values()) {
      for (const x of w) {
        const live = seen.get(x) ?? new Set<string>();
        for (const k of x.reported) if (k.startsWith('mntns:') && !live.has(k.slice(6, k.indexOf(']') + 1))) x.reported.delete(k);
      }
    }
    return out;
  }

  #scanSecond(w: Watched, pid: number, mnt: string, trigger: ScanTrigger): MountFinding[] {
    const text = this.deps.view.mountinfo(pid);
    if (!text || this.deps.view.mntNs(pid) !== mnt) return [];
    this.#counters.total++;
    this.#counters.diffed++;
    const findings = diffMounts(w.expectation, parseMountinfo(text), {
      nodeMounts: this.#nodeMounts,
      layerMajmins: w.layerMajmins,
      kindOf: (p) => this.deps.view.pathKind(pid, p),
    }).filter((f) => !f.reasons.includes('missing-mount'));
    const fresh = findings
      .map((f) => ({ ...f, key: `mntns:${mnt}:${f.key}`, reasons: [...f.reasons, 'second-mount-namespace' as const], reason: `${f.reason}; in a second mount namespace (${mnt}) of the container's process ${pid}, which the container's init does not see` }))
      .filter((f) => !w.reported.has(f.key));
    if (fresh.length === 0 || !this.alive(w)) return [];
    this.#report(w, fresh, trigger);
    return fresh;
  }

  /** Reads one namespace and reports what is new. A container that is gone is not an error. */
  scan(w: Watched, trigger: ScanTrigger, eventTime?: number, confirming = false): MountFinding[] {
    if (this.#stopped || w.stopped) return [];
    const started = performance.now();
    this.#counters.total++;
    const text = this.deps.view.mountinfo(w.pid);
    if (!text) {
      this.discoverSoon();
      return [];
    }
    if (text === w.lastText && trigger !== 'discovery' && !confirming) return [];
    w.lastText = text;
    this.#counters.diffed++;
    const findings = diffMounts(w.expectation, parseMountinfo(text), {
      nodeMounts: this.#nodeMounts,
      layerMajmins: w.layerMajmins,
      kindOf: (p) => this.deps.view.pathKind(w.pid, p),
    });
    const keys = new Set(findings.map((f) => f.key));
    for (const k of w.reported) if (!keys.has(k) && !/^(layer|gate|sandbox-file|mntns):/.test(k)) w.reported.delete(k);
    const fresh = findings.filter((f) => !w.reported.has(f.key));
    const ms = performance.now() - started;
    this.#counters.lastMs = ms;
    this.#counters.maxMs = Math.max(this.#counters.maxMs, ms);
    if (fresh.length === 0) return [];
    // The pid may belong to another process by now: only alert on the container's own namespace.
    if (!this.alive(w)) {
      this.discoverSoon();
      return [];
    }
    // A namespace being torn down (its container exiting) loses its mounts
    // while the process can still be seen: a missing mount is reported only
    // if it is still missing, with the container still alive, a moment later.
    const now = confirming ? fresh : fresh.filter((f) => !f.reasons.includes('missing-mount'));
    if (now.length < fresh.length) this.#confirmSoon(w, trigger, eventTime);
    this.#report(w, now, trigger, eventTime);
    return now;
  }

  /** Alerts each finding once (remembered in `w.reported`) and, in enforce mode, stops the container. */
  #report(w: Watched, findings: readonly MountFinding[], trigger: ScanTrigger, eventTime?: number): void {
    for (const f of findings) {
      w.reported.add(f.key);
      this.alert(w, {
        kind: 'mount',
        reasons: f.reasons,
        reason: f.reason,
        mount: f.entry
          ? { line: f.entry.line, mountPoint: f.entry.mountPoint, fstype: f.entry.fstype, source: f.entry.source, root: f.entry.root, majmin: f.entry.majmin, hostPath: f.hostPath }
          : f.expected
            ? { line: '', mountPoint: f.expected.mountPoint, fstype: f.expected.fstypes?.join('|') ?? '', source: '', root: f.expected.root ?? '', majmin: f.expected.majmin ?? '' }
            : undefined,
        trigger,
        eventTime,
      });
    }
    if (w.mode === 'enforce' && findings.length > 0) void this.enforce(w, findings[0]!.reason);
  }

  #confirmSoon(w: Watched, trigger: ScanTrigger, eventTime?: number): void {
    if (w.confirmTimer) return;
    w.confirmTimer = setTimeout(() => {
      w.confirmTimer = undefined;
      if (this.containers.get(w.id) === w) this.#guard(() => this.scan(w, trigger, eventTime, true));
    }, CONFIRM_MS);
  }

  // ------------------------------------------------------------ the controls themselves

  /** A protected workload container must run on the start gate's root: judged from the node's mount table. */
  #checkGated(w: Watched): void {
    if (w.sandbox || !this.#protectedNamespaces.some((p) => globMatch(p, w.namespace))) return;
    const ungated = ungatedReason(w.expectation.rootfs);
    if (ungated) this.#gateFinding(w, 'ungated', ungated.reasons, ungated.reason);
  }

  /** The bundle a watched task runs from must be what containerd recorded (and the start gate wrote). */
  #checkBundle(w: Watched, edits: readonly string[]): void {
    if (edits.length === 0) return;
    this.#gateFinding(w, 'bundle-edited', ['bundle-edited'], `the bundle's config.json is not the spec containerd recorded for this container${w.expectation.rootfs.gated ? ' (with the start gate\'s rewrite)' : ''}: ${edits.join('; ')}; it was edited on the node`);
  }

  /** containerd's record of a watched workload container must name the pod CRI has, and mount only what was requested. */
  #checkRecord(w: Watched, changes: readonly string[]): void {
    if (changes.length === 0) return;
    this.#gateFinding(w, 'record-changed', ['record-changed'], `containerd's record of this container does not follow from what CRI holds of it: ${changes.join('; ')}; the record was changed through containerd's API`);
  }

  /** A `gate` alert found at discovery, once per container and key; enforce mode stops the container. */
  #gateFinding(w: Watched, key: string, reasons: string[], reason: string): void {
    w.reported.add(`gate:${key}`);
    this.alert(w, { kind: 'gate', reasons, reason, trigger: 'discovery' });
    if (w.mode === 'enforce') void this.enforce(w, reason);
  }

  #sandboxFiles(spec: { mounts?: { destination: string; source?: string; type?: string; options?: string[] }[] }): Map<string, { destination: string; sha: string }> {
    const out = new Map<string, { destination: string; sha: string }>();
    for (const m of spec.mounts ?? []) {
      if (!SANDBOX_FILES.includes(m.destination) || !m.source) continue;
      out.set(m.source, { destination: m.destination, sha: sha256(this.deps.view.readBytes(m.source)) });
    }
    return out;
  }

  /**
   * The runtime writes a pod's resolv.conf, hosts and hostname once, when
   * the sandbox is made; root rewriting them on the node (or through
   * /proc/<pid>/root) changes name resolution in a running container with
   * no mount change at all. Each change is reported once per new content.
   */
  checkSandboxFiles(): void {
    for (const w of this.containers.values()) {
      if (w.stopped || !w.sandboxFiles) continue;
      for (const [source, pinned] of w.sandboxFiles) {
        const now = sha256(this.deps.view.readBytes(source));
        const key = `sandbox-file:${source}:${now}`;
        if (now === pinned.sha || w.reported.has(key)) continue;
        w.reported.add(key);
        const reason = `${pinned.destination} changed on the node since the container was first seen (${source}): sha256 ${pinned.sha} → ${now}`;
        this.alert(w, { kind: 'mount', reasons: ['sandbox-file-changed'], reason, trigger: 'poll' });
        if (w.mode === 'enforce') void this.enforce(w, reason);
      }
    }
  }

  /** Reports each change of a file the node gates are made of, once per new content. */
  checkDefences(): void {
    if (this.#defencePins.size === 0) return;
    const files = pinnedDefenceFiles(this.#defencePins);
    for (const c of changedDefences(this.#defencePins, fingerprint((p) => this.deps.view.readBytes(p), files), files)) {
      const key = `${c.path}:${c.now}`;
      if (this.#defenceReported.has(key)) continue;
      this.#defenceReported.add(key);
      this.nodeAlert(['defence-changed'], `${c.what} (${c.path}) changed since ${this.#pinnedBy}: sha256 ${c.pinned} → ${c.now}`, { file: c.path, pinned: c.pinned, now: c.now });
    }
  }

  /** An alert about the node rather than one container. */
  nodeAlert(reasons: string[], reason: string, defence?: WatchdogAlert['defence']): void {
    const now = this.deps.now();
    this.#counters.alerts++;
    const alert: WatchdogAlert = {
      time: new Date(now).toISOString(),
      component: 'watchdog',
      kind: 'defence',
      container: 'node',
      mode: 'detect',
      action: 'alert',
      reasons,
      reason,
      defence,
      notify: this.notify,
      trigger: 'poll',
      detectedAt: now,
      watchdog: { pid: this.#pid, startedAt: this.startedAt },
    };
    this.deps.appendLine(this.config.alertLog, JSON.stringify(alert));
  }

  // ------------------------------------------------------------ alerts and enforcement

  alert(w: Watched, a: Pick<WatchdogAlert, 'kind' | 'reasons' | 'reason' | 'mount' | 'layer' | 'trigger' | 'eventTime'>): void {
    const now = this.deps.now();
    const alert: WatchdogAlert = {
      time: new Date(now).toISOString(),
      component: 'watchdog',
      kind: a.kind,
      container: w.id,
      containerName: w.name,
      pod: w.pod,
      namespace: w.namespace,
      image: w.image,
      mode: w.mode,
      action: w.mode === 'enforce' ? 'stop' : 'alert',
      reasons: a.reasons,
      reason: `${describeContainer(w)}: ${a.reason}`,
      mount: a.mount,
      layer: a.layer,
      notify: this.notify,
      trigger: a.trigger,
      eventTime: a.eventTime,
      detectedAt: now,
      watchdog: { pid: this.#pid, startedAt: this.startedAt },
    };
    this.#counters.alerts++;
    this.deps.appendLine(this.config.alertLog, JSON.stringify(alert));
  }

  /** Enforce mode: kill the container's task through containerd (the pid directly if that fails). */
  async enforce(w: Watched, why: string): Promise<void> {
    if (w.stopped) return;
    w.stopped = true;
    const c = this.config.containerd;
    const ctr = this.#helperProgram(CTR_PATH);
    const r = !ctr.ok
      ? { exitCode: -1, stdout: Buffer.alloc(0), stderr: `${ctr.reason}: not run` }
      : await this.deps.exec.run([ctr.execPath, '--address', c.address, '-n', c.namespace, 'tasks', 'kill', '--signal', 'SIGKILL', w.id], { timeoutMs: 10_000 }).catch((err: unknown) => ({
          exitCode: -1,
          stdout: Buffer.alloc(0),
          stderr: describeError(err),
        }));
    let how = `ctr tasks kill --signal SIGKILL ${w.id}`;
    if (r.exitCode !== 0) {
      how += ` failed (${r.stderr.trim()}); `;
      if (this.alive(w)) {
        try {
          this.deps.kill(w.pid, 'SIGKILL');
          how += `killed pid ${w.pid}`;
        } catch (err) {
          how += `kill ${w.pid} failed: ${describeError(err)}`;
        }
      } else how += 'the container had exited already';
    }
    this.activity('enforced', `stopped ${describeContainer(w)} (enforce mode): ${why}; ${how}`, w.id, { exitCode: r.exitCode, how });
    this.discoverSoon();
  }

  // ------------------------------------------------------------ layer re-verification

  async #loadTrust(w: Watched): Promise<void> {
    if (!w.image) return;
    const application = this.#tiers !== undefined && this.deps.applicationTrust !== undefined && tierOf(this.#tiers, w.namespace).tier === 'application';
    if (!application && this.#trustedRoots.length === 0) {
      w.trust = { ok: false, reason: `no trusted roots in ${this.config.trustedRootsFile}` };
      return;
    }
    const key = `${application ? 'application' : 'signed'} ${w.image}`;
    let decision = this.#trustCache.get(key);
    if (!decision) {
      // Decided once per image; pairing with the lowerdirs is per container.
      decision = application
        ? this.deps.applicationTrust!(w.image)
        : imageTrust(this.deps.exec, this.config.containerd, w.image, { allowedFormats: this.config.allowedFormats, trustedRoots: this.#trustedRoots });
      this.#trustCache.set(key, decision);
    }
    const paired = pairLayers(w.expectation.rootfs.layers, await decision, this.#standard?.rootHash);
    w.trust = paired;
    if (!this.containers.has(w.id)) return;
    if (!paired.ok) {
      this.activity('trust', `${describeContainer(w)}: layers cannot be re-verified: ${paired.reason}`, w.id, { ok: false, reason: paired.reason });
      return;
    }
    for (const l of paired.layers) this.schedule.register(l.file, w.id, l.signed, l.digest, this.deps.fileIdentity(l.file));
    this.activity('trust', `${describeContainer(w)}: ${paired.layers.length} layers to re-verify every ${this.config.reverify.minIntervalMs} ms (${paired.format})`, w.id, { ok: true, layers: paired.layers });
    this.#armReverify();
  }

  #armReverify(): void {
    if (this.#stopped) return;
    clearTimeout(this.#reverifyTimer);
    const wait = this.schedule.nextDueIn(this.deps.now());
    if (!Number.isFinite(wait)) return;
    this.#reverifyTimer = setTimeout(() => this.#guard(() => this.reverifyDue()), Math.max(wait, 10));
  }

  /** Starts every due verification the parallelism budget allows. */
  reverifyDue(): void {
    const now = this.deps.now();
    let running = [...this.schedule.layers.values()].filter((r) => r.running).length;
    for (const rec of this.schedule.due(now)) {
      if (running >= this.#sem.limit) break;
      running++;
      rec.running = true;
      rec.lastStartedAt = now;
      void this.#sem
        .run(() => this.verifyLayer(rec))
        .catch((err: unknown) => this.error(undefined, `re-verification of ${rec.file}: ${describeError(err)}`, err))
        .finally(() => {
          rec.running = false;
          this.#armReverify();
        });
    }
    this.#armReverify();
  }

  async verifyLayer(rec: LayerRecord): Promise<void> {
    const started = this.deps.now();
    const identity = this.deps.fileIdentity(rec.file);
    if (rec.identity && identity !== rec.identity && !rec.reported.has(`identity:${identity}`)) {
      rec.reported.add(`identity:${identity}`);
      this.#layerAlert(rec, undefined, ['layer-replaced'], `the layer file ${rec.file} was replaced on the node (inode ${rec.identity} → ${identity ?? 'missing'}); the mounted layer is no longer the file on disk`);
    }
    let result: { hex: string; bytes: number };
    try {
      result = await this.deps.hash(rec.file, this.budget);
    } catch (err) {
      rec.last = { at: started, ok: false, error: describeError(err), bytes: 0, ms: this.deps.now() - started };
      if (!rec.reported.has(`error:${rec.last.error}`)) {
        rec.reported.add(`error:${rec.last.error}`);
        this.#layerAlert(rec, undefined, ['layer-unverifiable'], `the layer file ${rec.file} cannot be re-verified: ${rec.last.error}`);
      }
      return;
    }
    this.#counters.verifications++;
    this.#counters.bytesRead += result.bytes;
    const bad = [...rec.signedBy.entries()].filter(([, s]) => !equalHex(result.hex, s.signed));
    rec.last = { at: started, ok: bad.length === 0, actual: result.hex, bytes: result.bytes, ms: this.deps.now() - started };
    if (bad.length === 0 || rec.reported.has(`hash:${result.hex}`)) return;
    rec.reported.add(`hash:${result.hex}`);
    const [firstId, first] = bad[0]!;
    const trust = this.containers.get(firstId)?.trust;
    const basis = trust?.ok && trust.format.startsWith('application') ? 'the reference rebuilt from its verified blob is' : 'the signed manifest says';
    this.#layerAlert(rec, result, ['layer-modified'], `the layer file ${rec.file} (layer ${first.digest}) has dm-verity root hash ${result.hex}, ${basis} ${first.signed}: it was modified in place while in use`);
  }

  #layerAlert(rec: LayerRecord, result: { hex: string; bytes: number } | undefined, reasons: string[], reason: string): void {
    for (const [id, s] of rec.signedBy) {
      const w = this.containers.get(id);
      if (!w || (result && equalHex(result.hex, s.signed))) continue;
      this.alert(w, { kind: 'layer', reasons, reason, layer: { file: rec.file, digest: s.digest, signed: s.signed, actual: result?.hex, bytes: result?.bytes }, trigger: 'reverify' });
      if (w.mode === 'enforce') void this.enforce(w, reason);
    }
  }

  // ------------------------------------------------------------ leftover mounts

  /**
   * Detaches every mount a stopped container's namespace still holds (see
   * leftovers.ts). Namespace numbers (mnt:[N]) are reused as soon as a
   * namespace is freed, possibly by a container starting right now: a
   * holder is only acted on through the release helper's check of the
   * namespace's unique id, and never when that id is unknown.
   */
  async releaseLeftovers(w: Watched): Promise<void> {
    const inits = new Set(this.deps.view.taskIds(this.config.taskDir).map((id) => this.deps.view.task(this.config.taskDir, id)?.pid));
    const holders = findHolders(w.nsLink, this.deps.view, parseMountinfo(this.deps.view.mountinfo('self') ?? '')).filter(
      // The init of a container that exists is in its own namespace, never a leftover.
      (h) => !(h.kind === 'process' && inits.has(h.pid)),
    );
    if (holders.length === 0) {
      this.activity('namespace-freed', `${describeContainer(w)}: nothing holds ${w.nsLink}; the kernel released its mounts`, w.id);
      return;
    }
    const program = this.#helperProgram(this.config.releaseHelper);
    if (!program.ok) {
      this.activity('namespace-held', `${describeContainer(w)}: ${holders.length} holder(s) of ${w.nsLink} found, not released: ${program.reason}`, w.id, { holders });
      return;
    }
    if (!w.nsId) {
      this.activity('namespace-held', `${describeContainer(w)}: ${holders.length} holder(s) of ${w.nsLink} found, but the namespace's unique id is unknown (NS_MNT_GET_INFO, Linux 6.12), so it cannot be told from a new namespace with the same number; not releasing`, w.id, { holders });
      return;
    }
    const helper = program.execPath;
    for (const holder of holders) {
      const list = async () => {
        const r = await this.deps.exec.run([helper, 'mountinfo', holder.path, '--ns-id', w.nsId!], { timeoutMs: 10_000 });
        if (r.exitCode === 4) return undefined; // another namespace with the same number
        if (r.exitCode !== 0) throw new Error(`${helper} mountinfo ${holder.path} failed with exit code ${r.exitCode}: ${r.stderr.trim()}`);
        return parseMountinfo(r.stdout.toString());
      };
      const before = await list();
      if (!before) continue;
      const released: string[] = [];
      let remaining = before;
      for (let round = 0; round < 5; round++) {
        const plan = planRelease(remaining);
        if (plan.length === 0) break;
        const r = await this.deps.exec.run([helper, 'umount', holder.path, '--ns-id', w.nsId, ...plan], { timeoutMs: 10_000 });
        if (r.exitCode === 4) break;
        for (const line of r.stdout.toString().split('\n').filter(Boolean)) {
          const o = JSON.parse(line) as { mountPoint: string; released: boolean };
          if (o.released) released.push(o.mountPoint);
        }
        const next = await list();
        if (!next) break;
        const progress = next.length < remaining.length;
        remaining = next;
        if (!progress) break;
      }
      this.activity('leftovers-released', `${describeContainer(w)} stopped but ${holder.kind} ${holder.pid ?? holder.path} still held ${w.nsLink} (namespace ${w.nsId}) with ${before.length - 1} mounts; detached ${released.length}, ${Math.max(0, remaining.length - 1)} left`, w.id, {
        holders,
        released,
        remaining: remaining.map((e) => e.line),
      });
      return;
    }
    this.activity('namespace-freed', `${describeContainer(w)}: ${w.nsLink} now belongs to another namespace (the number was reused); the container's namespace is gone`, w.id, { holders });
  }

  /** The namespace's unique id, read while the container runs (release-mounts nsid). */
  async #loadNamespaceId(w: Watched): Promise<void> {
    if (w.nsId) return;
    const helper = this.#helperProgram(this.config.releaseHelper);
    if (!helper.ok) return; // said when the leftovers are looked at
    const r = await this.deps.exec.run([helper.execPath, 'nsid', `/proc/${w.pid}/ns/mnt`], { timeoutMs: 10_000 });
    const id = r.stdout.toString().trim();
    // Only if the process is still the container: the pid could be reused.
    if (r.exitCode === 0 && /^\d+$/.test(id) && this.alive(w)) w.nsId ??= id;
  }

  // ------------------------------------------------------------ records

  activity(kind: ActivityKind, message: string, containerOrData?: string | unknown, data?: unknown): void {
    const container = typeof containerOrData === 'string' ? containerOrData : undefined;
    const record: ActivityRecord = { time: new Date(this.deps.now()).toISOString(), kind, container, message, data: typeof containerOrData === 'string' ? data : containerOrData };
    try {
      this.deps.appendLine(this.config.activityLog, JSON.stringify(record));
    } catch (err) {
      this.deps.stderr(`watchdog: cannot write the activity log: ${describeError(err)}`);
    }
  }

  error(w: Watched | undefined, message: string, _cause?: unknown): void {
    this.#counters.errors++;
    this.deps.stderr(`watchdog: ${w ? `${describeContainer(w)}: ` : ''}${message}`);
    this.activity('error', message, w?.id);
  }

  status(): DaemonStatus {
    const cpu = this.deps.cpuUsage();
    return {
      pid: this.#pid,
      startedAt: this.startedAt,
      updatedAt: new Date(this.deps.now()).toISOString(),
      notify: this.notify,
      notifyDetail: this.notifyDetail,
      helperPid: this.#notifier?.pid,
      containers: [...this.containers.values()].map((w) => ({
        id: w.id,
        name: w.name,
        pod: w.pod,
        namespace: w.namespace,
        mode: w.mode,
        pid: w.pid,
        sandbox: w.sandbox,
        polled: w.polled,
        stopped: w.stopped,
        layersSigned: w.trust?.ok,
        trustReason: w.trust && !w.trust.ok ? w.trust.reason : undefined,
      })),
      ignored: this.#ignored.size,
      scans: { total: this.#counters.total, diffed: this.#counters.diffed, lastMs: this.#counters.lastMs, maxMs: this.#counters.maxMs },
      alerts: this.#counters.alerts,
      errors: this.#counters.errors,
      reverify: {
        budget: this.config.reverify,
        layers: [...this.schedule.layers.values()].map((r) => ({
          file: r.file,
          users: r.signedBy.size,
          lastStartedAt: r.lastStartedAt === undefined ? undefined : new Date(r.lastStartedAt).toISOString(),
          ok: r.last?.ok,
          bytes: r.last?.bytes,
          ms: r.last?.ms,
          error: r.last?.error,
        })),
        verifications: this.#counters.verifications,
        bytesRead: this.#counters.bytesRead,
        waitedMs: Math.round(this.budget.waitedMs),
        running: [...this.schedule.layers.values()].filter((r) => r.running).length,
      },
      cpu: { userUs: cpu.user, systemUs: cpu.system },
    };
  }

  writeStatus(): void {
    try {
      this.deps.writeFile(this.config.statusFile, JSON.stringify(this.status(), null, 2));
    } catch (err) {
      this.deps.stderr(`watchdog: cannot write the status file: ${describeError(err)}`);
    }
  }
}

export function describeContainer(w: Pick<Watched, 'namespace' | 'pod' | 'name' | 'id'>): string {
  return `${w.namespace}/${w.pod ?? '?'}/${w.name ?? w.id.slice(0, 12)}`;
}

/** `ctr tasks ls`: a header, then TASK PID STATUS per line. */
export function parseTaskList(text: string): Map<string, { pid: number; status: string }> {
  const out = new Map<string, { pid: number; status: string }>();
  for (const line of text.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && pid && status && /^\d+$/.test(pid)) out.set(id, { pid: Number(pid), status });
  }
  return out;
}
