/**
 * The dm-verity hash tree as pure functions: level geometry, hashing one
 * block with its salt, building upper levels, and locating damage in a
 * stored tree. No file I/O here.
 *
 * Sources:
 * - Linux Documentation/admin-guide/device-mapper/verity.rst ("Construction
 *   Parameters" <version>, "Hash tree"): type 0 appends the salt and packs
 *   digests; type 1 prepends the salt and pads each digest with zeroes to a
 *   power of two; the rest of each hash block is zero.
 * - cryptsetup lib/verity/verity_hash.c (hash_levels, create_or_verify,
 *   VERITY_create_or_verify_hash): digests per hash block are the largest
 *   power of two that fits (1 << get_bits_down(hash_block_size / digest_size));
 *   levels are stored top level first; the root hash is the digest of the
 *   single top block, or of the only data block when there is one block.
 */
import { hash } from 'node:crypto';
import { equalBytes } from '../constant-time.ts';
import { chunkBuffers } from './chunk.ts';
import { verityError } from './errors.ts';
import { digestSize, type VerityParams } from './params.ts';

/** Hard limit from cryptsetup (VERITY_MAX_LEVELS) and the kernel (DM_VERITY_MAX_LEVELS). */
export const MAX_LEVELS = 63;

export interface LevelGeometry {
  /** 0 holds the digests of data blocks; the highest level has exactly one block. */
  level: number;
  /** Digests stored in this level (blocks of the level below, or data blocks). */
  entries: number;
  /** Hash blocks this level occupies. */
  blocks: number;
  /** First block of this level, counted in hash blocks from the start of the tree. */
  startBlock: number;
}

export interface TreeGeometry {
  dataBlocks: number;
  digestSize: number;
  /** Bytes one digest occupies inside a hash block: padded to a power of two in type 1, packed in type 0. */
  entrySize: number;
  /** Digests per hash block: the largest power of two with hashesPerBlock * digestSize <= hashBlockSize. */
  hashesPerBlock: number;
  hashBlockSize: number;
  /** Index 0 is the lowest level. Empty when there is a single data block. */
  levels: LevelGeometry[];
  /** Total hash blocks in the tree (what veritysetup prints as "Hash blocks"). */
  hashBlocks: number;
}

/** The layout of digests inside hash blocks; shared by every level and by the worker threads. */
export interface EntryLayout {
  entrySize: number;
  hashesPerBlock: number;
  hashBlockSize: number;
}

function floorLog2(n: number): number {
  return 31 - Math.clz32(n);
}

function nextPowerOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

/**
 * Level geometry for `dataBlocks` data blocks, as cryptsetup's hash_levels():
 * levels are added while hashesPerBlock^levels < dataBlocks, and the top
 * level is placed first in the hash area.
 */
export function treeGeometry(params: VerityParams, dataBlocks: number): TreeGeometry {
  if (!Number.isSafeInteger(dataBlocks) || dataBlocks < 1) {
    throw verityError('DATA_TOO_SMALL', `hash tree: expected at least 1 data block, got ${dataBlocks}`);
  }
  const size = digestSize(params.hashAlgorithm);
  const hashesPerBlock = 2 ** floorLog2(Math.floor(params.hashBlockSize / size));
  const entrySize = params.hashType === 1 ? nextPowerOfTwo(size) : size;

  const entriesPerLevel: number[] = [];
  for (let entries = dataBlocks; entries > 1; entries = Math.ceil(entries / hashesPerBlock)) {
    entriesPerLevel.push(entries);
    if (entriesPerLevel.length > MAX_LEVELS) {
      throw verityError('TREE_TOO_LARGE', `hash tree: ${dataBlocks} data blocks need more than ${MAX_LEVELS} levels`);
    }
  }
  const levels: LevelGeometry[] = entriesPerLevel.map((entries, level) => ({
    level,
    entries,
    blocks: Math.ceil(entries / hashesPerBlock),
    startBlock: 0,
  }));
  let position = 0;
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    level.startBlock = position;
    position += level.blocks;
  }
  if (!Number.isSafeInteger(position * params.hashBlockSize)) {
    throw verityError('TREE_TOO_LARGE', `hash tree: ${position} hash blocks of ${params.hashBlockSize} bytes exceed 2^53 bytes`);
  }
  return {
    dataBlocks,
    digestSize: size,
    entrySize,
    hashesPerBlock,
    hashBlockSize: params.hashBlockSize,
    levels,
    hashBlocks: position,
  };
}

/** Byte offset of digest `index` within a level laid out as `layout`. */
export function entryOffset(layout: EntryLayout, index: number): number {
  return Math.floor(index / layout.hashesPerBlock) * layout.hashBlockSize + (index % layout.hashesPerBlock) * layout.entrySize;
}

/** Bytes a level holding `entries` digests occupies: whole hash blocks, unused tails zero. */
export function levelBytes(layout: EntryLayout, entries: number): number {
  return Math.ceil(entries / layout.hashesPerBlock) * layout.hashBlockSize;
}

/**
 * Hashes blocks that are already in memory (the upper tree levels, and
 * single blocks when locating damage) with the salt placed per hash type:
 * type 1 hashes salt || block, type 0 hashes block || salt (verity.rst,
 * <version>). Its scratch is a one-block chunk of chunk.ts, the layout the
 * data blocks are read into, so the salt is placed in one place only.
 */
export class BlockHasher {
  readonly #algorithm: string;
  readonly #saltless: boolean;
  /** Where a block is copied to, and salt and block together as hashed. */
  readonly #slot: Buffer;
  readonly #message: Uint8Array;
  readonly blockSize: number;

  constructor(params: VerityParams, blockSize: number) {
    this.#algorithm = params.hashAlgorithm;
    this.blockSize = blockSize;
    this.#saltless = params.salt.length === 0;
    const scratch = chunkBuffers(params.salt, params.hashType === 1, blockSize, 1);
    const slot = scratch.reads[0]!;
    this.#slot = Buffer.from(slot.buffer, slot.byteOffset, slot.length);
    this.#message = scratch.messages[0]!;
  }

  digest(block: Uint8Array): Buffer {
    if (block.length !== this.blockSize) {
      throw new RangeError(`BlockHasher: expected a ${this.blockSize}-byte block, got ${block.length} bytes`);
    }
    if (this.#saltless) return hash(this.#algorithm, block, 'buffer');
    // Buffer#copy, not TypedArray#set: set is several times slower until V8 warms up.
    Buffer.from(block.buffer, block.byteOffset, block.length).copy(this.#slot);
    return hash(this.#algorithm, this.#message, 'buffer');
  }

  /**
   * Hashes `count` consecutive blocks of `input` and stores their digests in
   * `out` as entries `firstIndex …` of a level laid out as `layout`.
   */
  digestInto(input: Uint8Array, count: number, out: Buffer, firstIndex: number, layout: EntryLayout): void {
    // Digests travel as 'binary' (latin1) strings, as in chunk.ts hashChunk.
    const source = Buffer.from(input.buffer, input.byteOffset, input.length);
    for (let i = 0; i < count; i++) {
      let digest: string;
      if (this.#saltless) {
        digest = hash(this.#algorithm, source.subarray(i * this.blockSize, (i + 1) * this.blockSize), 'binary');
      } else {
        source.copy(this.#slot, 0, i * this.blockSize, (i + 1) * this.blockSize);
        digest = hash(this.#algorithm, this.#message, 'binary');
      }
      out.write(digest, entryOffset(layout, firstIndex + i), 'latin1');
    }
  }
}

export function layoutOf(geometry: TreeGeometry): EntryLayout {
  return { entrySize: geometry.entrySize, hashesPerBlock: geometry.hashesPerBlock, hashBlockSize: geometry.hashBlockSize };
}

export interface BuiltTree {
  /** Level bytes, index 0 lowest (the digests of the data blocks). */
  levels: Buffer[];
  rootHash: Buffer;
}

/**
 * Completes a tree from its lowest level: each level hashes the hash blocks
 * of the level below, and the root is the digest of the single top block.
 * `dataDigests` holds the data block digests laid out as level 0 (for a
 * single data block: one hash block whose first entry is that digest, which
 * is then the root, as in VERITY_create_or_verify_hash with levels == 0).
 */
export function buildTree(params: VerityParams, geometry: TreeGeometry, dataDigests: Buffer): BuiltTree {
  const layout = layoutOf(geometry);
  if (geometry.levels.length === 0) {
    return { levels: [], rootHash: Buffer.from(dataDigests.subarray(0, geometry.digestSize)) };
  }
  const hasher = new BlockHasher(params, geometry.hashBlockSize);
  const levels: Buffer[] = [dataDigests];
  for (let i = 1; i < geometry.levels.length; i++) {
    const below = levels[i - 1]!;
    const level = geometry.levels[i]!;
    const bytes = Buffer.alloc(levelBytes(layout, level.entries));
    hasher.digestInto(below, level.entries, bytes, 0, layout);
    levels.push(bytes);
  }
  const top = levels[levels.length - 1]!;
  return { levels, rootHash: hasher.digest(top.subarray(0, geometry.hashBlockSize)) };
}

/** The on-disk hash area after the superblock: levels concatenated, top level first. */
export function serializeTree(geometry: TreeGeometry, levels: readonly Buffer[]): Buffer {
  const out = Buffer.alloc(geometry.hashBlocks * geometry.hashBlockSize);
  geometry.levels.forEach((level, i) => {
    levels[i]!.copy(out, level.startBlock * geometry.hashBlockSize);
  });
  return out;
}

/** Which part of the stored state verification blames. */
export type VerifyFailure =
  | {
      /** A data block's digest differs from the authenticated digest stored for it. */
      kind: 'data';
      /** Index of the first corrupted data block. */
      dataBlock: number;
      /** Byte offset of that block in the data file. */
      dataOffset: number;
      /** How many data blocks differ (among those whose stored digest could be authenticated). */
      corruptedDataBlocks: number;
    }
  | {
      /** A stored hash block does not match its parent digest (or, at the top, the trusted root). */
      kind: 'hash-tree';
      level: number;
      /** Index of the block within its level. */
      hashBlock: number;
      /** Byte offset of that block in the hash file. */
      hashFileOffset: number;
      /** Data blocks whose verification depends on this hash block. */
      firstDataBlock: number;
      lastDataBlock: number;
    }
  | {
      /** Data and stored tree agree with each other, but not with the trusted root hash. */
      kind: 'root';
    };

/**
 * Finds what is wrong when a computed tree disagrees with a stored one.
 *
 * Trust boundary: only `expectedRoot` is trusted. The stored tree is
 * authenticated top-down from it, as the kernel does on reads (verity.rst,
 * "Hash tree"): a stored block is trusted once its digest matches an
 * already trusted parent entry. A data block is blamed only when its digest
 * differs from an authenticated stored entry, so a damaged hash file is
 * never reported as damaged data.
 *
 * Returns undefined when everything matches.
 */
export function locateFailure(
  params: VerityParams,
  geometry: TreeGeometry,
  stored: Buffer,
  computed: BuiltTree,
  expectedRoot: Buffer,
  /** Byte offset of the tree in the hash file, for reporting. */
  treeStart = 0,
): VerifyFailure | undefined {
  const computedTree = serializeTree(geometry, computed.levels);
  const rootOk = equalBytes(computed.rootHash, expectedRoot);
  const treeOk = equalBytes(stored, computedTree);
  if (rootOk && treeOk) return undefined;

  const { hashBlockSize, digestSize: size } = geometry;
  const layout = layoutOf(geometry);
  if (geometry.levels.length === 0) {
    // One data block: the root is that block's digest, there is nothing stored to blame.
    return { kind: 'data', dataBlock: 0, dataOffset: 0, corruptedDataBlocks: 1 };
  }

  const hasher = new BlockHasher(params, hashBlockSize);
  const top = geometry.levels.length - 1;
  const blockOf = (level: LevelGeometry, index: number): Buffer =>
    stored.subarray((level.startBlock + index) * hashBlockSize, (level.startBlock + index + 1) * hashBlockSize);
  // Data blocks covered by block `index` of `level`: hashesPerBlock^(level+1) per block.
  const span = (level: number, index: number): [number, number] => {
    const per = geometry.hashesPerBlock ** (level + 1);
    return [index * per, Math.min(geometry.dataBlocks, (index + 1) * per) - 1];
  };

  let firstBadHash: VerifyFailure | undefined;
  // authentic[i]: per block of level i, whether it chains up to the trusted root.
  const authentic: boolean[][] = geometry.levels.map((level) => new Array<boolean>(level.blocks).fill(false));
  for (let i = top; i >= 0; i--) {
    const level = geometry.levels[i]!;
    for (let j = 0; j < level.blocks; j++) {
      let expected: Buffer | undefined;
      if (i === top) {
        expected = expectedRoot;
      } else if (authentic[i + 1]![Math.floor(j / geometry.hashesPerBlock)]) {
        const parent = geometry.levels[i + 1]!;
        const at = entryOffset(layout, j);
        expected = stored.subarray(parent.startBlock * hashBlockSize + at, parent.startBlock * hashBlockSize + at + size);
      }
      if (expected === undefined) continue; // parent already blamed
      const ok = equalBytes(hasher.digest(blockOf(level, j)), expected);
      authentic[i]![j] = ok;
      if (!ok && firstBadHash === undefined) {
        const [firstDataBlock, lastDataBlock] = span(i, j);
        firstBadHash = {
          kind: 'hash-tree',
          level: i,
          hashBlock: j,
          hashFileOffset: treeStart + (level.startBlock + j) * hashBlockSize,
          firstDataBlock,
          lastDataBlock,
        };
      }
    }
  }

  const level0 = geometry.levels[0]!;
  let firstBadData = -1;
  let badData = 0;
  for (let d = 0; d < geometry.dataBlocks; d++) {
    if (!authentic[0]![Math.floor(d / geometry.hashesPerBlock)]) continue;
    const at = level0.startBlock * hashBlockSize + entryOffset(layout, d);
    const storedDigest = stored.subarray(at, at + size);
    const computedDigest = computed.levels[0]!.subarray(entryOffset(layout, d), entryOffset(layout, d) + size);
    if (!equalBytes(storedDigest, computedDigest)) {
      if (firstBadData < 0) firstBadData = d;
      badData++;
    }
  }
  if (firstBadData >= 0) {
    return {
      kind: 'data',
      dataBlock: firstBadData,
      dataOffset: firstBadData * params.dataBlockSize,
      corruptedDataBlocks: badData,
    };
  }
  if (treeOk && !rootOk) return { kind: 'root' };
  return firstBadHash ?? { kind: 'root' };
}
