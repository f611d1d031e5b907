/**
 * The daemon's I/O shell, run inside the audit sidecar (host PID and
 * network namespaces, AUDIT_CONTROL, AUDIT_READ, SYS_PTRACE): audit-tap as
 * a child process, /proc, auditctl, the node's CRI socket, and the files of
 * the lab's audit directory (layout.ts).
 *
 * Turning kernel auditing on is host-wide: the first lab that finds it off
 * leaves a marker, and the last lab to remove its rules turns it off again
 * (under a lock, since labs start and stop concurrently). Auditing that was
 * on before any lab is never turned off. The kernel's backlog limit is
 * raised (kernel-rules.ts LAB_BACKLOG_LIMIT) and put back the same way.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { watch, appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CriClient } from '../../cri/client.ts';
import { describeError } from '../../errors.ts';
import { poll } from '../../wait.ts';
import { AuditEngine, readRulesFiles } from '../engine.ts';
import { AuditDaemon, removeLabRules, type CommandResult, type DaemonConfig, type DaemonIo } from './daemon.ts';
import { KEY_PREFIX, LAB_BACKLOG_LIMIT, parseAuditStatus, parseRuleList } from './kernel-rules.ts';
import { restoreHostAudit } from './host-state.ts';
import { AUDIT_FILES, HOST_FILES, SIDECAR_CRI_SOCKET, SIDECAR_PATHS } from './layout.ts';
import type { ProcReader } from './procfs.ts';
import { HOLD_SCRIPT, HOLD_SCRIPT_PATH, pendingHolds, START_HOLD_DIR, STOPPED_NOTE, type HoldAnswer } from './start-hold.ts';

const root = SIDECAR_PATHS.root;
const at = (file: string) => join(root, file);

export const realProc: ProcReader = {
  readText(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  readLink(path) {
    try {
      return readlinkSync(path);
    } catch {
      return undefined;
    }
  },
  pids() {
    return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  },
  tasks(pid) {
    try {
      return readdirSync(`/proc/${pid}/task`).filter((n) => /^\d+$/.test(n)).map(Number);
    } catch {
      return [];
    }
  },
};

export function auditctl(args: readonly string[]): Promise<CommandResult> {
  return run('auditctl', args);
}

function run(file: string, args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ exitCode: code, stdout: String(stdout), stderr: String(stderr) || (err && code !== 0 && !stderr ? err.message : '') });
    });
  });
}

function log(line: string): void {
  appendFileSync(at(AUDIT_FILES.log), `${new Date().toISOString()} ${line}\n`);
}

/** Writes a file atomically, so the host never reads half of it. */
function writeJson(file: string, data: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2));
  renameSync(tmp, file);
}

// ------------------------------------------------------- host-wide enable state

async function withHostLock<T>(work: () => Promise<T>): Promise<T> {
  const lock = join(SIDECAR_PATHS.host, HOST_FILES.lock);
  const take = async () => {
    try {
      mkdirSync(lock);
      return true;
    } catch {
      // A lab killed while holding the lock leaves it behind: break it when old.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 30_000) rmSync(lock, { recursive: true, force: true });
      return false;
    }
  };
  if (!(await poll(take, (taken) => taken, { timeoutMs: 20_000, intervalMs: 50 })).ok) throw new Error(`host audit lock ${lock} held for more than 20 s`);
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Switches kernel auditing on if it is off (noting that it was, for the last
 * lab to put back), raises the backlog limit, then runs `then` (the lab's own
 * rules) under the same host lock: a lab that tears down meanwhile and finds
 * no other lab's rule would otherwise switch auditing off under it.
 */
export async function enableAuditing(then: () => Promise<void> = async () => {}): Promise<void> {
  await withHostLock(async () => {
    const status = parseAuditStatus((await auditctl(['-s'])).stdout);
    if (status.enabled === 2) throw new Error('kernel auditing is locked (enabled 2): rules cannot be added until reboot');
    const by = { by: process.env.HOSTNAME ?? '', at: new Date().toISOString() };
    if (status.enabled === 0) {
      writeJson(join(SIDECAR_PATHS.host, HOST_FILES.enabledMarker), { enabledBefore: 0, ...by });
      const r = await auditctl(['-e', '1']);
      if (r.exitCode !== 0) throw new Error(`auditctl -e 1 exited ${r.exitCode}: ${r.stderr.trim()}`);
    }
    const backlogMarker = join(SIDECAR_PATHS.host, HOST_FILES.backlogMarker);
    if (status.backlogLimit !== undefined && status.backlogLimit < LAB_BACKLOG_LIMIT && !existsSync(backlogMarker)) {
      writeJson(backlogMarker, { backlogBefore: status.backlogLimit, ...by });
      const r = await auditctl(['-b', String(LAB_BACKLOG_LIMIT)]);
      // Not fatal: the lab still audits, and a record the kernel drops raises the records-lost alert.
      if (r.exitCode !== 0) {
        rmSync(backlogMarker, { force: true });
        log(`backlog limit left at ${status.backlogLimit}: auditctl -b ${LAB_BACKLOG_LIMIT} exited ${r.exitCode}: ${r.stderr.trim()}`);
      }
    }
    await then();
  });
}

export interface CleanupReport {
  /** This lab's rules still listed after removal: should be empty. */
  remaining: string[];
  /** Rules of other labs still set. */
  otherLabRules: number;
  /** Auditing turned back off (this was the last lab and a lab had turned it on). */
  disabled: boolean;
  /** The kernel's backlog limit put back to what it was before a lab raised it (this was the last lab). */
  backlogRestored?: number;
}

/** Removes the lab's rules; when no lab rule is left, puts back the host-wide state labs changed. */
export async function cleanupLab(labId: string): Promise<CleanupReport> {
  return withHostLock(async () => {
    const remaining = await removeLabRules(auditctl, labId);
    const all = parseRuleList((await auditctl(['-l'])).stdout);
    const otherLabRules = all.filter((r) => r.keys.some((k) => k.startsWith(KEY_PREFIX))).length - remaining.length;
    const restored = otherLabRules === 0 && remaining.length === 0 ? await restoreHostAudit(SIDECAR_PATHS.host, auditctl) : { disabled: false };
    return { remaining, otherLabRules, ...restored };
  });
}

// ---------------------------------------------------------------------- run

function readConfig(path: string): DaemonConfig {
  return JSON.parse(readFileSync(path, 'utf8')) as DaemonConfig;
}

/** Rules files in the lab's rules directory, in name order. */
export function rulesFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => /\.ya?ml$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** Whether the node's init still runs: its pid exists and sits in the node's cgroup (pids get reused). */
function nodeAlive(config: DaemonConfig): boolean {
  const cgroup = realProc.readText(`/proc/${config.nodePid}/cgroup`);
  return cgroup !== undefined && cgroup.includes(config.nodeContainerId);
}

export async function runDaemon(configPath = at(AUDIT_FILES.config)): Promise<void> {
  const config = readConfig(configPath);
  mkdirSync(at('control'), { recursive: true });
  const cri = new CriClient(SIDECAR_CRI_SOCKET);
  const io: DaemonIo = {
    now: () => new Date(),
    proc: realProc,
    listContainers: async () => (await cri.listContainers()).map((c) => ({ id: c.id, state: c.state })),
    containerStatus: (id) => cri.containerStatus(id),
    auditctl,
    // The audit component's own static helper joins the node's mount namespace: no program of the node runs.
    auditctlInNode: (args) => run(at(AUDIT_FILES.rule), [String(config.nodePid), ...args]),
    readRules: (paths) => readRulesFiles(paths),
    emit: (alert) => {
      appendFileSync(at(AUDIT_FILES.alerts), JSON.stringify(alert) + '\n');
      statusDue = true;
    },
    record: (lines) => appendFileSync(at(AUDIT_FILES.records), lines.join('\n') + '\n'),
    tearingDown: () => existsSync(at(AUDIT_FILES.stopping)),
    log,
  };
  // An alert makes the status due at once, so that status and alerts agree when read together.
  let statusDue = false;
  // The start hold's directory in the node, through the node's root (start-hold.ts).
  const holdDir = `/proc/${config.nodePid}/root${START_HOLD_DIR}`;
  const holdScript = `/proc/${config.nodePid}/root${HOLD_SCRIPT_PATH}`;
  const stoppedNote = `/proc/${config.nodePid}/root${STOPPED_NOTE}`;
  const daemon = new AuditDaemon(config, io, new AuditEngine({ hostname: config.hostname }));
  let tap: ChildProcess | undefined;
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;

  const writeStatus = (extra: Record<string, unknown> = {}) => writeJson(at(AUDIT_FILES.status), { ...daemon.status(), pid: process.pid, ...extra });

  const shutdown = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${why}`);
    for (const t of timers) clearInterval(t);
    // No daemon answers holds any more: starts must not wait 15 s for one.
    // The start gate then refuses protected starts at once and quotes the note.
    try {
      writeFileSync(stoppedNote, `the audit daemon of lab ${config.labId} stopped at ${new Date().toISOString()}: ${why}\n`);
    } catch {
      // no hold directory: the hold was never offered
    }
    rmSync(holdScript, { force: true });
    tap?.kill('SIGTERM');
    cri.close();
    try {
      const report = await cleanupLab(config.labId);
      log(`rules removed; remaining ${report.remaining.length}, other labs' rules ${report.otherLabRules}, auditing turned off: ${report.disabled}`);
      writeStatus({ stopped: why, cleanup: report });
    } catch (err) {
      log(`cleanup failed: ${describeError(err)}`);
    }
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));

  try {
    await enableAuditing(() => daemon.start());
  } catch (err) {
    log(`start failed: ${describeError(err)}`);
    writeStatus({ error: describeError(err) });
    await shutdown('start failed', 1);
    return;
  }

  tap = spawn(at(AUDIT_FILES.tap), [], { stdio: ['ignore', 'pipe', 'pipe'] });
  createInterface({ input: tap.stdout! }).on('line', (line) => {
    try {
      daemon.handleTapLine(line);
    } catch (err) {
      log(`record handling failed: ${describeError(err)}`);
    }
  });
  tap.stderr!.on('data', (d: Buffer) => log(`audit-tap: ${d.toString().trim()}`));
  tap.on('exit', (code) => void shutdown(`audit-tap exited with ${code}`, 1));
  // The hold is offered once the tap listens: a container held and then started is audited from its first exec.
  await waitForTap(() => daemon.status().tapReady, 5_000);
  try {
    mkdirSync(holdDir, { recursive: true });
    writeFileSync(`${holdScript}.tmp`, HOLD_SCRIPT, { mode: 0o755 });
    renameSync(`${holdScript}.tmp`, holdScript);
    rmSync(stoppedNote, { force: true });
  } catch (err) {
    log(`start hold not offered (containers start before their rules are set): ${describeError(err)}`);
  }

  let generation = -1;
  let k8sOffset = 0;
  const every = (ms: number, fn: () => unknown) => {
    timers.push(setInterval(() => {
      Promise.resolve()
        .then(fn)
        .catch((err) => log(describeError(err)));
    }, ms));
  };
  every(200, async () => {
    if ((await daemon.syncInventory()) > 0) writeStatus();
  });
  every(300, () => daemon.tick());
  // Whether the node's mount watchdog still runs (defence-liveness.ts).
  every(500, () => daemon.checkWatchdog());
  // Records the kernel drops (its backlog full) raise the records-lost alert.
  const readKernelStatus = async () => daemon.noteKernelStatus(parseAuditStatus((await auditctl(['-s'])).stdout));
  await readKernelStatus();
  every(2000, readKernelStatus);
  const answering = new Set<string>();
  const answerHolds = () => {
    let entries: string[];
    try {
      entries = readdirSync(holdDir);
    } catch {
      return;
    }
    for (const id of pendingHolds(entries)) {
      if (answering.has(id)) continue;
      answering.add(id);
      void daemon
        .watchBeforeStart(id)
        .then(({ watch, reason }) => {
          const answer: HoldAnswer = { id, rules: watch?.rules.length ?? 0, skipped: watch ? watch.skipped : [reason ?? ''], time: new Date().toISOString() };
          writeFileSync(`${holdDir}/${id}.ack`, JSON.stringify(answer) + '\n');
          if (watch) log(`start hold ${id.slice(0, 12)}: ${answer.rules} rules set before start${answer.skipped.length ? `, skipped: ${answer.skipped.join('; ')}` : ''}`);
          writeStatus();
        })
        .catch((err) => log(`start hold ${id.slice(0, 12)} failed: ${describeError(err)}`))
        .finally(() => answering.delete(id));
    }
  };
  // A request is answered as soon as inotify reports it; the poll is the
  // fallback for a watch that cannot be set or misses an event.
  try {
    const watcher = watch(holdDir, () => answerHolds());
    watcher.on('error', (err) => log(`start hold watch failed, polling only: ${describeError(err)}`));
  } catch (err) {
    log(`start hold watch not set, polling only: ${describeError(err)}`);
  }
  every(250, answerHolds);
  every(250, async () => {
    const request = realProc.readText(at(AUDIT_FILES.request));
    if (request === undefined) return;
    const { generation: g, files } = JSON.parse(request) as { generation: number; files: string[] };
    if (g === generation) return;
    generation = g;
    const result = await daemon.reload(g, files.map((f) => at(f)));
    writeJson(at(AUDIT_FILES.result), result);
    writeStatus();
  });
  every(250, () => {
    k8sOffset = tailJsonl(at(AUDIT_FILES.k8sAudit), k8sOffset, (entry) => {
      const { record, object } = entry as { record: unknown; object?: unknown };
      if (isDecisionRecord(record)) daemon.handleAdmission(record, object);
    });
  });
  // The webhook in the node logs one decision record per line; read through
  // the node's root, as it is written.
  const decisions = config.admissionDecisionLog === undefined ? undefined : `/proc/${config.nodePid}/root${config.admissionDecisionLog}`;
  let decisionsOffset = 0;
  if (decisions !== undefined) {
    every(250, () => {
      decisionsOffset = tailJsonl(decisions, decisionsOffset, (record) => {
        if (isDecisionRecord(record)) daemon.handleAdmission(record);
      });
    });
  }
  // On a kind control plane, kube-apiserver's own audit log (log backend),
  // read through the node's root from where it ends now: events from
  // before the daemon started (the cluster's bootstrap) are not evaluated.
  const apiServerLog = config.apiServerAuditLog === undefined ? undefined : `/proc/${config.nodePid}/root${config.apiServerAuditLog}`;
  if (apiServerLog !== undefined) {
    let apiServerOffset = statSync(apiServerLog, { throwIfNoEntry: false })?.size ?? 0;
    every(250, () => {
      apiServerOffset = tailJsonl(apiServerLog, apiServerOffset, (event) => daemon.handleApiServerEvent(event));
    });
  }
  every(250, () => {
    if (!nodeAlive(config)) void shutdown(`lab node (pid ${config.nodePid}) is gone`, 0);
  });
  every(1000, () => writeStatus());
  every(50, () => {
    if (!statusDue) return;
    statusDue = false;
    writeStatus();
  });
  writeStatus();
  log(`started for lab ${config.labId}, node pid ${config.nodePid}`);
}

/** Waits (bounded) until audit-tap has joined the multicast group; goes on regardless after the timeout. */
async function waitForTap(ready: () => boolean, timeoutMs: number): Promise<void> {
  await poll(async () => ready(), (joined) => joined, { timeoutMs, intervalMs: 20 });
}

type DecisionRecord = Parameters<AuditDaemon['handleAdmission']>[0];

/** The shape lab/admission writes; anything else in the log is skipped. */
function isDecisionRecord(v: unknown): v is DecisionRecord {
  const r = v as Partial<DecisionRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.time === 'string' && typeof r.outcome === 'string' && typeof r.kind === 'string' && typeof r.namespace === 'string' && Array.isArray(r.images);
}

/** Reads complete lines appended since `offset`; returns the new offset. */
function tailJsonl(file: string, offset: number, onEntry: (value: unknown) => void): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return offset;
  }
  try {
    const size = statSync(file).size;
    // Rotated or truncated (the apiserver's log at --audit-log-maxsize): start over.
    if (size < offset) offset = 0;
    if (size <= offset) return offset;
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return offset;
    for (const line of text.slice(0, end).split('\n')) {
      if (line.trim() === '') continue;
      if (!line.startsWith('{')) continue;
      try {
        onEntry(JSON.parse(line));
      } catch (err) {
        log(`${file}: line skipped: ${describeError(err)}`);
      }
    }
    return offset + Buffer.byteLength(text.slice(0, end + 1));
  } finally {
    closeSync(fd);
  }
}
