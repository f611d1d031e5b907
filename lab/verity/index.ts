/**
 * lab/verity: dm-verity hash trees, byte-compatible with veritysetup
 * (cryptsetup 2.6.1) and the kernel's dm-verity on-disk format.
 *
 * - computeRootHash / verifyAgainstRootHash: what the signer and the node
 *   gates use to bind a layer file to a signed root hash.
 * - format / verify: write and check hash files as `veritysetup format` and
 *   `veritysetup verify` do.
 * - parseSuperblock / serializeSuperblock and the pure tree math, for tests
 *   and tools.
 */
export type { VerityErrorCode, VerityError } from './errors.ts';
export type { HashAlgorithm, VerityParams } from './params.ts';
export type { ReadOptions } from './hasher.ts';
export type { Superblock } from './superblock.ts';
export type { BuiltTree, EntryLayout, LevelGeometry, TreeGeometry, VerifyFailure } from './tree.ts';
export type {
  ComputeOptions,
  FormatOptions,
  FormatResult,
  VerifyOptions,
  VerifyOutcome,
  VerifyResult,
} from './verity.ts';

export {
  DELIVERY_KIT_PARAMS,
  DELIVERY_KIT_SALT_HEX,
  DIGEST_SIZES,
  HASH_ALGORITHMS,
  MAX_BLOCK_SIZE,
  MAX_SALT_SIZE,
  MIN_BLOCK_SIZE,
  decodeHex,
  digestSize,
  isValidBlockSize,
  parseRootHash,
  parseSalt,
  validateParams,
} from './params.ts';
export {
  SUPERBLOCK_SIZE,
  formatUuid,
  parseSuperblock,
  parseUuid,
  randomUuid,
  serializeSuperblock,
  superblockParams,
  treeStartOffset,
  validateHashOffset,
} from './superblock.ts';
export {
  BlockHasher,
  buildTree,
  locateFailure,
  serializeTree,
  treeGeometry,
} from './tree.ts';
export { computeRootHash, format, verify, verifyAgainstRootHash } from './verity.ts';
export { releaseHashWorkers } from './hasher.ts';
