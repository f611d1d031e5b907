/**
 * Checks layer files against signed dm-verity root hashes, in userspace or
 * (where the node has device-mapper) through kernel dm-verity devices.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, type BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { computeRootHash, DELIVERY_KIT_PARAMS, format as verityFormat } from '../verity/index.ts';
import { runChecked, type Exec } from '../exec.ts';

/**
 * A cache of verified root hashes, keyed by what an in-place edit or a file
 * swap must change: device, inode, size, mtime and ctime (ctime cannot be
 * set from userspace). A hit skips re-hashing an unchanged file; the watchdog
 * re-verifies files in use periodically regardless.
 */
export class RootHashCache {
  readonly #path: string;
  #entries: Record<string, string>;
  /** Hashes under way, by the same key as the entries. */
  readonly #running = new Map<string, Promise<string>>();
  readonly #compute: typeof computeRootHash;

  /** `compute` is the hasher (tests count its calls). */
  constructor(path: string, compute: typeof computeRootHash = computeRootHash) {
    this.#path = path;
    this.#compute = compute;
    try {
      this.#entries = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
    } catch {
      this.#entries = {};
    }
  }

  static keyOf(file: string): string {
    return RootHashCache.#key(statSync(file, { bigint: true }));
  }

  static #key(s: BigIntStats): string {
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  }

  async rootHash(file: string): Promise<{ hex: string; cached: boolean }> {
    const fd = openSync(file, 'r');
    try {
      return await this.rootHashOfFd(fd, file);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Root hash of the inode `fd` has open (named `file` in messages), read
   * through /proc/self/fd. A hash of the same identity already under way
   * (the daemon hashing a new layer file when the container's start comes
   * first) is waited for, not computed a second time on the same cores.
   */
  async rootHashOfFd(fd: number, file: string): Promise<{ hex: string; cached: boolean }> {
    // dm-verity covers whole data blocks only (veritysetup rounds down):
    // bytes past the last 4096-byte block would be unverified.
    const st = fstatSync(fd, { bigint: true });
    if (st.size % BigInt(DELIVERY_KIT_PARAMS.dataBlockSize) !== 0n) {
      throw new Error(`${file}: ${st.size} bytes is not a whole number of ${DELIVERY_KIT_PARAMS.dataBlockSize}-byte blocks; the tail would not be covered by the root hash`);
    }
    const key = `${file}|${RootHashCache.#key(st)}`;
    const hit = this.#entries[key];
    if (hit) return { hex: hit, cached: true };
    const running = this.#running.get(key);
    if (running) return { hex: await running, cached: false };
    const hashing = this.#compute(`/proc/self/fd/${fd}`, DELIVERY_KIT_PARAMS).then((h) => h.toString('hex'));
    this.#running.set(key, hashing);
    let hex: string;
    try {
      hex = await hashing;
    } finally {
      this.#running.delete(key);
    }
    this.#entries[key] = hex;
    try {
      mkdirSync(dirname(this.#path), { recursive: true });
      writeFileSync(this.#path, JSON.stringify(this.#entries));
    } catch {
      // A cache that cannot be written only costs time.
    }
    return { hex, cached: false };
  }
}

export interface KernelVerityDevice {
  name: string;
  device: string;
  hashFile: string;
  mountPoint: string;
}

/**
 * The kernel dm-verity path (Documentation/admin-guide/device-mapper/verity.rst):
 * build the hash tree for the layer file with the signed parameters, open a
 * verity device over it with the SIGNED root hash, and mount EROFS from the
 * device, so every read is checked by the kernel. Fails closed: any error
 * throws and the container is refused.
 *
 * Not exercised on the lab host (no device-mapper); covered by unit tests
 * with a recording Exec.
 */
export async function openKernelVerity(
  exec: Exec,
  layerFile: string,
  signedRootHash: string,
  workDir: string,
  id: string,
): Promise<KernelVerityDevice> {
  const name = `integrity-${id}`;
  const hashFile = `${workDir}/${id}.verity`;
  const mountPoint = `${workDir}/${id}.mnt`;
  mkdirSync(workDir, { recursive: true });
  const built = await verityFormat(layerFile, hashFile, { params: DELIVERY_KIT_PARAMS });
  if (built.rootHash.toString('hex') !== signedRootHash) {
    throw new Error(`${layerFile}: root hash ${built.rootHash.toString('hex')} does not match the signed ${signedRootHash}`);
  }
  await runChecked(exec, ['veritysetup', 'open', layerFile, name, hashFile, signedRootHash]);
  await runChecked(exec, ['mkdir', '-p', mountPoint]);
  await runChecked(exec, ['mount', '-t', 'erofs', '-o', 'ro', `/dev/mapper/${name}`, mountPoint]);
  return { name, device: `/dev/mapper/${name}`, hashFile, mountPoint };
}

/** Whether the kernel can do dm-verity here. */
export function kernelVerityAvailable(procDevices = readFileSafe('/proc/devices')): boolean {
  return /\bdevice-mapper\b/.test(procDevices) && fileExists('/dev/mapper/control') && fileExists('/sbin/veritysetup');
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
function fileExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
