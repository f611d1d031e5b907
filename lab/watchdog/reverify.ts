/**
 * Periodic re-verification of the layer files in use: each layer.erofs (and
 * the standard layer) that backs a watched container is hashed again, at
 * most once per `minIntervalMs`, and compared with the root hash the image
 * signature binds it to. An in-place edit of a running container's layer is
 * therefore found within one period, whatever the page cache shows.
 *
 * The schedule is pure (time is passed in); hashing is lab/verity's
 * computeRootHash with the delivery-kit parameters, fed through the read
 * budget.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import type { ReadBudget } from './budget.ts';

export interface LayerResult {
  at: number;
  ok: boolean;
  actual?: string;
  error?: string;
  bytes: number;
  ms: number;
}

export interface LayerRecord {
  file: string;
  /** Signed root hash per container using the file (they agree unless an image lies). */
  signedBy: Map<string, { signed: string; digest: string }>;
  /** dev:ino of the file when first registered; a new inode means the file was replaced. */
  identity?: string;
  running: boolean;
  lastStartedAt?: number;
  last?: LayerResult;
  /** Root hashes already alerted on, so one bad state is reported once. */
  reported: Set<string>;
}

export class ReverifySchedule {
  readonly minIntervalMs: number;
  readonly layers = new Map<string, LayerRecord>();

  constructor(minIntervalMs: number) {
    this.minIntervalMs = minIntervalMs;
  }

  register(file: string, container: string, signed: string, digest: string, identity?: string): LayerRecord {
    let rec = this.layers.get(file);
    if (!rec) {
      rec = { file, signedBy: new Map(), identity, running: false, reported: new Set() };
      this.layers.set(file, rec);
    }
    rec.signedBy.set(container, { signed, digest });
    return rec;
  }

  /** Drops a container; layers nobody uses any more are forgotten. */
  unregister(container: string): void {
    for (const [file, rec] of this.layers) {
      rec.signedBy.delete(container);
      if (rec.signedBy.size === 0) this.layers.delete(file);
    }
  }

  /** Layers whose period has come, least recently verified first. */
  due(now: number): LayerRecord[] {
    return [...this.layers.values()]
      .filter((r) => !r.running && (r.lastStartedAt === undefined || now - r.lastStartedAt >= this.minIntervalMs))
      .sort((a, b) => (a.lastStartedAt ?? -Infinity) - (b.lastStartedAt ?? -Infinity));
  }

  /** Milliseconds until the next layer is due (Infinity when none is registered). */
  nextDueIn(now: number): number {
    let next = Infinity;
    for (const r of this.layers.values()) {
      if (r.running) continue;
      next = Math.min(next, r.lastStartedAt === undefined ? 0 : Math.max(0, r.lastStartedAt + this.minIntervalMs - now));
    }
    return next;
  }
}

export function fileIdentity(file: string): string {
  const s = statSync(file, { bigint: true });
  return `${s.dev}:${s.ino}`;
}

/**
 * Hashes one layer file under the budget. The whole file must be covered:
 * dm-verity hashes whole 4096-byte blocks only, so a tail would be unverified.
 */
export async function rootHashOf(file: string, budget: ReadBudget): Promise<{ hex: string; bytes: number }> {
  const st = statSync(file);
  // A block device (a layer the start gate mounted) has no size in stat: sysfs has it in 512-byte sectors.
  const size = st.isBlockDevice() ? blockDeviceBytes(file) : st.size;
  if (size % DELIVERY_KIT_PARAMS.dataBlockSize !== 0) {
    throw new Error(`${file}: ${size} bytes is not a whole number of ${DELIVERY_KIT_PARAMS.dataBlockSize}-byte blocks; the tail would not be covered by the root hash`);
  }
  const dataBlocks = st.isBlockDevice() ? size / DELIVERY_KIT_PARAMS.dataBlockSize : undefined;
  const hex = (await computeRootHash(file, DELIVERY_KIT_PARAMS, { beforeRead: budget.beforeRead, concurrency: 1, dataBlocks })).toString('hex');
  return { hex, bytes: size };
}

/** Size in bytes of a block device, from /sys/class/block/<name>/size (512-byte sectors). */
export function blockDeviceBytes(device: string): number {
  const name = basename(realpathSync(device));
  return Number(readFileSync(`/sys/class/block/${name}/size`, 'utf8').trim()) * 512;
}
