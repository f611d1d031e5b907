/**
 * Compares a container's mount namespace (its mountinfo) with its expected
 * mount set. Every entry of the namespace must be explained by the spec:
 * anything extra, changed or missing is a finding.
 *
 * Pure; the I/O shell supplies the mountinfo texts and a `kindOf` lookup
 * (what a path is inside the container) for classifying overmounts.
 */
import type { ExpectedMount, MountExpectation } from './expected.ts';
import { isReadOnly, isUnder, namespaceRoot, nodePathOf, type MountinfoEntry } from './mountinfo.ts';

export const FINDING_REASONS = [
  'mount-over-root',
  'tmpfs-over-etc',
  'overmount-file',
  'overmount-directory',
  'overmount',
  'host-bind',
  'unverified-source',
  'changed-mount',
  'missing-mount',
  'rootfs-replaced',
  'second-mount-namespace',
] as const;
export type FindingReason = (typeof FINDING_REASONS)[number];

export interface MountFinding {
  /** Stable identity of the finding within one namespace, for de-duplication. */
  key: string;
  /** Most specific first. */
  reasons: FindingReason[];
  /** One sentence for people. */
  reason: string;
  /** The offending mountinfo entry (absent for a missing mount). */
  entry?: MountinfoEntry;
  expected?: ExpectedMount;
  /** Where the mounted content lives on the node, when the node mounts its filesystem too. */
  hostPath?: string;
}

export type PathKind = 'file' | 'directory' | 'other';

export interface DiffContext {
  nodeMounts: readonly MountinfoEntry[];
  /** st_dev of mounts whose content is a verified layer (EROFS layers in use on the node). */
  layerMajmins?: ReadonlySet<string>;
  /** What a mount point is inside the container (stat through /proc/<pid>/root). */
  kindOf?: (mountPoint: string) => PathKind | undefined;
}

function matches(e: ExpectedMount, m: MountinfoEntry): boolean {
  if (e.under ? !(isUnder(m.mountPoint, e.mountPoint) && m.mountPoint !== e.mountPoint) : m.mountPoint !== e.mountPoint) return false;
  if (e.fstypes && !e.fstypes.includes(m.fstype)) return false;
  if (e.majmin !== undefined && e.majmin !== m.majmin) return false;
  if (e.root !== undefined && e.root !== m.root) return false;
  return true;
}

const describe = (m: MountinfoEntry) => `${m.fstype} ${m.source} (st_dev ${m.majmin}, root ${m.root})`;

function classifyExtra(m: MountinfoEntry, ctx: DiffContext): MountFinding {
  const reasons: FindingReason[] = [];
  const hostPath = nodePathOf(ctx.nodeMounts, m);
  const fromLayer = ctx.layerMajmins?.has(m.majmin) ?? false;
  let what: string;
  if (m.mountPoint === '/') {
    reasons.push('mount-over-root');
    what = 'a mount over the container root /';
  } else if (m.fstype === 'tmpfs' && isUnder(m.mountPoint, '/etc')) {
    reasons.push('tmpfs-over-etc');
    what = `a tmpfs over ${m.mountPoint}`;
  } else {
    const kind = ctx.kindOf?.(m.mountPoint);
    reasons.push(kind === 'file' ? 'overmount-file' : kind === 'directory' ? 'overmount-directory' : 'overmount');
    what = `an overmount of the ${kind ?? 'path'} ${m.mountPoint}`;
  }
  if (hostPath !== undefined && !fromLayer) reasons.push('host-bind');
  if (!fromLayer) reasons.push('unverified-source');
  const source = hostPath !== undefined && !fromLayer ? `bound from the node's ${hostPath}` : fromLayer ? 'from a verified layer, but not where the spec puts it' : 'not backed by a verified layer';
  return {
    key: `extra:${m.mountId}:${m.majmin}:${m.root}:${m.mountPoint}`,
    reasons,
    reason: `${what} that the container's spec does not declare: ${describe(m)}, ${source}`,
    entry: m,
    hostPath,
  };
}

/**
 * Findings for one namespace. An empty mountinfo (a namespace that is going
 * away) yields none: the caller decides whether the container still exists.
 */
export function diffMounts(expectation: MountExpectation, actual: readonly MountinfoEntry[], ctx: DiffContext): MountFinding[] {
  if (actual.length === 0) return [];
  const findings: MountFinding[] = [];
  const { rootfs } = expectation;
  const root = namespaceRoot(actual);
  if (root) {
    if (rootfs.nodeMount && root.majmin !== rootfs.nodeMount.majmin) {
      findings.push({
        key: `rootfs-replaced:${root.mountId}:${root.majmin}`,
        reasons: ['rootfs-replaced', 'unverified-source'],
        reason: `the container root is ${describe(root)}, not the bundle rootfs ${rootfs.bundleRootfs} (st_dev ${rootfs.nodeMount.majmin})`,
        entry: root,
      });
    }
    if (rootfs.readOnly && !isReadOnly(root)) {
      findings.push({ key: `changed:${root.mountId}:rw`, reasons: ['changed-mount'], reason: `the container root is mounted read-write, the spec says root.readonly`, entry: root });
    }
    for (const problem of rootfs.problems) {
      findings.push({ key: `rootfs:${problem}`, reasons: ['unverified-source'], reason: `the container root is not backed by verified layers: ${problem}`, entry: root });
    }
  }

  const consumed = new Set<ExpectedMount>();
  for (const m of actual) {
    if (m === root) continue;
    const e = expectation.mounts.find((x) => (x.under || !consumed.has(x)) && matches(x, m));
    if (!e) {
      findings.push(classifyExtra(m, ctx));
      continue;
    }
    if (!e.under) consumed.add(e);
    if (e.readOnly && !isReadOnly(m)) {
      findings.push({
        key: `changed:${m.mountId}:rw`,
        reasons: ['changed-mount'],
        reason: `${m.mountPoint} is mounted read-write, the spec makes it read-only (${e.why})`,
        entry: m,
        expected: e,
      });
    }
    if (e.noexec && !m.mountOptions.includes('noexec')) {
      findings.push({
        key: `changed:${m.mountId}:exec`,
        reasons: ['changed-mount'],
        reason: `${m.mountPoint} lets programs run, the spec makes it noexec (${e.why}): code that is in no image layer can be copied there and run`,
        entry: m,
        expected: e,
      });
    }
  }
  for (const e of expectation.mounts) {
    if (e.optional || e.under || consumed.has(e)) continue;
    findings.push({
      key: `missing:${e.mountPoint}:${e.why}`,
      reasons: ['missing-mount'],
      reason: `${e.mountPoint} is not mounted as the spec declares (${e.why}); what lies under it is now visible`,
      expected: e,
    });
  }
  return findings;
}
