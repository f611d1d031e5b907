/**
 * The watchdog's configuration: what a lab profile says (`spec.watchdog`,
 * every field optional) and the complete file the daemon reads in the node
 * (/etc/integrity-lab/watchdog.json). A missing or invalid file stops the
 * daemon from starting: it never runs with guessed settings.
 */
import { readFileSync } from 'node:fs';
import { globMatch } from '../gates/config.ts';
import { watchdogError } from './errors.ts';

export type WatchdogMode = 'detect' | 'enforce';
export type NotifyPreference = 'auto' | 'fanotify' | 'poll';

/** `spec.watchdog` of a lab profile. */
export interface WatchdogSettings {
  /** Namespaces watched and how; first match wins; unmatched namespaces are not watched. */
  namespaces: { match: string; mode: WatchdogMode }[];
  notify?: NotifyPreference;
  pollIntervalMs?: number;
  fullScanIntervalMs?: number;
  discoveryIntervalMs?: number;
  reverify?: { minIntervalMs?: number; maxParallel?: number; maxReadMBps?: number };
  releaseLeftovers?: boolean;
  allowedFormats?: ('v2' | 'delivery-kit')[];
}

export interface WatchdogConfig {
  namespaces: { match: string; mode: WatchdogMode }[];
  /** `auto`: fanotify mount events where the kernel has them (6.15+), polling elsewhere. */
  notify: NotifyPreference;
  /** Polling mode: every watched namespace is read this often. */
  pollIntervalMs: number;
  /** Event mode: a full scan this often catches what raises no mount event (a remount). */
  fullScanIntervalMs: number;
  /** How often containerd's task directory is listed (also on every node mount event). */
  discoveryIntervalMs: number;
  reverify: {
    /** A layer is re-verified at most this often: the detection period for an in-place edit. */
    minIntervalMs: number;
    maxParallel: number;
    /** Read budget over all verifications, through verity's beforeRead hook. */
    maxReadMBps: number;
  };
  /** Unmount what a stopped container's namespace still holds. */
  releaseLeftovers: boolean;
  allowedFormats: ('v2' | 'delivery-kit')[];
  trustedRootsFile: string;
  /** containerd's runtime v2 task directory for the CRI namespace. */
  taskDir: string;
  /** The start gate's configuration, read for the standard layer when present. */
  gatesConfigFile: string;
  alertLog: string;
  activityLog: string;
  statusFile: string;
  pidFile: string;
  /** What the node gates were made of at lab start (defences.ts), taken once by `watchdog.mjs --pin`. */
  pinsFile: string;
  notifyHelper: string;
  releaseHelper: string;
  containerd: { address: string; namespace: string };
}

export const WATCHDOG_CONFIG_PATH = '/etc/integrity-lab/watchdog.json';
export const ALERT_LOG = '/var/log/integrity-lab/watchdog-alerts.jsonl';
export const ACTIVITY_LOG = '/var/log/integrity-lab/watchdog-activity.jsonl';
export const STATUS_FILE = '/run/integrity-lab/watchdog/status.json';
export const PID_FILE = '/run/integrity-lab/watchdog/watchdog.pid';
export const DAEMON_PATH = '/opt/integrity-lab/watchdog.mjs';
/** What the daemon runs as on a node, after `node` (the audit daemon watches for exactly this process: lab/audit/node/defence-liveness.ts). */
export const DAEMON_ARGS: readonly string[] = [DAEMON_PATH, WATCHDOG_CONFIG_PATH];
/** Root-only: a restarted watchdog compares the node gates with these, not with what it finds at its own start. */
export const PINS_FILE = '/etc/integrity-lab/watchdog/pins.json';

export const DEFAULTS = {
  notify: 'auto',
  // 200 namespace reads a second at 50 pods (100 namespaces with their
  // sandboxes) cost about 2 % of a core at 500 ms (docs/benchmarks.md); 750 ms
  // keeps polling under 2 % with a p95 still under 1 s.
  pollIntervalMs: 750,
  fullScanIntervalMs: 5000,
  discoveryIntervalMs: 2000,
  reverify: { minIntervalMs: 10_000, maxParallel: 1, maxReadMBps: 32 },
  releaseLeftovers: true,
  allowedFormats: ['v2'],
} as const satisfies Omit<WatchdogSettings, 'namespaces'>;

/** The node file for a profile's settings. */
export function resolveConfig(settings: WatchdogSettings): WatchdogConfig {
  const config: WatchdogConfig = {
    namespaces: settings.namespaces,
    notify: settings.notify ?? DEFAULTS.notify,
    pollIntervalMs: settings.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
    fullScanIntervalMs: settings.fullScanIntervalMs ?? DEFAULTS.fullScanIntervalMs,
    discoveryIntervalMs: settings.discoveryIntervalMs ?? DEFAULTS.discoveryIntervalMs,
    reverify: { ...DEFAULTS.reverify, ...settings.reverify },
    releaseLeftovers: settings.releaseLeftovers ?? DEFAULTS.releaseLeftovers,
    allowedFormats: settings.allowedFormats ?? [...DEFAULTS.allowedFormats],
    trustedRootsFile: '/etc/integrity-lab/watchdog/trusted-roots.pem',
    taskDir: '/run/containerd/io.containerd.runtime.v2.task/k8s.io',
    gatesConfigFile: '/etc/integrity-lab/gates.json',
    alertLog: ALERT_LOG,
    activityLog: ACTIVITY_LOG,
    statusFile: STATUS_FILE,
    pidFile: PID_FILE,
    pinsFile: PINS_FILE,
    notifyHelper: '/opt/integrity-lab/watchdog-mntnotify',
    releaseHelper: '/opt/integrity-lab/watchdog-release-mounts',
    containerd: { address: '/run/integrity-lab/containerd.sock', namespace: 'k8s.io' },
  };
  return parseWatchdogConfig(JSON.stringify(config), 'lab profile spec.watchdog');
}

const isInt = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isPath = (v: unknown) => typeof v === 'string' && v.startsWith('/');

/** Parses and checks the node file; every problem is named, with the value found. */
export function parseWatchdogConfig(text: string, source = WATCHDOG_CONFIG_PATH): WatchdogConfig {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw watchdogError('WATCHDOG_CONFIG_INVALID', `${source}: not JSON: ${(err as Error).message}`, err);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw watchdogError('WATCHDOG_CONFIG_INVALID', `${source}: expected an object, got ${JSON.stringify(data)}`);
  const problems: string[] = [];
  const ns = data.namespaces;
  if (!Array.isArray(ns) || ns.length === 0) problems.push(`namespaces: expected a non-empty list of { match, mode }, got ${JSON.stringify(ns)}`);
  else {
    ns.forEach((n: { match?: unknown; mode?: unknown }, i) => {
      if (typeof n?.match !== 'string' || n.match === '') problems.push(`namespaces[${i}].match: expected a namespace or glob, got ${JSON.stringify(n?.match)}`);
      if (n?.mode !== 'detect' && n?.mode !== 'enforce') problems.push(`namespaces[${i}].mode: expected detect or enforce, got ${JSON.stringify(n?.mode)}`);
    });
  }
  if (!['auto', 'fanotify', 'poll'].includes(data.notify as string)) problems.push(`notify: expected auto, fanotify or poll, got ${JSON.stringify(data.notify)}`);
  for (const [key, min, max] of [['pollIntervalMs', 50, 600_000], ['fullScanIntervalMs', 100, 3_600_000], ['discoveryIntervalMs', 100, 600_000]] as const) {
    if (!isInt(data[key], min, max)) problems.push(`${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(data[key])}`);
  }
  const rv = data.reverify as Record<string, unknown> | undefined;
  if (!rv || typeof rv !== 'object') problems.push(`reverify: expected { minIntervalMs, maxParallel, maxReadMBps }, got ${JSON.stringify(rv)}`);
  else {
    if (!isInt(rv.minIntervalMs, 1000, 86_400_000)) problems.push(`reverify.minIntervalMs: expected an integer from 1000 to 86400000, got ${JSON.stringify(rv.minIntervalMs)}`);
    if (!isInt(rv.maxParallel, 1, 16)) problems.push(`reverify.maxParallel: expected an integer from 1 to 16, got ${JSON.stringify(rv.maxParallel)}`);
    if (typeof rv.maxReadMBps !== 'number' || !(rv.maxReadMBps > 0) || rv.maxReadMBps > 10_000) problems.push(`reverify.maxReadMBps: expected a number above 0 and at most 10000, got ${JSON.stringify(rv.maxReadMBps)}`);
  }
  if (typeof data.releaseLeftovers !== 'boolean') problems.push(`releaseLeftovers: expected true or false, got ${JSON.stringify(data.releaseLeftovers)}`);
  const formats = data.allowedFormats;
  if (!Array.isArray(formats) || formats.length === 0 || formats.some((f) => f !== 'v2' && f !== 'delivery-kit')) {
    problems.push(`allowedFormats: expected a non-empty list of "v2" and/or "delivery-kit", got ${JSON.stringify(formats)}`);
  }
  for (const key of ['trustedRootsFile', 'taskDir', 'gatesConfigFile', 'alertLog', 'activityLog', 'statusFile', 'pidFile', 'pinsFile', 'notifyHelper', 'releaseHelper'] as const) {
    if (!isPath(data[key])) problems.push(`${key}: expected an absolute path, got ${JSON.stringify(data[key])}`);
  }
  const c = data.containerd as Record<string, unknown> | undefined;
  if (!c || !isPath(c.address) || typeof c.namespace !== 'string') problems.push(`containerd: expected { address: absolute path, namespace }, got ${JSON.stringify(c)}`);
  if (problems.length) throw watchdogError('WATCHDOG_CONFIG_INVALID', `${source}: ${problems.join('; ')}`);
  return data as unknown as WatchdogConfig;
}

export function loadWatchdogConfig(path = WATCHDOG_CONFIG_PATH): WatchdogConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw watchdogError('WATCHDOG_CONFIG_MISSING', `${path}: cannot read the watchdog configuration: ${(err as Error).message}`, err);
  }
  return parseWatchdogConfig(text, path);
}

/** The mode for a Kubernetes namespace, or undefined when it is not watched. */
export function modeFor(config: Pick<WatchdogConfig, 'namespaces'>, namespace: string): WatchdogMode | undefined {
  return config.namespaces.find((n) => globMatch(n.match, namespace))?.mode;
}
