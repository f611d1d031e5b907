/**
 * The controls defend themselves (T1562.001 Impair Defenses). Root can
 * switch the node gates off without touching a container: edit gates.json,
 * add a CA to the trusted roots, take the runtime wrapper out of
 * containerd's configuration, replace the wrapper, runc or the gate client.
 * The watchdog therefore:
 *
 * - pins, when it starts, what the node gates are made of (each file's
 *   sha256) and reports any later change, whatever the change says;
 * - pins the protected namespaces the start gate had when the watchdog
 *   started, and checks every container there from its own evidence, the
 *   node's mount table: a protected workload container must have the
 *   gate's read-only root (standard layer on top, gate-owned layer mounts,
 *   no upperdir). One that does not never passed the start gate.
 *
 * Pure over its inputs; the daemon does the I/O.
 */
import { createHash } from 'node:crypto';
import type { RootfsExpectation } from './expected.ts';

/** Files that make up the node gates, and why each matters. */
export const DEFENCE_FILES: readonly { path: string; what: string }[] = [
  { path: '/etc/integrity-lab/gates.json', what: 'the gate configuration (protected namespaces and images, pinned standard layer)' },
  { path: '/etc/integrity-lab/trusted-roots.pem', what: 'the trusted signing roots' },
  { path: '/etc/containerd/config.toml', what: "containerd's configuration (runtime wrapper, image verifier)" },
  { path: '/usr/local/bin/integrity-runc', what: 'the start gate runtime wrapper' },
  { path: '/usr/bin/runc', what: 'runc' },
  { path: '/opt/integrity-lab/gate-client', what: 'the gate client' },
  { path: '/opt/integrity-lab/gate-daemon.mjs', what: 'the gate daemon' },
  { path: '/opt/containerd/image-verifier/bin/integrity-pull-gate', what: 'the pull gate' },
];

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
