/**
 * The expected mount set of a container, derived from what the runtime was
 * told to do (the OCI config.json in containerd's bundle directory) and from
 * the node's own mount table (where each bind source and each layer lives).
 *
 * Pure: every input is passed in, so the derivation is tested on mountinfo
 * and config.json captured from lab nodes (lab/watchdog/testdata).
 *
 * Sources:
 * - OCI runtime spec, config.md "Root" and "Mounts", config-linux.md
 *   "Masked Paths" and "Readonly Paths".
 * - runc, libcontainer/rootfs_linux.go: mounts are made in spec order; a
 *   `bind`/`rbind` option makes a bind whatever the type; a v1 `cgroup`
 *   mount becomes a tmpfs with one cgroup mount per controller below it;
 *   masked files get /dev/null bound over them and masked directories a
 *   read-only tmpfs; read-only paths are bound onto themselves, read-only;
 *   a terminal adds /dev/console.
 * - The start gate (lab/gates/runtime-gate.ts, layer-mount.ts): a protected
 *   rootfs is a read-only overlay of the standard layer over the verified
 *   layers, each mounted by the gate from a loop (or dm-verity) device on
 *   /run/integrity-lab/layers/<container id>/<n>, with no upperdir. Such a
 *   layer is identified by the device the kernel reports for the mount
 *   (major:minor), and re-verified by hashing that device: what is mounted,
 *   not what a path or a mount's source string names.
 */
import { basename, dirname, isAbsolute, join } from 'node:path';
import { GATE_LAYER_ROOT } from '../gates/layer-mount.ts';
import { bindIdentity, isReadOnly, isUnder, joinPath, relativeTo, superOption, type MountinfoEntry } from './mountinfo.ts';

/** The parts of an OCI runtime config the watchdog reads. */
export interface OciSpec {
  root?: { path?: string; readonly?: boolean };
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  annotations?: Record<string, string>;
  process?: { terminal?: boolean };
  linux?: { maskedPaths?: string[]; readonlyPaths?: string[]; devices?: { path: string }[] };
}

/** One lowerdir of the container's root overlay, as the node mounts it. */
export interface LayerRef {
  lowerdir: string;
  /** `snapshot`: containerd's EROFS layer; `standard`: the start gate's standard layer. */
  kind: 'snapshot' | 'standard' | 'unknown';
  /**
   * What re-verification hashes: the block device the gate mounted (a
   * gate-owned layer), or the EROFS image file (a snapshot's own mount,
   * which can only be named by path).
   */
  layerFile?: string;
  /** The node's mount on the lowerdir. */
  mount?: MountinfoEntry;
  /** Why this lowerdir is not a layer the watchdog can vouch for. */
  problem?: string;
}

export interface RootfsExpectation {
  /** Node path of the bundle's rootfs mount. */
  bundleRootfs: string;
  /** The node's mount there; the container's root must be the same superblock. */
  nodeMount?: MountinfoEntry;
  readOnly: boolean;
  /** Lowerdirs, top first (overlayfs order). */
  layers: LayerRef[];
  upperdir?: string;
  /** The standard layer is on top: the start gate rewired this rootfs. */
  gated: boolean;
  problems: string[];
}

/**
 * One mount the container may have. An entry of the container's mountinfo
 * matches when every given field is equal; `under` matches any number of
 * entries strictly below `mountPoint`.
 */
export interface ExpectedMount {
  mountPoint: string;
  under?: boolean;
  fstypes?: string[];
  majmin?: string;
  root?: string;
  /** The mount must be read-only. */
  readOnly: boolean;
  /**
   * The spec says `noexec`: on a protected container the start gate puts it
   * on every writable mount (lab/gates/runtime-gate.ts noexecWritableMounts),
   * so that code copied there cannot run; a mount that lost it reopens that.
   */
  noexec?: boolean;
  /** The runtime may leave it out (a masked path that does not exist, a submount). */
  optional: boolean;
  /** The spec element or runtime behaviour it comes from. */
  why: string;
}

export interface MountExpectation {
  rootfs: RootfsExpectation;
  mounts: ExpectedMount[];
}

export interface DeriveContext {
  /** containerd's bundle directory: /run/containerd/io.containerd.runtime.v2.task/k8s.io/<id>. */
  bundleDir: string;
  /** The node's mount table (the watchdog runs in the node's mount namespace). */
  nodeMounts: readonly MountinfoEntry[];
  /** The node's block device node with this major:minor (from /sys/dev/block), when there is one. */
  blockDevice?: (majmin: string) => string | undefined;
  /** Canonical node path of a bind source (symlinks resolved). */
  realpath?: (path: string) => string;
}

const lastAt = (entries: readonly MountinfoEntry[], mountPoint: string) => entries.filter((e) => e.mountPoint === mountPoint).pop();

function isBind(m: { type?: string; options?: string[] }): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

/** Classifies one lowerdir: which device or file backs it, and whether that is a layer. */
export function classifyLowerdir(lowerdir: string, ctx: DeriveContext): LayerRef {
  const mount = lastAt(ctx.nodeMounts, lowerdir);
  if (isUnder(lowerdir, GATE_LAYER_ROOT)) {
    // A gate-owned mount: this container's own, a block device, read-only EROFS.
    const own = join(GATE_LAYER_ROOT, basename(ctx.bundleDir));
    const kind = basename(lowerdir) === 'standard' ? 'standard' : 'snapshot';
    const device = mount ? ctx.blockDevice?.(mount.majmin) : undefined;
    const problem =
      dirname(lowerdir) !== own
        ? `lowerdir ${lowerdir} is a start-gate layer of another container (this one's are under ${own})`
        : !mount || mount.fstype !== 'erofs' || !isReadOnly(mount)
          ? `the gate's layer mount ${lowerdir} is not read-only EROFS: ${mount?.line ?? 'not mounted'}`
          : !device || !/^\/dev\/(loop\d+|dm-\d+)$/.test(device)
            ? `the gate's layer mount ${lowerdir} is on device ${mount.majmin}, which is not a loop or dm-verity device on this node: ${mount.line}`
            : undefined;
    return { lowerdir, kind, layerFile: problem ? undefined : device, mount, problem };
  }
  const layerFile = join(dirname(lowerdir), 'layer.erofs');
  if (!mount || mount.fstype !== 'erofs' || !isReadOnly(mount) || mount.source !== layerFile) {
    return { lowerdir, kind: 'unknown', mount, problem: `lowerdir ${lowerdir} is not a read-only EROFS mount of ${layerFile}: ${mount?.line ?? 'not mounted'}` };
  }
  return { lowerdir, kind: 'snapshot', layerFile, mount };
}

export function deriveRootfs(spec: OciSpec, ctx: DeriveContext): RootfsExpectation {
  const path = spec.root?.path ?? 'rootfs';
  const bundleRootfs = isAbsolute(path) ? path : join(ctx.bundleDir, path);
  const nodeMount = lastAt(ctx.nodeMounts, bundleRootfs);
  const readOnly = spec.root?.readonly === true;
  const problems: string[] = [];
  if (!nodeMount) {
    return { bundleRootfs, readOnly, layers: [], gated: false, problems: [`the bundle rootfs ${bundleRootfs} is not mounted on the node`] };
  }
  if (nodeMount.fstype !== 'overlay') {
    return { bundleRootfs, nodeMount, readOnly, layers: [], gated: false, problems: [`the bundle rootfs ${bundleRootfs} is ${nodeMount.fstype}, expected an overlay of EROFS layers`] };
  }
  const layers = (superOption(nodeMount, 'lowerdir') ?? '').split(':').filter(Boolean).map((l) => classifyLowerdir(l, ctx));
  for (const l of layers) if (l.problem) problems.push(l.problem);
  if (layers.length === 0) problems.push(`the bundle rootfs ${bundleRootfs} has no lowerdir`);
  const upperdir = superOption(nodeMount, 'upperdir');
  const gated = layers[0]?.kind === 'standard';
  if (gated && upperdir) problems.push(`the gated rootfs ${bundleRootfs} has an upperdir (${upperdir}); the start gate mounts it without one`);
  return { bundleRootfs, nodeMount, readOnly, layers, upperdir, gated, problems };
}

/** The mounts runc makes for the spec (everything but the root). */
export function deriveMounts(spec: OciSpec, ctx: DeriveContext): ExpectedMount[] {
  const out: ExpectedMount[] = [];
  for (const [i, m] of (spec.mounts ?? []).entries()) {
    const dest = m.destination;
    const readOnly = (m.options ?? []).includes('ro');
    const noexec = (m.options ?? []).includes('noexec') ? { noexec: true } : {};
    const why = `mounts[${i}] ${m.type ?? 'bind'} ${m.source ?? ''} on ${dest}`;
    if (isBind(m)) {
      const source = m.source ?? '';
      const canonical = ctx.realpath ? ctx.realpath(source) : source;
      const id = bindIdentity(ctx.nodeMounts, canonical);
      if (!id) {
        out.push({ mountPoint: dest, readOnly, ...noexec, optional: false, why: `${why} (source not found on the node)` });
        continue;
      }
      out.push({ mountPoint: dest, majmin: id.majmin, root: id.root, readOnly, ...noexec, optional: false, why });
      if ((m.options ?? []).includes('rbind')) {
        // Submounts of the source come along with a recursive bind.
        for (const n of ctx.nodeMounts) {
          if (n.mountPoint === canonical || !isUnder(n.mountPoint, canonical)) continue;
          out.push({ mountPoint: joinPath(dest, relativeTo(n.mountPoint, canonical)), majmin: n.majmin, root: n.root, readOnly, optional: true, why: `${why}: submount ${n.mountPoint}` });
        }
      }
      continue;
    }
    if (m.type === 'cgroup' || m.type === 'cgroup2') {
      // cgroup v2: one cgroup2 mount; v1: a tmpfs with the controllers below.
      out.push({ mountPoint: dest, fstypes: ['cgroup2', 'tmpfs'], readOnly: false, optional: false, why });
      out.push({ mountPoint: dest, under: true, fstypes: ['cgroup'], readOnly, optional: true, why: `${why}: v1 controllers` });
      continue;
    }
    out.push({ mountPoint: dest, fstypes: [m.type ?? ''], readOnly, ...noexec, optional: false, why });
  }
  const linux = spec.linux ?? {};
  const specMounts = out.filter((e) => !e.under && e.fstypes);
  for (const p of linux.maskedPaths ?? []) {
    // A file gets /dev/null bound over it, a directory a read-only tmpfs;
    // paths that do not exist are skipped.
    out.push({ mountPoint: p, root: '/null', readOnly: false, optional: true, why: `maskedPaths ${p} (file)` });
    out.push({ mountPoint: p, fstypes: ['tmpfs'], root: '/', readOnly: true, optional: true, why: `maskedPaths ${p} (directory)` });
  }
  for (const p of linux.readonlyPaths ?? []) {
    const parent = specMounts.filter((e) => isUnder(p, e.mountPoint)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
    out.push({
      mountPoint: p,
      fstypes: parent?.fstypes,
      root: parent ? `/${relativeTo(p, parent.mountPoint)}` : undefined,
      readOnly: true,
      optional: true,
      why: `readonlyPaths ${p}`,
    });
  }
  if (spec.process?.terminal) out.push({ mountPoint: '/dev/console', fstypes: ['devpts'], readOnly: false, optional: true, why: 'process.terminal' });
  for (const d of linux.devices ?? []) {
    // Bound from the host instead of created when the container has a user namespace.
    out.push({ mountPoint: d.path, fstypes: ['devtmpfs', 'tmpfs'], readOnly: false, optional: true, why: `linux.devices ${d.path}` });
  }
  return out;
}

export function deriveExpectation(spec: OciSpec, ctx: DeriveContext): MountExpectation {
  return { rootfs: deriveRootfs(spec, ctx), mounts: deriveMounts(spec, ctx) };
}
