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
 *
 * On a kind cluster each node has its own sidecar, audit id and directory
 * (auditTargetOf, audit-id.ts), and the cluster's teardown stops them all
 * (stopKindAudit) instead of beforeStop.
 */
import { DAEMON_ARGS as WATCHDOG_DAEMON_ARGS } from '../../watchdog/config.ts';
import { COMPONENT_NAME as WATCHDOG_COMPONENT } from '../../watchdog/component.ts';
import { existsSync } from 'node:fs';
import { appendFile, chmod, copyFile, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LabError } from '../../errors.ts';
import { localExec } from '../../exec.ts';
import { poll } from '../../wait.ts';
import type { Detection, NodeComponent, NodePreparation } from '../../node/component.ts';
import { LAB_LABEL, STATE_ROOT, listLabs, StartedLabNode, type LabNodeHandle } from '../../node/index.ts';
import { bundleForNode } from '../../node/bundle.ts';
import { AUDIT_LOG_DIR, CLUSTER_PREFIX, kindNodeContainers, type KindLabNode } from '../../kind/cluster.ts';
import { NODE_PATHS as ADMISSION_NODE_PATHS, type DecisionRecord } from '../../admission/index.ts';
import { parseAlertsJsonl } from '../alerts.ts';
import { BUILTIN_RULES_PATH } from '../builtin.ts';
import type { Alert } from '../engine.ts';
import type { AuditErrorCode } from '../errors.ts';
import type { RulesSource } from '../loader.ts';
import { RECORDS_LOST_RULE, type DaemonConfig, type DaemonStatus, type ReloadResult } from './daemon.ts';
import type { CleanupReport } from './daemon-main.ts';
import { DEFAULT_SENSITIVE_PATHS, labKey, parseRuleList, staleLabs, type ListedRule, type SensitivePath } from './kernel-rules.ts';
import { kindNodeAuditId, liveAuditIds, rulesOfAuditIds } from './audit-id.ts';
import { AUDIT_FILES, SIDECAR_PATHS } from './layout.ts';
import { compileStatic } from '../../node/native.ts';
import { buildAuditTap, inspectNode, readKernelAuditState, sidecarExec, sidecarName, sidecarRunArgs, startSidecar, stopSidecar, type SidecarSpec } from './sidecar.ts';

/** The helper that sets tree rules from the node's mount namespace (AUDIT_FILES.rule). */
const AUDIT_RULE_SOURCE = join(import.meta.dirname, 'native/audit-rule.c');

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

/**
 * Where a lab's alerts are, for `integrity-lab audit events --lab`: a
 * single lab node's by lab id, a kind node's by its audit id
 * `<lab>.<node>` (audit-id.ts), in <state>/<lab>/audit/nodes/<node>.
 */
export function alertLogPath(labId: string, stateRoot?: string): string {
  const single = join(auditDir(labId, stateRoot), AUDIT_FILES.alerts);
  const dot = labId.indexOf('.');
  if (dot <= 0 || existsSync(single)) return single;
  const kind = join(auditDir(labId.slice(0, dot), stateRoot), 'nodes', labId.slice(dot + 1), AUDIT_FILES.alerts);
  return existsSync(kind) ? kind : single;
}

/** Host-wide audit state (who turned kernel auditing on), shared by every lab. */
export const HOST_AUDIT_STATE = join(STATE_ROOT, '.audit-host');

/** Labels a kind node's sidecar carries: its lab (not LAB_LABEL, which marks single-node labs for `lab status` and `lab down`) and its audit id. */
export const KIND_LAB_LABEL = 'io.integrity-lab.kind-lab';
export const AUDIT_ID_LABEL = 'io.integrity-lab.audit-id';

/**
 * Where a node's audit daemon lives (audit-id.ts). A single lab node keeps
 * the lab's ids and paths: audit id = lab id, directory <state>/<lab>/audit.
 * A kind node gets `<lab>.<node>` and <state>/<lab>/audit/nodes/<node>, with
 * a copy of the daemon and rules prepare() wrote into the lab's directory.
 */
export interface AuditTarget {
  auditId: string;
  dir: string;
  /** The node is a kind node (one daemon per node of the cluster). */
  kind: boolean;
}

function isKindNode(node: LabNodeHandle): node is KindLabNode {
  return !(node instanceof StartedLabNode) && 'role' in node && 'runDir' in node;
}

export function auditTargetOf(node: LabNodeHandle): AuditTarget {
  if (!isKindNode(node)) return { auditId: node.labId, dir: auditDir(node.labId), kind: false };
  const auditId = kindNodeAuditId(node.labId, `${CLUSTER_PREFIX}${node.labId}`, node.name);
  return { auditId, dir: kindAuditDir(node.stateDir, auditId.slice(node.labId.length + 1)), kind: true };
}

/** A kind node's audit directory, below the lab's (prepare()'s) audit directory. */
function kindAuditDir(stateDir: string, node: string): string {
  return join(stateDir, 'audit', 'nodes', node);
}

/** The audit ids of these nodes (for checking the kernel after their lab is gone). */
export function auditIdsOf(nodes: readonly LabNodeHandle[]): string[] {
  return nodes.map((n) => auditTargetOf(n).auditId);
}

/** An image that has auditctl and is present in the engine, for reading the kernel's rules after a lab is gone: the node's own. */
export async function auditImageOf(node: LabNodeHandle): Promise<string> {
  if (node instanceof StartedLabNode) return node.imageTag;
  return (await inspectNode(node.name)).image;
}

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

/** An alert as the verdict model sees a component's report (lab/attacks/outcome.ts). */
export function alertDetection(alert: Alert): Detection {
  return { component: AUDIT_COMPONENT, message: alert.output, time: alert.time, data: alert };
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
      await copyFile(await compileStatic(AUDIT_RULE_SOURCE, 'audit-rule'), join(dir, AUDIT_FILES.rule));
      await chmod(join(dir, AUDIT_FILES.rule), 0o755);
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
      const { auditId, dir, kind } = auditTargetOf(node);
      const base = kind ? join(node.stateDir, 'audit') : auditDir(node.labId);
      const { rules, sensitivePaths: paths } = JSON.parse(await readFile(join(base, 'rules.json'), 'utf8')) as { rules: string[]; sensitivePaths: SensitivePath[] };
      if (kind) {
        // One daemon per kind node, each with its own directory: the lab's daemon and rules, copied.
        for (const sub of ['bin', AUDIT_FILES.rules]) await cp(join(base, sub), join(dir, sub), { recursive: true });
        await mkdir(join(dir, 'control'), { recursive: true });
      }
      const state = stateOf(node);
      state.loaded = rules.map((r) => `${AUDIT_FILES.rules}/${r}`);
      const target = await inspectNode(node.name);
      const config: DaemonConfig = {
        labId: auditId,
        nodeContainerId: target.id,
        nodePid: target.pid,
        hostname: target.hostname,
        sensitivePaths: paths,
        rulesFiles: state.loaded.map((r) => join(SIDECAR_PATHS.root, r)),
      };
      // The k8s_audit source: the admission webhook's decisions, when the node runs it
      // (on kind, the control plane), and on kind kube-apiserver's own audit log.
      const controlPlane = !isKindNode(node) || node.role === 'control-plane';
      if (controlPlane && node.components.some((c) => c.name === 'admission')) config.admissionDecisionLog = ADMISSION_NODE_PATHS.decisions;
      if (kind && controlPlane) config.apiServerAuditLog = `${AUDIT_LOG_DIR}/audit.log`;
      // The node's mount watchdog, whose process the daemon watches from outside the node (defence-liveness.ts).
      if (node.components.some((c) => c.name === WATCHDOG_COMPONENT)) config.watchdogCommand = [...WATCHDOG_DAEMON_ARGS];
      labKey(auditId); // rejects a lab id that cannot be an audit key prefix before anything starts
      await writeFile(join(dir, AUDIT_FILES.config), JSON.stringify(config, null, 2));
      await mkdir(HOST_AUDIT_STATE, { recursive: true, mode: 0o700 });
      await startSidecar(sidecarSpecOf(node, target.image));
      await waitReady(node, options.readyTimeoutMs ?? 30_000);
      state.reaped = await reapStaleRules(auditId);
    },

    async detections(node: LabNodeHandle, since: Date): Promise<Detection[]> {
      return (await auditAlerts(node, since)).map(alertDetection);
    },

    async beforeStop(node: LabNodeHandle): Promise<void> {
      // A kind cluster is not stopped node by node: deleteKindCluster calls stopKindAudit for all its nodes.
      if (isKindNode(node)) return;
      const report = await cleanupRules(node.labId, sidecarSpecOf(node, ''));
      await stopSidecar(node.labId);
      if (report.remaining.length > 0) {
        throw new LabError<AuditErrorCode>('AUDIT_RULES_LEFT', `lab ${node.labId}: ${report.remaining.length} kernel audit rules still set after cleanup: ${report.remaining.join('; ')}`);
      }
    },
  };
}

async function readStatus(node: LabNodeHandle): Promise<(DaemonStatus & { error?: string; stopped?: string }) | undefined> {
  try {
    return JSON.parse(await readFile(join(auditTargetOf(node).dir, AUDIT_FILES.status), 'utf8'));
  } catch {
    return undefined;
  }
}

async function daemonLogTail(node: LabNodeHandle): Promise<string> {
  const { auditId, dir } = auditTargetOf(node);
  const text = await readFile(join(dir, AUDIT_FILES.log), 'utf8').catch(() => '');
  const docker = await localExec.run(['docker', 'logs', '--tail', '20', sidecarName(auditId)]).catch(() => undefined);
  return [text.trim().split('\n').slice(-10).join('\n'), docker?.stderr.trim() ?? ''].filter(Boolean).join('\n');
}

async function waitReady(node: LabNodeHandle, timeoutMs: number): Promise<void> {
  const r = await poll(() => readStatus(node), (s) => Boolean(s?.error || s?.stopped || s?.tapReady), { timeoutMs, intervalMs: 100 });
  const status = r.value;
  const who = auditTargetOf(node).auditId;
  if (status?.error || status?.stopped) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${who} stopped: ${status.error ?? status.stopped}\n${await daemonLogTail(node)}`);
  }
  if (!r.ok) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${who} not listening after ${timeoutMs} ms (status: ${status ? 'written, tap not ready' : 'none'})\n${await daemonLogTail(node)}`);
  }
}

/** Kernel audit rules as `auditctl -l` lists them, read through the sidecar of this audit id (a lab id, or a kind node's: audit-id.ts). */
export async function listKernelRules(labId: string): Promise<ListedRule[]> {
  const r = await sidecarExec(labId, ['auditctl', '-l']);
  if (r.exitCode !== 0) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `auditctl -l in the audit sidecar of lab ${labId} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return parseRuleList(r.stdout.toString());
}

/**
 * Audit ids whose rules are live: every lab with a container, and every
 * node of the lab's kind clusters that still has one (audit-id.ts).
 */
export async function liveAuditIdsNow(): Promise<string[]> {
  return liveAuditIds((await listLabs()).map((l) => l.labId), await kindNodeContainers(), CLUSTER_PREFIX);
}

/** Removes rules whose key names a lab (or kind node) that no longer exists (killed before its cleanup). */
async function reapStaleRules(auditId: string): Promise<string[]> {
  const stale = staleLabs(await listKernelRules(auditId), [...(await liveAuditIdsNow()), auditId]);
  for (const id of stale) await sidecarExec(auditId, ['auditctl', '-D', '-k', labKey(id)]);
  return stale;
}

/**
 * The sidecar runs the node's own image beside the node container it
 * watches (the lab node image, or the kind node image: both have node,
 * auditctl and nsenter, and are never pulled).
 */
function sidecarSpecOf(node: LabNodeHandle, kindImage: string): SidecarSpec {
  const { auditId, dir, kind } = auditTargetOf(node);
  if (node instanceof StartedLabNode) {
    return {
      labId: node.labId,
      label: { key: LAB_LABEL, value: node.labId },
      image: node.imageTag,
      auditDir: dir,
      hostStateDir: HOST_AUDIT_STATE,
      criDir: join(node.stateDir, 'run'),
    };
  }
  if (!kind || !isKindNode(node)) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `the audit sidecar runs beside a lab node or a kind node; ${node.name} is neither`);
  }
  return kindSidecarSpec(node.labId, auditId, dir, kindImage, node.runDir);
}

function kindSidecarSpec(labId: string, auditId: string, dir: string, image: string, criDir: string): SidecarSpec {
  return { labId: auditId, label: { key: KIND_LAB_LABEL, value: labId }, labels: { [AUDIT_ID_LABEL]: auditId }, image, auditDir: dir, hostStateDir: HOST_AUDIT_STATE, criDir };
}

/**
 * Stops the audit of every node of a kind lab, before its cluster is
 * deleted (deleteKindCluster: success, failure, Ctrl-C and `lab down`):
 * each sidecar removes its node's kernel rules, and the last audit lab
 * turns kernel auditing back off if a lab turned it on (daemon-main.ts);
 * then the sidecars are removed, and `auditctl -l` is read once more: a
 * rule of any node of the lab still listed is an error (AUDIT_RULES_LEFT).
 * A sidecar that is gone is replaced by a one-off container for its
 * cleanup. Does nothing for a lab without audit.
 */
export async function stopKindAudit(labId: string, cluster: string): Promise<void> {
  const r = await localExec.run(['docker', 'ps', '-a', '--filter', `label=${KIND_LAB_LABEL}=${labId}`, '--format', `{{.Label "${AUDIT_ID_LABEL}"}}\t{{.Image}}`]);
  const sidecars = r.stdout.toString().split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]);
  const nodes = (await kindNodeContainers()).filter((n) => n.cluster === cluster);
  const stateDir = join(STATE_ROOT, labId);
  if (sidecars.length === 0) return; // the lab ran no audit
  const image = sidecars[0]![1];
  const ids = [...new Set([...sidecars.map(([id]) => id), ...nodes.map((n) => kindNodeAuditId(labId, cluster, n.name))])];
  const problems: string[] = [];
  for (const id of ids) {
    const node = id.slice(labId.length + 1);
    const spec = kindSidecarSpec(labId, id, kindAuditDir(stateDir, node), image, join(stateDir, 'run', `${cluster}-${node}`));
    // The daemon goes first: the kubelet keeps restarting containers (an
    // enforced stop is followed by a restart), and a running daemon sets the
    // rules of each restart, also after a cleanup. Its rules are then removed
    // by a one-off container of the same image (cleanupRules).
    await stopSidecar(id).catch((err: unknown) => problems.push(`${id}: ${err instanceof Error ? err.message : String(err)}`));
    try {
      const report = await cleanupRules(id, spec);
      if (report.remaining.length > 0) problems.push(`${id}: ${report.remaining.join('; ')}`);
    } catch (err) {
      problems.push(`${id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const left = rulesOfAuditIds(parseRuleList((await readKernelAuditState(image, `${labId}-audit-check`)).rulesText), ids);
  if (left.length > 0 || problems.length > 0) {
    throw new LabError<AuditErrorCode>('AUDIT_RULES_LEFT', `kind lab ${labId}: ${left.length} kernel audit rules of its nodes still set after cleanup${left.length ? `: ${left.map((l) => l.text).join('; ')}` : ''}${problems.length ? `; ${problems.join('; ')}` : ''}`);
  }
}

/**
 * Removes the lab's kernel rules through its sidecar; when the sidecar is
 * gone (it died, or someone removed it), through a one-off container of
 * the same image, mounts and capabilities.
 */
async function cleanupRules(labId: string, spec: SidecarSpec): Promise<CleanupReport> {
  // The running daemon must not take the removals below for an attack on the rules of containers that still run.
  await mkdir(dirname(join(spec.auditDir, AUDIT_FILES.stopping)), { recursive: true });
  await writeFile(join(spec.auditDir, AUDIT_FILES.stopping), `${new Date().toISOString()}\n`);
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
  const text = await readFile(join(auditTargetOf(node).dir, AUDIT_FILES.alerts), 'utf8').catch(() => '');
  const alerts = parseAlertsJsonl(text);
  return since ? alerts.filter((a) => new Date(a.time) >= since) : alerts;
}

/** The daemon's status: counters, containers watched and their kernel rules, rules in force. */
export async function auditStatus(node: LabNodeHandle): Promise<DaemonStatus & { reaped: string[] }> {
  requireAudit(node);
  const status = await readStatus(node);
  if (!status) throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${auditTargetOf(node).auditId} has written no status`);
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
  const { dir } = auditTargetOf(node);
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
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${auditTargetOf(node).auditId} did not answer rules reload ${generation} in ${timeoutMs} ms\n${await daemonLogTail(node)}`);
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
  await appendFile(join(auditTargetOf(node).dir, AUDIT_FILES.k8sAudit), JSON.stringify(object === undefined ? { record } : { record, object }) + '\n');
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
 * ends; resolves with the alerts seen (a records-lost alert among them,
 * which alone does not end the wait). Without an audit component, at once
 * with none: there is nothing to wait for.
 */
export async function awaitAuditAlerts(node: LabNodeHandle | readonly LabNodeHandle[], since: Date, options: AwaitAlertsOptions = {}): Promise<Alert[]> {
  // Several nodes (a kind cluster: one daemon each): an alert of any of them.
  const nodes = (Array.isArray(node) ? node : [node]).filter(hasAudit) as LabNodeHandle[];
  if (nodes.length === 0) return [];
  const r = await poll(
    async () => (await Promise.all(nodes.map((n) => auditAlerts(n, since)))).flat().filter((a) => options.rule === undefined || a.rule === options.rule),
    // A records-lost alert is kept but does not end the wait: the alert looked for may still come.
    (alerts) => alerts.some((a) => a.rule !== RECORDS_LOST_RULE),
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
    async () => (await readStatus(node))?.containers.find((c) => c.id === containerId),
    (watch) => watch !== undefined && (watch.rules.length > 0 || watch.skipped.length > 0),
    { timeoutMs, intervalMs: 100 },
  );
  if (!watched.ok) {
    throw new LabError<AuditErrorCode>('AUDIT_SIDECAR', `audit daemon of lab ${auditTargetOf(node).auditId} set no rules for container ${containerId.slice(0, 12)} within ${timeoutMs} ms\n${await daemonLogTail(node)}`);
  }
}
