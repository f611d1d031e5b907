/**
 * The controls defend themselves (T1562.001 Impair Defenses). Root can
 * switch the node gates off without touching a container: edit gates.json,
 * add a CA to the trusted roots, take the runtime wrapper out of
 * containerd's configuration, replace the wrapper, runc or the gate client.
 * The watchdog therefore:
 *
 * - compares what the node gates are made of (each file's sha256) with
 *   the pins taken at lab start, and reports any change, whatever the
 *   change says;
 * - takes the protected namespaces from the same pins (what the start gate
 *   promised at lab start), and checks every container there from its own
 *   evidence, the
 *   node's mount table: a protected workload container must have the
 *   gate's read-only root (standard layer on top, gate-owned layer mounts,
 *   no upperdir). One that does not never passed the start gate.
 *
 * The pins are taken once, at lab start (`watchdog.mjs --pin`, run by the
 * component before the daemon starts), into a root-only file. A watchdog
 * that root kills and starts again after tampering therefore still compares
 * with the lab's pins, not with the tampered node. Trust boundary: the pin
 * file is on the node, so root who also rewrites it (or deletes it and pins
 * again) before the restart is not caught; a deleted or unreadable pin file
 * is itself an alert (`pins-missing`). Only a copy held off the node closes
 * that, which the lab does not have.
 *
 * Pure over its inputs; the daemon does the I/O.
 */
import { createHash } from 'node:crypto';
import type { RootfsExpectation } from './expected.ts';
import { watchdogError } from './errors.ts';

/** containerd's client: the watchdog lists containers (`tasks ls`) and stops them (enforce mode) through it, run only as pinned. */
export const CTR_PATH = '/usr/bin/ctr';

/** Files that make up the node gates, and why each matters. */
export const DEFENCE_FILES: readonly { path: string; what: string }[] = [
  { path: '/etc/integrity-lab/gates.json', what: 'the gate configuration (protected namespaces and images, pinned standard layer)' },
  { path: '/etc/integrity-lab/trusted-roots.pem', what: 'the trusted signing roots' },
  { path: '/etc/containerd/config.toml', what: "containerd's configuration (runtime wrapper, image verifier)" },
  { path: '/usr/local/bin/integrity-runc', what: 'the start gate runtime wrapper' },
  { path: '/usr/bin/runc', what: 'runc' },
  { path: '/etc/ld.so.preload', what: "the dynamic loader's preload list (a library named there runs inside runc and every dynamic program)" },
  { path: '/opt/integrity-lab/gate-client', what: 'the gate client' },
  { path: '/opt/integrity-lab/gate-daemon.mjs', what: 'the gate daemon' },
  { path: '/opt/integrity-lab/layer-bind', what: "the start gate's loop device and mount helper" },
  { path: '/bin/busybox', what: "the shell the start gate runs the audit start hold in" },
  { path: '/opt/containerd/image-verifier/bin/integrity-pull-gate', what: 'the pull gate' },
  { path: '/etc/integrity-lab/gate-pins.json', what: "the gate daemon's pins of its configuration and trusted roots" },
  { path: '/etc/integrity-lab/watchdog.json', what: "the watchdog's configuration (namespaces watched, modes)" },
  { path: '/etc/integrity-lab/watchdog/trusted-roots.pem', what: "the watchdog's trusted signing roots" },
  { path: '/opt/integrity-lab/watchdog.mjs', what: 'the watchdog daemon' },
  { path: '/opt/integrity-lab/watchdog-mntnotify', what: "the watchdog's fanotify mount-event helper" },
  { path: '/opt/integrity-lab/watchdog-release-mounts', what: "the watchdog's helper that releases a stopped container's mounts" },
  // A ctr that leaves a container out of `tasks ls` would keep it from ever being watched.
  { path: CTR_PATH, what: "containerd's client, through which the watchdog lists and stops containers" },
];

/** What a pinned Localhost seccomp profile is, in an alert. */
const LOCALHOST_PROFILE = 'a Localhost seccomp profile (containerd loads it into every container whose pod names it, of any tier)';

/**
 * The files to pin on a node: DEFENCE_FILES, and the Localhost seccomp
 * profiles it holds (`profiles`, their paths; listed when the pins are
 * taken, since a node's set is its own). A profile loosened on the node
 * loosens every container that names it, and the start gate holds only
 * protected ones to it.
 */
export function defenceFiles(profiles: readonly string[] = []): { path: string; what: string }[] {
  return [...DEFENCE_FILES, ...profiles.filter((p) => !DEFENCE_FILES.some((f) => f.path === p)).map((path) => ({ path, what: LOCALHOST_PROFILE }))];
}

/** The files a set of pins covers, with why each matters: DEFENCE_FILES, and the rest of what was pinned (the Localhost profiles). */
export function pinnedDefenceFiles(pinned: Fingerprints): { path: string; what: string }[] {
  return defenceFiles([...pinned.keys()]);
}

/** sha256 of each file's bytes, or `missing`. */
export type Fingerprints = Map<string, string>;

export function fingerprint(read: (path: string) => Buffer | undefined, files = DEFENCE_FILES): Fingerprints {
  const out: Fingerprints = new Map();
  for (const f of files) {
    const bytes = read(f.path);
    out.set(f.path, bytes === undefined ? 'missing' : createHash('sha256').update(bytes).digest('hex'));
  }
  return out;
}

export interface DefenceChange {
  path: string;
  what: string;
  pinned: string;
  now: string;
}

/** What changed since the pin (a file that was missing at the pin and still is, is no change). */
export function changedDefences(pinned: Fingerprints, now: Fingerprints, files = DEFENCE_FILES): DefenceChange[] {
  return files
    .filter((f) => pinned.get(f.path) !== now.get(f.path))
    .map((f) => ({ path: f.path, what: f.what, pinned: pinned.get(f.path) ?? 'missing', now: now.get(f.path) ?? 'missing' }));
}

/**
 * Why a protected workload container did not pass the start gate, judged from
 * its root overlay as the node mounts it; undefined when it did.
 */
export function ungatedReason(rootfs: RootfsExpectation): { reasons: string[]; reason: string } | undefined {
  const reasons: string[] = [];
  const why: string[] = [];
  if (!rootfs.gated) {
    reasons.push('ungated');
    why.push(`its root ${rootfs.bundleRootfs} is not the start gate's (no gate-owned standard layer on top: ${rootfs.layers.map((l) => l.lowerdir).join(':') || 'no lowerdir'})`);
  }
  if (rootfs.upperdir) {
    reasons.push('writable-upperdir');
    why.push(`its root has a writable upperdir the node can write into (${rootfs.upperdir})`);
  }
  if (!rootfs.readOnly && rootfs.gated) {
    reasons.push('writable-root');
    why.push('its root is not read-only');
  }
  return reasons.length ? { reasons, reason: `a container in a protected namespace did not pass the start gate: ${why.join('; ')}` } : undefined;
}

/** What the start gate promised when the pins were taken: the namespaces it protects and its standard layer. */
export interface GatePromise {
  protectedNamespaces: string[];
  standardLayer?: { path: string; rootHash: string };
}

/** The lab-start pins: each defence file's sha256 (or `missing`), and the start gate's promise on a node that has one. */
export interface DefencePins {
  pinnedAt: string;
  files: Record<string, string>;
  gate?: GatePromise;
  /**
   * The watchdog's own configuration (watchdog.json) as the lab wrote it:
   * a watchdog restarted after root edited that file (a namespace no longer
   * watched, enforce turned to detect) runs with this instead.
   */
  watchdogConfig?: string;
}

/** The start gate's promise in a gates.json; undefined on a node without the start gate (no standard layer) or for text that is not one. */
export function gatePromise(gatesJson: string | undefined): GatePromise | undefined {
  if (gatesJson === undefined) return undefined;
  try {
    const g = JSON.parse(gatesJson) as { protectedNamespaces?: unknown; standardLayer?: { path?: unknown; rootHash?: unknown } };
    if (!g.standardLayer || typeof g.standardLayer.path !== 'string' || typeof g.standardLayer.rootHash !== 'string' || !Array.isArray(g.protectedNamespaces)) return undefined;
    return { protectedNamespaces: g.protectedNamespaces.filter((n): n is string => typeof n === 'string'), standardLayer: { path: g.standardLayer.path, rootHash: g.standardLayer.rootHash } };
  } catch {
    return undefined;
  }
}

/** Takes the pins of a node (at lab start, while the lab alone controls it). */
export function takePins(read: (path: string) => Buffer | undefined, gatesConfigFile: string, now: Date, files = DEFENCE_FILES, watchdogConfigFile?: string): DefencePins {
  const gate = gatePromise(read(gatesConfigFile)?.toString('utf8'));
  const watchdogConfig = watchdogConfigFile === undefined ? undefined : read(watchdogConfigFile)?.toString('utf8');
  return { pinnedAt: now.toISOString(), files: Object.fromEntries(fingerprint(read, files)), ...(gate ? { gate } : {}), ...(watchdogConfig !== undefined ? { watchdogConfig } : {}) };
}

/**
 * The configuration text a (re)starting watchdog runs with: the one the lab
 * pinned when the file no longer has those bytes, so that editing
 * watchdog.json and restarting the watchdog does not stop it watching a
 * namespace (the edit itself is reported as `defence-changed`).
 */
export function configToRun(fileText: string | undefined, pins: Pick<DefencePins, 'watchdogConfig' | 'pinnedAt'> | undefined): { text: string | undefined; source: 'file' | 'pins'; note?: string } {
  if (pins?.watchdogConfig === undefined || pins.watchdogConfig === fileText) return { text: fileText, source: 'file' };
  return { text: pins.watchdogConfig, source: 'pins', note: `the watchdog configuration differs from the one the lab pinned at ${pins.pinnedAt}; running with the pinned one` };
}

/** Parses a pin file; every problem is named. */
export function parsePins(text: string, source: string): DefencePins {
  let data: Partial<DefencePins>;
  try {
    data = JSON.parse(text) as Partial<DefencePins>;
  } catch (err) {
    throw watchdogError('WATCHDOG_PINS_INVALID', `${source}: not JSON: ${(err as Error).message}`, err);
  }
  const problems: string[] = [];
  if (typeof data?.pinnedAt !== 'string' || Number.isNaN(Date.parse(data.pinnedAt))) problems.push(`pinnedAt: expected an ISO time, got ${JSON.stringify(data?.pinnedAt)}`);
  const files = data?.files;
  if (!files || typeof files !== 'object' || Array.isArray(files) || Object.keys(files).length === 0) problems.push(`files: expected { "<path>": "<sha256>|missing" }, got ${JSON.stringify(files)}`);
  else for (const [path, digest] of Object.entries(files)) if (typeof digest !== 'string' || !/^([0-9a-f]{64}|missing)$/.test(digest)) problems.push(`files["${path}"]: expected 64 hex digits or "missing", got ${JSON.stringify(digest)}`);
  const gate = data?.gate;
  if (data?.watchdogConfig !== undefined && typeof data.watchdogConfig !== 'string') problems.push(`watchdogConfig: expected the text of watchdog.json, got ${JSON.stringify(data.watchdogConfig).slice(0, 80)}`);
  if (gate !== undefined && (!Array.isArray(gate.protectedNamespaces) || gate.protectedNamespaces.some((n) => typeof n !== 'string'))) problems.push(`gate.protectedNamespaces: expected a list of namespaces, got ${JSON.stringify(gate.protectedNamespaces)}`);
  if (problems.length) throw watchdogError('WATCHDOG_PINS_INVALID', `${source}: ${problems.join('; ')}`);
  return data as DefencePins;
}
