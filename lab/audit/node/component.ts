/**
 * The `audit` node component: a Falco-style detection layer for a lab
 * node. It runs the audit daemon in a sidecar (sidecar.ts), feeds it the
 * built-in rules and the scenario's rules, and reads its alerts back.
 *
 * Lifecycle:
 * - prepare: bundle the daemon, build audit-tap, copy the CRI proto and the
 *   built-in rules into <stateDir>/audit;
 * - afterStart: start the sidecar, wait until it listens, reap kernel rules
 *   left by labs that no longer exist;
 * - detections: the alerts in <stateDir>/audit/alerts.jsonl since a time;
 * - beforeStop: remove the lab's kernel rules and check `auditctl -l` has
 *   none left, then stop the sidecar.
 */
import { appendFile, chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LabError } from '../../errors.ts';
import { localExec } from '../../exec.ts';
import { poll } from '../../wait.ts';
import type { Detection, NodeComponent, NodePreparation } from '../../node/component.ts';
import { LAB_LABEL, STATE_ROOT, listLabs, StartedLabNode, type LabNodeHandle } from '../../node/index.ts';
import { bundleForNode } from '../../node/bundle.ts';
import { NODE_PATHS as ADMISSION_NODE_PATHS, type DecisionRecord } from '../../admission/index.ts';
import { parseAlertsJsonl } from '../alerts.ts';
import { BUILTIN_RULES_PATH } from '../builtin.ts';
import type { Alert } from '../engine.ts';
import type { AuditErrorCode } from '../errors.ts';
import type { RulesSource } from '../loader.ts';
import type { DaemonConfig, DaemonStatus, ReloadResult } from './daemon.ts';
import type { CleanupReport } from './daemon-main.ts';
import { DEFAULT_SENSITIVE_PATHS, labKey, parseRuleList, staleLabs, type ListedRule, type SensitivePath } from './kernel-rules.ts';
import { AUDIT_FILES, SIDECAR_PATHS } from './layout.ts';
import { buildAuditTap, inspectNode, sidecarExec, sidecarName, sidecarRunArgs, startSidecar, stopSidecar, type SidecarSpec } from './sidecar.ts';

export const AUDIT_COMPONENT = 'audit';

export interface AuditComponentOptions {
  /** Paths whose reads are audited in every container (default: what the built-in rules look for). */
  sensitivePaths?: SensitivePath[];
  /** Rules files loaded after the built-in ones on every lab with this component. */
  rulesFiles?: string[];
  /** How long afterStart waits for the daemon to listen. Default 30 s. */
  readyTimeoutMs?: number;
}

const BUILTIN_NAME = '00-integrity-lab.rules.yaml';
const CRI_PROTO = join(import.meta.dirname, '../../cri/proto/api.proto');
const DAEMON_ENTRY = join(import.meta.dirname, 'bin/audit-daemon.ts');

/** <STATE_ROOT>/<labId>/audit on the host (INTEGRITY_LAB_STATE is read at call time, for tests and the CLI). */
export function auditDir(labId: string, stateRoot = process.env.INTEGRITY_LAB_STATE ?? STATE_ROOT): string {
  return join(stateRoot, labId, 'audit');
}

/** Where a lab's alerts are, for `integrity-lab audit events --lab`. */
export function alertLogPath(labId: string, stateRoot?: string): string {
  return join(auditDir(labId, stateRoot), AUDIT_FILES.alerts);
}

/** Host-wide audit state (who turned kernel auditing on), shared by every lab. */
export const HOST_AUDIT_STATE = join(STATE_ROOT, '.audit-host');

interface NodeState {
  /** Rules files in force, relative to the audit directory, in load order. */
  loaded: string[];
  generation: number;
  /** Labs whose left-over kernel rules were removed when this lab started. */
  reaped: string[];
}
const states = new WeakMap<LabNodeHandle, NodeState>();

function stateOf(node: LabNodeHandle): NodeState {
  let s = states.get(node);
  if (!s) {
    s = { loaded: [`${AUDIT_FILES.rules}/${BUILTIN_NAME}`], generation: 0, reaped: [] };
    states.set(node, s);
  }
  return s;
}

export function hasAudit(node: LabNodeHandle): boolean {
  return node.components.some((c) => c.name === AUDIT_COMPONENT);
}

function requireAudit(node: LabNodeHandle): void {
  if (!hasAudit(node)) {
    throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `lab ${node.labId} (profile ${node.profile.metadata.name}) has no audit component; add "audit" to its profile's spec.components`);
  }
}

export function auditComponent(options: AuditComponentOptions = {}): NodeComponent {
  const sensitivePaths = options.sensitivePaths ?? [...DEFAULT_SENSITIVE_PATHS];
  const extra = options.rulesFiles ?? [];
  return {
    name: AUDIT_COMPONENT,

    async prepare(ctx): Promise<NodePreparation> {
      const dir = join(ctx.stateDir, 'audit');
      await mkdir(join(dir, 'bin', 'proto'), { recursive: true, mode: 0o700 });
      await mkdir(join(dir, AUDIT_FILES.rules), { recursive: true });
      await mkdir(join(dir, 'control'), { recursive: true });
      await copyFile(await bundleForNode(DAEMON_ENTRY, 'audit-daemon'), join(dir, AUDIT_FILES.daemon));
      await copyFile(CRI_PROTO, join(dir, AUDIT_FILES.proto));
      await copyFile(await buildAuditTap(), join(dir, AUDIT_FILES.tap));
      await chmod(join(dir, AUDIT_FILES.tap), 0o755);
      const rules = [BUILTIN_NAME];
      await copyFile(BUILTIN_RULES_PATH, join(dir, AUDIT_FILES.rules, BUILTIN_NAME));
      for (const [i, file] of extra.entries()) {
        const name = `10-${String(i).padStart(2, '0')}-${basename(file)}`;
        await copyFile(file, join(dir, AUDIT_FILES.rules, name));
        rules.push(name);
      }
      await writeFile(join(dir, 'rules.json'), JSON.stringify({ rules, sensitivePaths }));
      // Nothing goes into the node itself: the daemon runs beside it.
      return { files: [], containerdPlugins: [] };
    },

    async afterStart(node): Promise<void> {
      const dir = auditDir(node.labId);
      const { rules, sensitivePaths: paths } = JSON.parse(await readFile(join(dir, 'rules.json'), 'utf8')) as { rules: string[]; sensitivePaths: SensitivePath[] };
      const state = stateOf(node);
      state.loaded = rules.map((r) => `${AUDIT_FILES.rules}/${r}`);
      const target = await inspectNode(node.name);
      const config: DaemonConfig = {
        labId: node.labId,
        nodeContainerId: target.id,
        nodePid: target.pid,
        hostname: target.hostname,
        sensitivePaths: paths,
        rulesFiles: state.loaded.map((r) => join(SIDECAR_PATHS.root, r)),
      };
      // The k8s_audit source: the admission webhook's decisions, when the node runs it.
      if (node.components.some((c) => c.name === 'admission')) config.admissionDecisionLog = ADMISSION_NODE_PATHS.decisions;
      labKey(node.labId); // rejects a lab id that cannot be an audit key prefix before anything starts
      await writeFile(join(dir, AUDIT_FILES.config), JSON.stringify(config, null, 2));
      await mkdir(HOST_AUDIT_STATE, { recursive: true, mode: 0o700 });
      await startSidecar(sidecarSpecOf(node));
      await waitReady(node, options.readyTimeoutMs ?? 30_000);
      state.reaped = await reapStaleRules(node.labId);
    },

    async detections(node: LabNodeHandle, since: Date): Promise<Detection[]> {
      return (await auditAlerts(node, since)).map((alert) => ({ component: AUDIT_COMPONENT, message: alert.output, time: alert.time, data: alert }));
    },

    async beforeStop(node: LabNodeHandle): Promise<void> {
      const report = await cleanupRules(node.labId, sidecarSpecOf(node));
      await stopSidecar(node.labId);
      if (report.remaining.length > 0) {
        throw new LabError<AuditErrorCode>('AUDIT_RULES_LEFT', `lab ${node.labId}: ${report.remaining.length} kernel audit rules still set after cleanup: ${report.remaining.join('; ')}`);
      }
    },
  };
}

async function readStatus(labId: string): Promise<(DaemonStatus & { error?: string; stopped?: string }) | undefined> {
  try {
    return JSON.parse(await readFile(join(auditDir(labId), AUDIT_FILES.status), 'utf8'));
  } catch {
    return undefined;
  }
}

async function daemonLogTail(labId: string): Promise<string> {
  const text = await readFile(join(auditDir(labId), AUDIT_FILES.log), 'utf8').catch(() => '');
  const docker = await localExec.run(['docker', 'logs', '--tail', '20', sidecarName(labId)]).catch(() => undefined);
  return [text.trim().split('\n').slice(-10).join('\n'), docker?.stderr.trim() ?? ''].filter(Boolean).join('\n');
}

async function waitReady(node: LabNodeHandle, timeoutMs: number): Promise<void> {
  const r = await poll(() => readStatus(node.labId), (s) => Boolean(s?.error || s?.stopped || s?.tapReady), { timeoutMs, intervalMs: 100 });
  const status = r.value;
  if (status?.error || status?.stopped) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${node.labId} stopped: ${status.error ?? status.stopped}\n${await daemonLogTail(node.labId)}`);
  }
  if (!r.ok) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${node.labId} not listening after ${timeoutMs} ms (status: ${status ? 'written, tap not ready' : 'none'})\n${await daemonLogTail(node.labId)}`);
  }
}

/** Kernel audit rules as `auditctl -l` lists them, read through the lab's sidecar. */
export async function listKernelRules(labId: string): Promise<ListedRule[]> {
  const r = await sidecarExec(labId, ['auditctl', '-l']);
  if (r.exitCode !== 0) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `auditctl -l in the audit sidecar of lab ${labId} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return parseRuleList(r.stdout.toString());
}

/** Removes rules whose key names a lab that no longer exists (a lab killed before its cleanup). */
async function reapStaleRules(labId: string): Promise<string[]> {
  const live = (await listLabs()).map((l) => l.labId);
  const stale = staleLabs(await listKernelRules(labId), [...live, labId]);
  for (const id of stale) await sidecarExec(labId, ['auditctl', '-D', '-k', labKey(id)]);
  return stale;
}

function sidecarSpecOf(node: LabNodeHandle): SidecarSpec {
  // The sidecar runs the lab node image beside the node container it watches.
  if (!(node instanceof StartedLabNode)) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `the audit sidecar runs beside a single lab node; ${node.name} is a node of another substrate, where audit is not installed (docs/kind.md)`);
  }
  return {
    labId: node.labId,
    label: { key: LAB_LABEL, value: node.labId },
    image: node.imageTag,
    auditDir: auditDir(node.labId),
    hostStateDir: HOST_AUDIT_STATE,
    criDir: join(node.stateDir, 'run'),
  };
}

/**
 * Removes the lab's kernel rules through its sidecar; when the sidecar is
 * gone (it died, or someone removed it), through a one-off container of
 * the same image, mounts and capabilities.
 */
async function cleanupRules(labId: string, spec: SidecarSpec): Promise<CleanupReport> {
  const daemon = join(SIDECAR_PATHS.root, AUDIT_FILES.daemon);
  let r = await sidecarExec(labId, ['node', daemon, 'cleanup', labId]);
  if (!r.stdout.toString().trim().startsWith('{')) {
    const [file, ...args] = sidecarRunArgs(spec, ['cleanup', labId]);
    r = await localExec.run([file!, ...args], { timeoutMs: 60_000 });
  }
  const text = r.stdout.toString().trim();
  if (text.startsWith('{')) return JSON.parse(text) as CleanupReport;
  throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `cleanup of the audit rules of lab ${labId} exited ${r.exitCode}: ${r.stderr.trim() || text}`);
}

// ---------------------------------------------------------------- runtime API

/** Alerts the lab's audit daemon raised, optionally since a time. */
export async function auditAlerts(node: LabNodeHandle, since?: Date): Promise<Alert[]> {
  const text = await readFile(alertLogPath(node.labId), 'utf8').catch(() => '');
  const alerts = parseAlertsJsonl(text);
  return since ? alerts.filter((a) => new Date(a.time) >= since) : alerts;
}

/** The daemon's status: counters, containers watched and their kernel rules, rules in force. */
export async function auditStatus(node: LabNodeHandle): Promise<DaemonStatus & { reaped: string[] }> {
  requireAudit(node);
  const status = await readStatus(node.labId);
  if (!status) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${node.labId} has written no status`);
  return { ...status, reaped: stateOf(node).reaped };
}

/**
 * Loads rules files into the running engine, after the ones in force. If
 * one does not load, the result says where (file, item, position) and the
 * rules in force stay as they were.
 */
export async function loadAuditRules(node: LabNodeHandle, sources: readonly RulesSource[], timeoutMs = 15_000): Promise<ReloadResult> {
  requireAudit(node);
  const state = stateOf(node);
  const dir = auditDir(node.labId);
  const added: string[] = [];
  for (const source of sources) {
    const name = `50-${String(state.loaded.length + added.length).padStart(2, '0')}-${basename(source.name).replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    await writeFile(join(dir, AUDIT_FILES.rules, name), source.content);
    added.push(`${AUDIT_FILES.rules}/${name}`);
  }
  const generation = ++state.generation;
  const files = [...state.loaded, ...added];
  await writeFile(join(dir, AUDIT_FILES.request), JSON.stringify({ generation, files }));
  const answered = await poll(
    async () => {
      const text = await readFile(join(dir, AUDIT_FILES.result), 'utf8').catch(() => undefined);
      return text ? (JSON.parse(text) as ReloadResult) : undefined;
    },
    (result) => result?.generation === generation,
    { timeoutMs, intervalMs: 100 },
  );
  if (!answered.ok || !answered.value) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${node.labId} did not answer rules reload ${generation} in ${timeoutMs} ms\n${await daemonLogTail(node.labId)}`);
  }
  const result = answered.value;
  if (result.ok) state.loaded = files;
  // The loader names files by the daemon's paths; name them as the caller did.
  return renameFiles(result, added, sources, dir);
}

function renameFiles(result: ReloadResult, added: string[], sources: readonly RulesSource[], dir: string): ReloadResult {
  const names = new Map<string, string>();
  added.forEach((file, i) => names.set(join(SIDECAR_PATHS.root, file), sources[i]!.name));
  const rename = (s: string) => {
    let out = s;
    for (const [from, to] of names) out = out.split(from).join(to);
    return out.split(`${SIDECAR_PATHS.root}/`).join(`${dir}/`);
  };
  const out: ReloadResult = { ...result, rules: { ...result.rules, files: result.rules.files.map(rename) } };
  if (result.error) {
    out.error = { ...result.error, message: rename(result.error.message) };
    if (result.error.location) out.error.location = { ...result.error.location, file: rename(result.error.location.file) };
  }
  return out;
}

/** Feeds an admission decision to the lab's k8s_audit source. */
export async function recordAdmissionDecision(node: LabNodeHandle, record: DecisionRecord, object?: unknown): Promise<void> {
  requireAudit(node);
  await appendFile(join(auditDir(node.labId), AUDIT_FILES.k8sAudit), JSON.stringify(object === undefined ? { record } : { record, object }) + '\n');
}


export interface AwaitAlertsOptions {
  /** Only alerts of this rule count. */
  rule?: string;
  /** How long to wait at most. Default 5000 ms. */
  graceMs?: number;
}

/**
 * Waits until the audit daemon raised an alert since `since` (the daemon
 * works asynchronously: records, then evaluation), or the grace period
 * ends; resolves with the alerts seen. Without an audit component, at once
 * with none: there is nothing to wait for.
 */
export async function awaitAuditAlerts(node: LabNodeHandle, since: Date, options: AwaitAlertsOptions = {}): Promise<Alert[]> {
  if (!hasAudit(node)) return [];
  const r = await poll(
    async () => (await auditAlerts(node, since)).filter((a) => options.rule === undefined || a.rule === options.rule),
    (alerts) => alerts.length > 0,
    { timeoutMs: options.graceMs ?? 5_000, intervalMs: 100 },
  );
  return r.value ?? [];
}

/**
 * Waits until the daemon has set a container's exec rule. Rules are set
 * when the inventory first sees the container running (every 200 ms), so
 * what a container does in that first moment is not audited; an attacker
 * who arrives later, as modelled here, always finds it watched. Without an
 * audit component, resolves at once.
 */
export async function awaitAuditWatching(node: LabNodeHandle, containerId: string, timeoutMs = 10_000): Promise<void> {
  if (!hasAudit(node)) return;
  const watched = await poll(
    async () => (await readStatus(node.labId))?.containers.find((c) => c.id === containerId),
    (watch) => watch !== undefined && (watch.rules.length > 0 || watch.skipped.length > 0),
    { timeoutMs, intervalMs: 100 },
  );
  if (!watched.ok) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${node.labId} set no rules for container ${containerId.slice(0, 12)} within ${timeoutMs} ms\n${await daemonLogTail(node.labId)}`);
  }
}
