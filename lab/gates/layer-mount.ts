/**
 * Binds a signed root hash to what is mounted, not to a path.
 *
 * mountinfo's source field is the text given to mount(2): root can place a
 * forged EROFS filesystem on a snapshot's mount point (or on any shared
 * mount point) whose source string names the genuine, untouched
 * `layer.erofs`. So the start gate never trusts an existing mount. For each
 * layer it:
 *
 * 1. opens the file and keeps the descriptor (the inode it hashes cannot be
 *    swapped under it), and hashes the bytes of that descriptor;
 * 2. attaches a read-only loop device to that descriptor (reopened through
 *    /proc/<pid>/fd) and checks, from the kernel's loop status
 *    (LOOP_GET_STATUS64's device and inode), that it is backed by the very
 *    inode it hashed;
 * 3. mounts that device on a mount point it owns, per container
 *    (`/run/integrity-lab/layers/<id>/<n>`), refusing one that is occupied,
 *    and checks that the mount there is the device (major:minor, from the
 *    kernel), not a source string;
 * 4. detaches the loop device at once: the kernel then frees it (autoclear)
 *    when the last mount goes, that is when the container goes.
 *
 * In kernel dm-verity mode the verity device is opened over the loop device
 * with the signed root hash, and mounted instead; it is closed (deferred)
 * when the container is deleted (releaseContainerLayers).
 *
 * The loop devices and mounts are made by a small static helper
 * (native/layer-bind.c, installed as LAYER_BIND). In userspace verity mode
 * one process does every step for a container (`layer-bind bind`: the
 * backing check of step 2 before it mounts, then the read-only overlay on
 * the rootfs), and the gate checks the result from mountinfo; with kernel
 * dm-verity, veritysetup runs between the steps, so they are separate calls.
 */
import { closeSync, fstatSync, mkdirSync, openSync } from 'node:fs';
import { join, posix } from 'node:path';
import { runChecked, type Exec } from '../exec.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS, format as verityFormat } from '../verity/index.ts';
import { isReadOnly, isUnder, overlayLowerdirs, parseMountinfo, superOption } from '../watchdog/mountinfo.ts';
import { equalHex } from '../constant-time.ts';
import { Refusal } from './refusal.ts';
import { checkVerityTable, parseDmTable } from './dm-table.ts';

/** The helper that attaches, mounts and detaches (native/layer-bind.c), on the node. */
export const LAYER_BIND = '/opt/integrity-lab/layer-bind';
export const LAYER_BIND_SOURCE = join(import.meta.dirname, 'native', 'layer-bind.c');

/** Where the start gate mounts each container's verified layers. */
export const GATE_LAYER_ROOT = '/run/integrity-lab/layers';

/** The gate-owned directory of one container's layers. */
export function containerLayerDir(containerId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(containerId)) throw new Refusal(`container id ${JSON.stringify(containerId)} cannot name a directory`);
  return posix.join(GATE_LAYER_ROOT, containerId);
}

/** Major:minor of a stat dev number (Linux new_encode_dev). */
export function majminOf(dev: bigint): string {
  const major = (dev & 0xfff00n) >> 8n;
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xfff00n);
  return `${major}:${minor}`;
}

export interface LayerToBind {
  /** The image file to mount (a snapshot's layer.erofs, or the standard layer). */
  file: string;
  /** The root hash it must have (signed, or pinned). */
  signed: string;
  /** Name of its mount point in the container's directory. */
  name: string;
  /** For messages: `layer 2 (sha256:…)`, `the standard layer`. */
  label: string;
}

export interface BoundLayer {
  file: string;
  name: string;
  mountPoint: string;
  /** The block device mounted there (a loop device, or a dm-verity device). */
  device: string;
  /** Its major:minor as the kernel reports the mount. */
  majmin: string;
  /** dev:ino of the file the hash was computed from and the loop device reads. */
  backing: string;
  actual: string;
  cached: boolean;
}

export interface RootHasher {
  /** Root hash of the open file `fd` (named `file`), cached by its identity. */
  rootHashOfFd(fd: number, file: string): Promise<{ hex: string; cached: boolean }>;
}

export interface BindDeps {
  exec: Exec;
  mountinfo(): string;
  hasher: RootHasher;
  /** Kernel dm-verity: the work directory for hash trees. Absent: userspace. */
  kernel?: { workDir: string };
  /** The layer-bind program to run: the daemon passes its pinned descriptor (pins.ts pinnedProgram). Default LAYER_BIND. */
  helper?: string;
}

/**
 * Parses `layer-bind attach` lines, `DEVICE MAJ:MIN BACKING-MAJ:MIN
 * BACKING-INO` (also what `losetup --list --raw -O
 * NAME,MAJ:MIN,BACK-MAJ:MIN,BACK-INO` prints).
 */
export function parseLoopList(text: string): Map<string, { majmin: string; backing: string }> {
  const out = new Map<string, { majmin: string; backing: string }>();
  for (const line of text.split('\n')) {
    const [name, majmin, backDev, backIno] = line.trim().split(/\s+/);
    if (name && majmin && backDev && backIno) out.set(name, { majmin, backing: `${backDev}:${backIno}` });
  }
  return out;
}

/** Verity device name for a container's layer: dm names are at most 127 bytes. */
export function verityName(containerId: string, name: string): string {
  return `integrity-${containerId.slice(0, 32)}-${name}`;
}

/** What the helper's exit code says went wrong in `layer-bind bind` (native/layer-bind.c). */
const BIND_FAILED = { attach: 1, backing: 3, mount: 4, overlay: 5 } as const;

/**
 * Verifies and mounts each layer from the bytes it hashed, then mounts the
 * read-only overlay of them on `rootfs` (the last layer on top, no
 * upperdir); fails closed. On failure everything this call mounted for the
 * layers is released again before it throws. A failed overlay mount is the
 * helper's own failure, not a finding: it throws a plain Error (the gate's
 * internal error), the rest throw a Refusal.
 */
export async function bindLayers(containerId: string, layers: readonly LayerToBind[], rootfs: string, deps: BindDeps): Promise<BoundLayer[]> {
  const dir = containerLayerDir(containerId);
  const helper = deps.helper ?? LAYER_BIND;
  const fds: number[] = [];
  const attached: string[] = [];
  const mountPoints = layers.map((l) => posix.join(dir, l.name));
  const lowerdirs = [...mountPoints].reverse().join(':');
  let helperRan = false;
  try {
    // The mount points must be new: an occupied one is somebody else's mount.
    const before = parseMountinfo(deps.mountinfo());
    for (const [i, l] of layers.entries()) {
      const mp = mountPoints[i]!;
      const there = before.find((m) => m.mountPoint === mp || m.mountPoint.startsWith(`${mp}/`));
      if (there) throw new Refusal(`${l.label}: the gate's mount point ${mp} is already occupied: ${there.line}`);
    }

    // 1. Open and hash. The descriptor pins the inode whatever the path names later.
    const opened: { fd: number; path: string; backing: string; hex: string; cached: boolean }[] = [];
    for (const l of layers) {
      let fd: number;
      try {
        fd = openSync(l.file, 'r');
      } catch (err) {
        throw new Refusal(`${l.label}: cannot open ${l.file}: ${(err as Error).message}`);
      }
      fds.push(fd);
      const st = fstatSync(fd, { bigint: true });
      if (!st.isFile()) throw new Refusal(`${l.label}: ${l.file} is not a regular file`);
      const { hex, cached } = await deps.hasher.rootHashOfFd(fd, l.file);
      if (!equalHex(hex, l.signed)) throw new Refusal(`${l.label}: ${l.file} has dm-verity root hash ${hex}, the signed manifest says ${l.signed}`);
      // The helper opens the gate's own descriptors (/proc/<pid>/fd/<n>), not
      // the paths: the devices read the inodes hashed above, whatever the
      // paths name now. The kernel's loop status below still says so.
      opened.push({ fd, path: `/proc/${process.pid}/fd/${fd}`, backing: `${majminOf(st.dev)}:${st.ino}`, hex, cached });
    }

    helperRan = true;
    const bound = deps.kernel
      ? await bindThroughKernelVerity(containerId, layers, opened, mountPoints, rootfs, lowerdirs, deps as BindDeps & { kernel: { workDir: string } }, helper, attached)
      : await bindInOneStep(layers, opened, mountPoints, rootfs, lowerdirs, deps, helper);

    // What the kernel now reports, never the helper's word: each mount point
    // is the device bound to the hashed inode, read-only EROFS, and the root
    // is the read-only overlay of exactly those mounts.
    const after = parseMountinfo(deps.mountinfo());
    for (const b of bound) {
      const at = after.filter((x) => x.mountPoint === b.mountPoint).pop();
      if (!at || at.majmin !== b.majmin || at.fstype !== 'erofs' || !isReadOnly(at)) {
        throw new Refusal(`${b.file}: the mount at ${b.mountPoint} is not the verified device ${b.device} (${b.majmin}) read-only: ${at?.line ?? 'not mounted'}`);
      }
    }
    const root = after.filter((x) => x.mountPoint === rootfs).pop();
    if (!root || !isReadOnly(root) || overlayLowerdirs(root).join(':') !== lowerdirs || superOption(root, 'upperdir') !== undefined) {
      throw new Refusal(`rootfs ${rootfs} is not the read-only overlay of the verified layers (lowerdir=${lowerdirs}, no upperdir): ${root?.line ?? 'not mounted'}`);
    }
    return bound;
  } catch (err) {
    // Once the helper ran, whatever is mounted in the container's directory is this call's: release it.
    const ours = helperRan ? parseMountinfo(deps.mountinfo()).filter((m) => isUnder(m.mountPoint, dir) && m.mountPoint !== dir).map((m) => m.mountPoint) : [];
    for (const mp of ours.reverse()) await deps.exec.run(['umount', mp]);
    if (deps.kernel) for (const l of layers) await deps.exec.run(['veritysetup', 'close', '--deferred', verityName(containerId, l.name)]);
    throw err;
  } finally {
    if (attached.length) await deps.exec.run([helper, 'detach', ...attached]);
    for (const fd of fds) closeSync(fd);
  }
}

type Opened = { path: string; backing: string; hex: string; cached: boolean };

/**
 * Userspace verity: nothing runs between attaching, checking, mounting,
 * detaching and the overlay, so the helper does all of it in one process
 * (`layer-bind bind`), checking each device's backing inode against the one
 * hashed before it mounts anything from it.
 */
async function bindInOneStep(layers: readonly LayerToBind[], opened: Opened[], mountPoints: string[], rootfs: string, lowerdirs: string, deps: BindDeps, helper: string): Promise<BoundLayer[]> {
  const r = await deps.exec.run([helper, 'bind', rootfs, lowerdirs, ...opened.flatMap((o, i) => [o.path, o.backing, mountPoints[i]!])]);
  const loops = [...parseLoopList(r.stdout.toString()).entries()];
  const stderr = r.stderr.toString().trim();
  if (r.exitCode === BIND_FAILED.backing) {
    const i = loops.length - 1;
    throw new Refusal(`${layers[i]?.label ?? 'a layer'}: loop device ${loops[i]?.[0] ?? '?'} reads inode ${loops[i]?.[1].backing ?? 'unknown'}, but the gate verified ${layers[i]?.file ?? '?'} as inode ${opened[i]?.backing ?? '?'}`);
  }
  if (r.exitCode === BIND_FAILED.attach || (r.exitCode === 0 && loops.length !== layers.length)) {
    throw new Refusal(`cannot set up a loop device for ${layers[loops.length]?.file ?? 'a layer'} (exit ${r.exitCode}): ${stderr || 'no device reported'}`);
  }
  if (r.exitCode === BIND_FAILED.mount) throw new Refusal(`cannot mount the verified layers under ${posix.dirname(mountPoints[0]!)} (exit ${r.exitCode}): ${stderr}`);
  if (r.exitCode !== 0) throw new Error(`command failed with exit code ${r.exitCode}: ${helper} bind ${rootfs}: ${stderr}`);
  return layers.map((l, i) => {
    const [device, loop] = loops[i]!;
    return { file: l.file, name: l.name, mountPoint: mountPoints[i]!, device, majmin: loop.majmin, backing: loop.backing, actual: opened[i]!.hex, cached: opened[i]!.cached };
  });
}

/**
 * Kernel dm-verity: a verity device is opened over each checked loop device
 * with the signed root hash and mounted instead, so the steps are separate
 * helper calls with veritysetup between them. Devices attached are pushed
 * to `attached` for the caller to detach.
 */
async function bindThroughKernelVerity(
  containerId: string,
  layers: readonly LayerToBind[],
  opened: (Opened & { fd: number })[],
  mountPoints: string[],
  rootfs: string,
  lowerdirs: string,
  deps: BindDeps & { kernel: { workDir: string } },
  helper: string,
  attached: string[],
): Promise<BoundLayer[]> {
  const setup = await deps.exec.run([helper, 'attach', ...opened.map((o) => o.path)]);
  const loops = parseLoopList(setup.stdout.toString());
  const devices = [...loops.keys()];
  attached.push(...devices);
  if (setup.exitCode !== 0 || devices.length !== layers.length) {
    throw new Refusal(`cannot set up a loop device for ${layers[devices.length]?.file ?? 'a layer'} (exit ${setup.exitCode}): ${setup.stderr.toString().trim() || 'no device reported'}`);
  }
  const bound: BoundLayer[] = [];
  for (const [i, l] of layers.entries()) {
    const loop = loops.get(devices[i]!);
    if (!loop || loop.backing !== opened[i]!.backing) {
      throw new Refusal(`${l.label}: loop device ${devices[i]} reads inode ${loop?.backing ?? 'unknown'}, but the gate verified ${l.file} as inode ${opened[i]!.backing}`);
    }
    bound.push({ file: l.file, name: l.name, mountPoint: mountPoints[i]!, device: devices[i]!, majmin: loop.majmin, backing: loop.backing, actual: opened[i]!.hex, cached: opened[i]!.cached });
  }
  for (const [i, b] of bound.entries()) {
    const name = verityName(containerId, b.name);
    const hashFile = posix.join(deps.kernel.workDir, `${name}.verity`);
    mkdirSync(deps.kernel.workDir, { recursive: true });
    const built = await verityFormat(`/proc/self/fd/${opened[i]!.fd}`, hashFile, { params: DELIVERY_KIT_PARAMS });
    if (!equalHex(built.rootHash.toString('hex'), layers[i]!.signed)) throw new Refusal(`${layers[i]!.label}: hash tree root ${built.rootHash.toString('hex')} does not match the signed ${layers[i]!.signed}`);
    await runChecked(deps.exec, ['veritysetup', 'open', b.device, name, hashFile, layers[i]!.signed]);
    // What veritysetup opened, in the kernel's words (dm-table.ts): a verity
    // target over this loop device with the signed root hash, and its number.
    const table = parseDmTable((await runChecked(deps.exec, [helper, 'dm-table', name])).stdout.toString(), name);
    checkVerityTable(table, { dataDevice: b.majmin, dataBytes: Number(fstatSync(opened[i]!.fd).size), rootHash: layers[i]!.signed, params: DELIVERY_KIT_PARAMS }, name);
    b.device = `/dev/mapper/${name}`;
    b.majmin = table.majmin;
  }
  // Mount each device on the gate's own mount point; the loop devices are
  // dropped by the caller: busy ones are freed by the kernel when the mount goes.
  const m = await deps.exec.run([helper, 'mount', ...bound.flatMap((b) => [b.device, b.mountPoint])]);
  if (m.exitCode !== 0) throw new Refusal(`cannot mount the verified layers under ${posix.dirname(mountPoints[0]!)} (exit ${m.exitCode}): ${m.stderr.toString().trim()}`);
  // (layer-bind rootfs: umount2, then mount(2) of the overlay.)
  await runChecked(deps.exec, [helper, 'rootfs', rootfs, lowerdirs]);
  return bound;
}

/** Root hash of an open file, read through /proc/self/fd (the same inode, whatever its path names now). */
export async function rootHashOfOpenFile(fd: number): Promise<string> {
  return (await computeRootHash(`/proc/self/fd/${fd}`, DELIVERY_KIT_PARAMS)).toString('hex');
}
