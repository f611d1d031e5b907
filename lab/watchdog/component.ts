/**
 * Installs the mount watchdog on a lab node: the daemon bundled for the
 * node's Node.js, two static helpers (fanotify mount events; releasing a
 * stopped container's mounts), its configuration and the lab's trusted
 * roots. afterStart starts the daemon in the background and waits for its
 * first status; beforeStop stops it by pid.
 */
import { join } from 'node:path';
import { describeError } from '../errors.ts';
import type { Exec } from '../exec.ts';
import { poll, waitInShell } from '../wait.ts';
import type { Detection, NodeComponent, NodePreparation } from '../node/component.ts';
import { bundleForNode } from '../node/bundle.ts';
import type { LabNodeHandle } from '../node/handle.ts';
import { alertsSince, parseJsonLines, type ActivityRecord, type WatchdogAlert } from './alerts.ts';
import { DAEMON_ARGS, DAEMON_PATH, modeFor, resolveConfig, WATCHDOG_CONFIG_PATH, type WatchdogConfig, type WatchdogSettings } from './config.ts';
import type { DaemonStatus } from './daemon.ts';
import { watchdogError } from './errors.ts';
import { compileStatic } from '../node/native.ts';
import { NATIVE_SOURCES } from './native.ts';

export const COMPONENT_NAME = 'watchdog';

export interface WatchdogComponent extends NodeComponent {
  readonly settings: WatchdogSettings;
  readonly config: WatchdogConfig;
}

export function watchdogComponent(settings: WatchdogSettings): WatchdogComponent {
  const config = resolveConfig(settings);
  return {
    name: COMPONENT_NAME,
    // After the node gates: the pins taken in afterStart include the standard layer they build.
    startOrder: 1,
    settings,
    config,
    async prepare(ctx): Promise<NodePreparation> {
      const [daemon, mntnotify, release] = await Promise.all([
        bundleForNode(join(import.meta.dirname, 'bin/watchdog.ts'), 'watchdog'),
        compileStatic(NATIVE_SOURCES.mntnotify, 'watchdog-mntnotify'),
        compileStatic(NATIVE_SOURCES.releaseMounts, 'watchdog-release-mounts'),
      ]);
      return {
        files: [
          { source: daemon, target: DAEMON_PATH, mode: 0o644 },
          { source: mntnotify, target: config.notifyHelper, mode: 0o755 },
          { source: release, target: config.releaseHelper, mode: 0o755 },
          { content: JSON.stringify(config, null, 2), target: WATCHDOG_CONFIG_PATH, mode: 0o644 },
          { content: ctx.trustedRootsPem, target: config.trustedRootsFile, mode: 0o644 },
        ],
        containerdPlugins: [],
      };
    },
    async afterStart(node) {
      // The pins are taken now, while the lab alone controls the node; a restarted daemon compares with them.
      await node.run(['node', DAEMON_PATH, '--pin', WATCHDOG_CONFIG_PATH]);
      await startDaemon(node.exec, config);
    },
    async detections(node, since): Promise<Detection[]> {
      return (await readAlerts(node.exec, config, since)).map((a) => ({ component: COMPONENT_NAME, message: a.reason, time: a.time, data: a }));
    },
    async beforeStop(node) {
      await stopDaemon(node.exec, config);
    },
  };
}

/** The watchdog installed on a node, if its profile has one. */
export function watchdogOf(node: Pick<LabNodeHandle, 'components'>): WatchdogComponent | undefined {
  return node.components.find((c): c is WatchdogComponent => c.name === COMPONENT_NAME && 'config' in c);
}

export function requireWatchdog(node: Pick<LabNodeHandle, 'components' | 'labId'>): WatchdogComponent {
  const w = watchdogOf(node);
  if (!w) throw watchdogError('WATCHDOG_NOT_INSTALLED', `lab ${node.labId} has no watchdog: its profile does not list "watchdog" in spec.components`);
  return w;
}

/** Reads a JSON-lines log in the node; a log not written yet is empty. */
async function readLines<T>(exec: Exec, path: string): Promise<T[]> {
  const r = await exec.run(['cat', path]);
  if (r.exitCode !== 0) return [];
  return parseJsonLines<T>(r.stdout.toString(), path);
}

export async function readAlerts(exec: Exec, config: Pick<WatchdogConfig, 'alertLog'>, since?: Date): Promise<WatchdogAlert[]> {
  return alertsSince(await readLines<WatchdogAlert>(exec, config.alertLog), since);
}

export async function readActivity(exec: Exec, config: Pick<WatchdogConfig, 'activityLog'>, since?: Date): Promise<ActivityRecord[]> {
  const all = await readLines<ActivityRecord>(exec, config.activityLog);
  return since ? all.filter((r) => new Date(r.time) >= since) : all;
}

export async function readStatus(exec: Exec, config: Pick<WatchdogConfig, 'statusFile'>): Promise<DaemonStatus | undefined> {
  const r = await exec.run(['cat', config.statusFile]);
  if (r.exitCode !== 0) return undefined;
  try {
    return JSON.parse(r.stdout.toString()) as DaemonStatus;
  } catch {
    return undefined; // replaced while read
  }
}

/** The daemon's pid, when the pid file names a live watchdog process. */
export async function daemonPid(exec: Exec, config: Pick<WatchdogConfig, 'pidFile'>): Promise<number | undefined> {
  const r = await exec.run(['sh', '-c', `pid=$(cat ${config.pidFile} 2>/dev/null) && tr '\\0' ' ' < /proc/$pid/cmdline 2>/dev/null | grep -q watchdog.mjs && echo $pid`]);
  const pid = Number(r.stdout.toString().trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Starts the daemon in the background and waits (bounded) for its first status. */
export async function startDaemon(exec: Exec, config: WatchdogConfig, timeoutMs = 15_000): Promise<DaemonStatus> {
  const previous = await readStatus(exec, config);
  const r = await exec.run([
    'sh',
    '-c',
    `mkdir -p /var/log/integrity-lab && setsid node ${DAEMON_ARGS.join(' ')} >>/var/log/integrity-lab/watchdog.log 2>&1 </dev/null & echo $!`,
  ]);
  const pid = Number(r.stdout.toString().trim());
  // Waited for in the node (one command, not one per probe): the status names the new pid, or the process died.
  await waitInShell(exec, `grep -q '^  "pid": ${pid},' ${config.statusFile} || ! test -d /proc/${pid}`, { timeoutMs });
  // Then checked here: done when the new daemon reports, or when it died (then there is nothing to wait for).
  const started = await poll(
    async () => {
      const status = await readStatus(exec, config);
      if (status && status.pid === pid && status.startedAt !== previous?.startedAt) return { status, alive: true };
      return { status: undefined, alive: (await exec.run(['test', '-d', `/proc/${pid}`])).exitCode === 0 };
    },
    (v) => v.status !== undefined || !v.alive,
    { timeoutMs: 2_000, intervalMs: 100 },
  );
  if (started.value?.status) return started.value.status;
  const log = await exec.run(['tail', '-n', '20', '/var/log/integrity-lab/watchdog.log']);
  throw watchdogError('WATCHDOG_START_FAILED', `the watchdog daemon (pid ${pid}) did not report its status in ${config.statusFile} within ${timeoutMs} ms; its log:\n${log.stdout.toString().trim()}`);
}

/** Stops the daemon by the pid in its pid file: TERM, then KILL after 3 s. */
export async function stopDaemon(exec: Exec, config: Pick<WatchdogConfig, 'pidFile'>): Promise<number | undefined> {
  const pid = await daemonPid(exec, config);
  if (pid === undefined) return undefined;
  await exec.run(['kill', '-TERM', String(pid)]);
  if ((await waitInShell(exec, `! test -d /proc/${pid}`, { timeoutMs: 3_000 })).ok) return pid;
  await exec.run(['kill', '-KILL', String(pid)]);
  return pid;
}

/** Stops and starts the daemon; its state is rebuilt from the node. */
export async function restartWatchdog(node: LabNodeHandle): Promise<{ stoppedPid?: number; status: DaemonStatus }> {
  const w = requireWatchdog(node);
  const stoppedPid = await stopDaemon(node.exec, w.config);
  try {
    return { stoppedPid, status: await startDaemon(node.exec, w.config) };
  } catch (err) {
    throw watchdogError('WATCHDOG_START_FAILED', `restart of the watchdog on lab ${node.labId}: ${describeError(err)}`, err);
  }
}

export async function watchdogAlerts(node: LabNodeHandle, since?: Date): Promise<WatchdogAlert[]> {
  return readAlerts(node.exec, requireWatchdog(node).config, since);
}

export async function watchdogActivity(node: LabNodeHandle, since?: Date): Promise<ActivityRecord[]> {
  return readActivity(node.exec, requireWatchdog(node).config, since);
}

export async function watchdogStatus(node: LabNodeHandle): Promise<DaemonStatus | undefined> {
  return readStatus(node.exec, requireWatchdog(node).config);
}

/**
 * Waits for watchdog alerts matching `predicate`, polling every 100 ms up to
 * `timeoutMs`; returns what matched (possibly nothing). Without a watchdog
 * on the node it returns at once with nothing.
 */
export async function awaitWatchdogAlerts(
  node: LabNodeHandle,
  options: { since: Date; timeoutMs: number; predicate?: (a: WatchdogAlert) => boolean },
): Promise<WatchdogAlert[]> {
  const w = watchdogOf(node);
  if (!w) return [];
  const r = await poll(
    async () => (await readAlerts(node.exec, w.config, options.since)).filter(options.predicate ?? (() => true)),
    (found) => found.length > 0,
    { timeoutMs: options.timeoutMs, intervalMs: 100 },
  );
  return r.value ?? [];
}

/**
 * How long an attack technique should give the watchdog before the outcome
 * is judged: mount changes are seen within a second (events) or a poll
 * interval; a layer edit within one re-verification period. Nothing to wait
 * for without a watchdog, or when it does not watch the namespace.
 */
export function watchdogGraceMs(node: Pick<LabNodeHandle, 'components'>, what: 'mount' | 'layer' | 'second-namespace' | 'remount' | 'defence', namespace?: string): number {
  const w = watchdogOf(node);
  if (!w || (namespace !== undefined && !modeFor(w.config, namespace))) return 0;
  const c = w.config;
  // A second mount namespace, and a remount (new options, no mount event), are seen by the full scan only (fanotify marks the init's, and reports attach and detach).
  if (what === 'second-namespace' || what === 'remount') return c.fullScanIntervalMs + 2000;
  // The files the node gates are made of (and the Localhost profiles) are compared every fifth poll.
  if (what === 'defence') return c.pollIntervalMs * 5 + 2000;
  return what === 'layer' ? c.reverify.minIntervalMs + 5000 : Math.max(c.pollIntervalMs, c.discoveryIntervalMs) + 2000;
}

/** Waits until the activity log satisfies `predicate` (bounded); returns the records and whether it did. */
export async function awaitWatchdogActivity(
  node: LabNodeHandle,
  options: { timeoutMs: number; since?: Date; predicate: (records: ActivityRecord[]) => boolean },
): Promise<{ ok: boolean; records: ActivityRecord[] }> {
  const w = requireWatchdog(node);
  const r = await poll(() => readActivity(node.exec, w.config, options.since), options.predicate, { timeoutMs: options.timeoutMs, intervalMs: 100 });
  return { ok: r.ok, records: r.value ?? [] };
}

/** The watchdog's decision on which root hash each layer of a container must have (its `trust` activity record), once made. */
export async function awaitTrustDecision(node: LabNodeHandle, container: string, timeoutMs: number): Promise<{ record?: ActivityRecord; layers: { file: string }[] }> {
  const isTrust = (a: ActivityRecord) => a.kind === 'trust' && a.container === container;
  const found = await awaitWatchdogActivity(node, { timeoutMs, predicate: (all) => all.some(isTrust) });
  const record = found.records.find(isTrust);
  return { record, layers: ((record?.data ?? {}) as { layers?: { file: string }[] }).layers ?? [] };
}
