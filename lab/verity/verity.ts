/**
 * File-level dm-verity operations: format (write a hash file as
 * `veritysetup format` does), verify (as `veritysetup verify`), and root-hash
 * computation for the signer and the node gates. The tree math lives in
 * tree.ts and superblock.ts; this module only opens, reads and writes files.
 *
 * Trust boundary: the data file, the hash file and its superblock are all
 * attacker-controlled (root on the node can rewrite any of them). Only the
 * root hash handed in by the caller is trusted, and every verdict is
 * derived from it.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { copyFile, open, rename, stat, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isLabError } from '../errors.ts';
import { verityError, type VerityErrorCode } from './errors.ts';
import { hashDataLevel, readFully, throwIfAborted, type ReadOptions } from './hasher.ts';
import { parseRootHash, validateParams, type VerityParams } from './params.ts';
import {
  parseSuperblock,
  parseUuid,
  randomUuid,
  serializeSuperblock,
  superblockParams,
  SUPERBLOCK_SIZE,
  treeStartOffset,
  validateHashOffset,
  type Superblock,
} from './superblock.ts';
import {
  buildTree,
  locateFailure,
  serializeTree,
  treeGeometry,
  type BuiltTree,
  type TreeGeometry,
  type VerifyFailure,
} from './tree.ts';
import { equalBytes } from '../constant-time.ts';

export interface ComputeOptions extends ReadOptions {
  /**
   * Data blocks covered by the tree. Default: every whole block in the file,
   * floor(size / dataBlockSize), as veritysetup does; bytes after the last
   * whole block are then not covered by the root hash.
   */
  dataBlocks?: number;
}

export interface FormatOptions extends ComputeOptions {
  params: VerityParams;
  /** Write no superblock (veritysetup --no-superblock); the tree then starts at hashOffset. */
  noSuperblock?: boolean;
  /** Bytes into the hash file where the superblock (or the tree) starts; a multiple of 512. Default 0. */
  hashOffset?: number;
  /** Superblock UUID; a random version-4 UUID when absent. Ignored without a superblock. */
  uuid?: string;
  /** Randomness for the UUID; inject it to make output deterministic. Default crypto.randomBytes. */
  randomBytes?: (size: number) => Buffer;
}

export interface FormatResult {
  rootHash: Buffer;
  rootHashHex: string;
  params: VerityParams;
  dataBlocks: number;
  /** Hash blocks in the tree (veritysetup's "Hash blocks"). */
  hashBlocks: number;
  levels: number;
  /** Undefined without a superblock. */
  uuid: string | undefined;
  superblock: Superblock | undefined;
  hashOffset: number;
  /** Byte offset of the first tree block in the hash file. */
  treeOffset: number;
  /** Size of the hash file after formatting. */
  hashFileSize: number;
}

export interface VerifyOptions extends ComputeOptions {
  /**
   * Required with noSuperblock. With a superblock, optional: when given,
   * it must match what the superblock says (a guard against a hash file
   * whose superblock was swapped for weaker parameters).
   */
  params?: VerityParams;
  noSuperblock?: boolean;
  hashOffset?: number;
}

export type VerifyResult =
  | {
      ok: true;
      rootHash: string;
      params: VerityParams;
      dataBlocks: number;
      hashBlocks: number;
      superblock: Superblock | undefined;
    }
  | {
      ok: false;
      failure: VerifyFailure;
      /** One line: what is corrupted, where, with numbers. */
      reason: string;
      /** Root hash of the data as it is now. */
      actualRoot: string;
      expectedRoot: string;
      params: VerityParams;
      dataBlocks: number;
      hashBlocks: number;
      superblock: Superblock | undefined;
    };

export type VerifyOutcome = { ok: true } | { ok: false; reason: string; actualRoot: string };

interface OpenedFile {
  file: FileHandle;
  stats: Stats;
}

async function openForReading(
  path: string,
  role: 'data' | 'hash',
): Promise<OpenedFile> {
  const code = role === 'data' ? 'DATA_FILE_UNREADABLE' : 'HASH_FILE_UNREADABLE';
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code ?? 'error';
    throw verityError(code, `${role} file ${path}: cannot open for reading (${errno}): ${(err as Error).message}`, err);
  }
  const stats = await file.stat();
  // veritysetup takes a block device as the data device too (a mounted layer's loop or dm device).
  if (!stats.isFile() && !(role === 'data' && stats.isBlockDevice())) {
    await file.close();
    throw verityError(code, `${role} file ${path}: expected a regular file, got ${describeKind(stats)}`);
  }
  return { file, stats };
}

function describeKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'something else';
}

/**
 * Data block count: as asked for, or floor(size / block size) as
 * veritysetup's _crypt_format_verity. veritysetup refuses a data file
 * under one 512-byte sector, and a tree over zero blocks ("Hash area
 * overflow"), so both are errors here too.
 */
function resolveDataBlocks(path: string, size: number, blockSize: number, requested: number | undefined): number {
  if (requested !== undefined) {
    if (!Number.isSafeInteger(requested) || requested < 1) {
      throw verityError('INVALID_DATA_BLOCKS', `dataBlocks: expected a positive integer, got ${requested}`);
    }
    if (requested * blockSize > size) {
      throw verityError(
        'DATA_TOO_SMALL',
        `data file ${path}: ${requested} blocks of ${blockSize} bytes need ${requested * blockSize} bytes, the file has ${size}`,
      );
    }
    return requested;
  }
  const blocks = Math.floor(size / blockSize);
  if (blocks < 1) {
    throw verityError(
      'DATA_TOO_SMALL',
      `data file ${path}: expected at least one ${blockSize}-byte data block, the file has ${size} bytes`,
    );
  }
  return blocks;
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** lib/setup.c: "Data area overlaps with hash area." when both live in one file. */
function checkOverlap(dataPath: string, dataBlocks: number, blockSize: number, hashOffset: number): void {
  if (dataBlocks * blockSize > hashOffset) {
    throw verityError(
      'HASH_OFFSET_OVERLAPS',
      `${dataPath} holds both data and hash tree: ${dataBlocks} data blocks of ${blockSize} bytes end at byte ${dataBlocks * blockSize}, past the hash offset ${hashOffset}`,
    );
  }
}

async function computeTree(
  data: OpenedFile,
  dataPath: string,
  params: VerityParams,
  geometry: TreeGeometry,
  options: ReadOptions,
): Promise<BuiltTree> {
  const digests = await hashDataLevel(data.file, `data file ${dataPath}`, params, geometry, options);
  throwIfAborted(options.signal, `data file ${dataPath}`);
  return buildTree(params, geometry, digests);
}

/**
 * Root hash of the first `dataBlocks` blocks of a file, without writing a
 * hash file: what `veritysetup format` would print for the same parameters.
 */
export async function computeRootHash(dataPath: string, params: VerityParams, options: ComputeOptions = {}): Promise<Buffer> {
  validateParams(params);
  throwIfAborted(options.signal, `data file ${dataPath}`);
  const data = await openForReading(dataPath, 'data');
  try {
    // stat gives a block device no size: the caller passes its block count.
    const size = data.stats.isBlockDevice() && options.dataBlocks !== undefined ? options.dataBlocks * params.dataBlockSize : data.stats.size;
    const dataBlocks = resolveDataBlocks(dataPath, size, params.dataBlockSize, options.dataBlocks);
    const geometry = treeGeometry(params, dataBlocks);
    return (await computeTree(data, dataPath, params, geometry, options)).rootHash;
  } finally {
    await data.file.close();
  }
}

/** Recomputes the root hash of a file and compares it, in constant time, with a trusted one. */
export async function verifyAgainstRootHash(
  dataPath: string,
  expectedRoot: Buffer | string,
  params: VerityParams,
  options: ComputeOptions = {},
): Promise<VerifyOutcome> {
  validateParams(params);
  const expected = parseRootHash(expectedRoot, params.hashAlgorithm, 'expected root hash');
  const actual = await computeRootHash(dataPath, params, options);
  if (equalBytes(actual, expected)) return { ok: true };
  return {
    ok: false,
    reason: `root hash mismatch for ${dataPath} (${describeParams(params)}): computed ${actual.toString('hex')}, expected ${expected.toString('hex')}`,
    actualRoot: actual.toString('hex'),
  };
}

function describeParams(params: VerityParams): string {
  return `${params.hashAlgorithm}, type ${params.hashType}, data block ${params.dataBlockSize}, hash block ${params.hashBlockSize}, salt ${params.salt.length} bytes`;
}

/**
 * Writes the hash tree (and superblock) of `dataPath` into `hashPath`,
 * byte-identical to `veritysetup format` (cryptsetup 2.6.1) for the same
 * parameters and UUID.
 *
 * Like veritysetup, bytes of an existing hash file outside the superblock
 * and the tree are kept (this is how the tree can be appended to the data
 * file itself, with hashOffset past the data). Unlike veritysetup, the file
 * is built in a temporary file next to it and renamed into place, so a
 * failure leaves the old file (or none) behind, never a partial one; the
 * rename gives the hash file a new inode.
 */
export async function format(dataPath: string, hashPath: string, options: FormatOptions): Promise<FormatResult> {
  const { params } = options;
  validateParams(params, 'format params');
  const withSuperblock = !options.noSuperblock;
  const hashOffset = options.hashOffset ?? 0;
  validateHashOffset(hashOffset, params.hashBlockSize, withSuperblock, 'format hashOffset');
  if (withSuperblock && options.uuid !== undefined) parseUuid(options.uuid, 'format uuid');
  throwIfAborted(options.signal, `data file ${dataPath}`);

  const data = await openForReading(dataPath, 'data');
  try {
    const dataBlocks = resolveDataBlocks(dataPath, data.stats.size, params.dataBlockSize, options.dataBlocks);
    const existing = await statIfExists(hashPath);
    if (existing !== undefined && sameFile(existing, data.stats)) {
      checkOverlap(dataPath, dataBlocks, params.dataBlockSize, hashOffset);
    }
    const geometry = treeGeometry(params, dataBlocks);
    const tree = await computeTree(data, dataPath, params, geometry, options);
    const treeOffset = treeStartOffset(hashOffset, params.hashBlockSize, withSuperblock);
    const uuid = withSuperblock ? (options.uuid ?? randomUuid(options.randomBytes ?? cryptoRandomBytes)) : undefined;
    const superblock: Superblock | undefined =
      uuid === undefined
        ? undefined
        : {
            version: 1,
            hashType: params.hashType,
            uuid: uuid.toLowerCase(),
            hashAlgorithm: params.hashAlgorithm,
            dataBlockSize: params.dataBlockSize,
            hashBlockSize: params.hashBlockSize,
            dataBlocks,
            salt: Buffer.from(params.salt),
          };
    throwIfAborted(options.signal, `hash file ${hashPath}`);
    const hashFileSize = await writeHashFile(hashPath, existing, {
      hashOffset,
      superblock: superblock === undefined ? undefined : serializeSuperblock(superblock),
      treeOffset,
      tree: serializeTree(geometry, tree.levels),
      hashBlockSize: params.hashBlockSize,
    });
    return {
      rootHash: tree.rootHash,
      rootHashHex: tree.rootHash.toString('hex'),
      params: { ...params, salt: Buffer.from(params.salt) },
      dataBlocks,
      hashBlocks: geometry.hashBlocks,
      levels: geometry.levels.length,
      uuid,
      superblock,
      hashOffset,
      treeOffset,
      hashFileSize,
    };
  } finally {
    await data.file.close();
  }
}

async function statIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw verityError('WRITE_FAILED', `hash file ${path}: cannot stat (${(err as NodeJS.ErrnoException).code}): ${(err as Error).message}`, err);
  }
}

interface HashFileParts {
  hashOffset: number;
  superblock: Buffer | undefined;
  treeOffset: number;
  tree: Buffer;
  hashBlockSize: number;
}

/**
 * The I/O granularity veritysetup writes the superblock with
 * (write_lseek_blockwise with min(fs block size capped at 4096, hash block
 * size)); it decides how far a superblock-only hash file extends.
 */
async function superblockWriteUnit(dir: string, hashBlockSize: number): Promise<number> {
  const MAX_SECTOR_SIZE = 4096;
  let fsBlock = MAX_SECTOR_SIZE;
  try {
    const { bsize } = await statfs(dir);
    if (bsize > 0 && bsize <= MAX_SECTOR_SIZE) fsBlock = bsize;
  } catch {
    // statfs unsupported: cryptsetup falls back to MAX_SECTOR_SIZE as well.
  }
  return Math.min(fsBlock, hashBlockSize);
}

async function writeAll(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

async function writeHashFile(hashPath: string, existing: Stats | undefined, parts: HashFileParts): Promise<number> {
  const dir = dirname(hashPath);
  const temp = join(dir, `.${basename(hashPath)}.${process.pid}.${cryptoRandomBytes(6).toString('hex')}.verity-tmp`);
  let file: FileHandle | undefined;
  try {
    if (existing !== undefined) {
      if (!existing.isFile()) {
        throw verityError('WRITE_FAILED', `hash file ${hashPath}: expected a regular file, got ${describeKind(existing)}`);
      }
      await copyFile(hashPath, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      file = await open(temp, 'r+');
    } else {
      file = await open(temp, 'wx', 0o600);
    }
    const treeEnd = parts.treeOffset + parts.tree.length;
    // veritysetup first grows a short hash file to (tree end - hash offset)
    // (device_check_size with falloc in VERITY_create_or_verify_hash).
    let size = Math.max(existing?.size ?? 0, treeEnd - parts.hashOffset);
    if (parts.tree.length > 0) {
      await writeAll(file, parts.tree, parts.treeOffset);
      size = Math.max(size, treeEnd);
    }
    if (parts.superblock !== undefined) {
      await writeAll(file, parts.superblock, parts.hashOffset);
      const unit = await superblockWriteUnit(dir, parts.hashBlockSize);
      size = Math.max(size, Math.ceil((parts.hashOffset + SUPERBLOCK_SIZE) / unit) * unit);
    }
    await file.truncate(size);
    await file.sync();
    await file.close();
    file = undefined;
    await rename(temp, hashPath);
    return size;
  } catch (err) {
    await file?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    if (isLabError(err)) throw err;
    const errno = (err as NodeJS.ErrnoException).code ?? 'error';
    throw verityError('WRITE_FAILED', `hash file ${hashPath}: writing via ${temp} failed (${errno}): ${(err as Error).message}`, err);
  }
}

function sameParams(a: VerityParams, b: VerityParams): string[] {
  const differences: string[] = [];
  if (a.hashAlgorithm !== b.hashAlgorithm) differences.push(`hash ${a.hashAlgorithm} vs ${b.hashAlgorithm}`);
  if (a.hashType !== b.hashType) differences.push(`hash type ${a.hashType} vs ${b.hashType}`);
  if (a.dataBlockSize !== b.dataBlockSize) differences.push(`data block size ${a.dataBlockSize} vs ${b.dataBlockSize}`);
  if (a.hashBlockSize !== b.hashBlockSize) differences.push(`hash block size ${a.hashBlockSize} vs ${b.hashBlockSize}`);
  if (!a.salt.equals(b.salt)) differences.push(`salt ${a.salt.toString('hex') || '-'} vs ${b.salt.toString('hex') || '-'}`);
  return differences;
}

/**
 * Checks data and hash file against a trusted root hash, as
 * `veritysetup verify` does: the whole tree is recomputed from the data and
 * every stored hash block, including its zero padding, must match. On a
 * mismatch, the result names the first corrupted data block, or the first
 * hash block that does not authenticate (see tree.ts locateFailure).
 */
export async function verify(
  dataPath: string,
  hashPath: string,
  rootHash: Buffer | string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const withSuperblock = !options.noSuperblock;
  const hashOffset = options.hashOffset ?? 0;
  if (options.params !== undefined) validateParams(options.params, 'verify params');
  if (!withSuperblock && options.params === undefined) {
    throw verityError('PARAMS_REQUIRED', `verify ${hashPath}: without a superblock the parameters must be given (params is missing)`);
  }
  validateHashOffset(hashOffset, options.params?.hashBlockSize ?? 512, withSuperblock, 'verify hashOffset');
  throwIfAborted(options.signal, `hash file ${hashPath}`);

  const hash = await openForReading(hashPath, 'hash');
  let data: OpenedFile | undefined;
  try {
    let params: VerityParams;
    let superblock: Superblock | undefined;
    if (withSuperblock) {
      if (hash.stats.size < hashOffset + SUPERBLOCK_SIZE) {
        throw verityError(
          'HASH_FILE_TRUNCATED',
          `hash file ${hashPath}: expected a ${SUPERBLOCK_SIZE}-byte superblock at offset ${hashOffset}, the file has ${hash.stats.size} bytes`,
        );
      }
      const raw = Buffer.alloc(SUPERBLOCK_SIZE);
      await readFully(hash.file, raw, SUPERBLOCK_SIZE, hashOffset, `hash file ${hashPath}`);
      try {
        superblock = parseSuperblock(raw);
      } catch (err) {
        if (isLabError<VerityErrorCode>(err)) {
          throw verityError(err.code, `hash file ${hashPath} at offset ${hashOffset}: ${err.message}`, err);
        }
        throw err;
      }
      params = superblockParams(superblock);
      if (options.params !== undefined) {
        const differences = sameParams(options.params, params);
        if (differences.length > 0) {
          throw verityError('SUPERBLOCK_MISMATCH', `hash file ${hashPath}: superblock contradicts the given parameters (given vs superblock): ${differences.join('; ')}`);
        }
      }
      if (options.dataBlocks !== undefined && options.dataBlocks !== superblock.dataBlocks) {
        throw verityError('SUPERBLOCK_MISMATCH', `hash file ${hashPath}: superblock says ${superblock.dataBlocks} data blocks, ${options.dataBlocks} were given`);
      }
    } else {
      params = options.params!;
    }
    const expected = parseRootHash(rootHash, params.hashAlgorithm);

    data = await openForReading(dataPath, 'data');
    const dataBlocks = resolveDataBlocks(dataPath, data.stats.size, params.dataBlockSize, superblock?.dataBlocks ?? options.dataBlocks);
    if (sameFile(data.stats, hash.stats)) checkOverlap(dataPath, dataBlocks, params.dataBlockSize, hashOffset);
    const geometry = treeGeometry(params, dataBlocks);
    const treeOffset = treeStartOffset(hashOffset, params.hashBlockSize, withSuperblock);
    const treeLength = geometry.hashBlocks * params.hashBlockSize;
    if (hash.stats.size < treeOffset + treeLength) {
      throw verityError(
        'HASH_FILE_TRUNCATED',
        `hash file ${hashPath}: the tree of ${geometry.hashBlocks} hash blocks needs bytes ${treeOffset} to ${treeOffset + treeLength}, the file has ${hash.stats.size}`,
      );
    }
    const stored = Buffer.alloc(treeLength);
    if (treeLength > 0) {
      await options.beforeRead?.(treeLength);
      await readFully(hash.file, stored, treeLength, treeOffset, `hash file ${hashPath}`);
    }
    const tree = await computeTree(data, dataPath, params, geometry, options);
    const failure = locateFailure(params, geometry, stored, tree, expected, treeOffset);
    const common = { params, dataBlocks, hashBlocks: geometry.hashBlocks, superblock };
    if (failure === undefined) return { ok: true, rootHash: tree.rootHash.toString('hex'), ...common };
    return {
      ok: false,
      failure,
      reason: describeFailure(failure, geometry.levels.length - 1, dataPath, hashPath, params, tree.rootHash, expected),
      actualRoot: tree.rootHash.toString('hex'),
      expectedRoot: expected.toString('hex'),
      ...common,
    };
  } finally {
    await data?.file.close();
    await hash.file.close();
  }
}

function describeFailure(
  failure: VerifyFailure,
  topLevel: number,
  dataPath: string,
  hashPath: string,
  params: VerityParams,
  actual: Buffer,
  expected: Buffer,
): string {
  switch (failure.kind) {
    case 'data':
      return (
        `data block ${failure.dataBlock} of ${dataPath} (bytes ${failure.dataOffset}-${failure.dataOffset + params.dataBlockSize - 1}) ` +
        `does not match the hash tree; ${failure.corruptedDataBlocks} corrupted data block(s) in all`
      );
    case 'hash-tree':
      return (
        `hash block ${failure.hashBlock} of tree level ${failure.level} in ${hashPath} (offset ${failure.hashFileOffset}) ` +
        `does not match ${failure.level === topLevel ? 'the trusted root hash' : 'its digest in the level above'}; ` +
        `data blocks ${failure.firstDataBlock}-${failure.lastDataBlock} cannot be verified`
      );
    case 'root':
      return (
        `data and hash tree agree with each other, but their root hash ${actual.toString('hex')} ` +
        `is not the trusted root hash ${expected.toString('hex')}`
      );
  }
}
