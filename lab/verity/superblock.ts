/**
 * The veritysetup superblock: 512 bytes, little-endian, at the hash offset.
 *
 * Layout (cryptsetup lib/verity/verity.c `struct verity_sb`, and the
 * cryptsetup wiki page "DMVerity", section "Verity superblock format"):
 *
 *   0   signature[8]      "verity\0\0"
 *   8   version u32       1
 *   12  hash_type u32     0 (Chrome OS) or 1 (normal)
 *   16  uuid[16]
 *   32  algorithm[32]     lower case, NUL terminated
 *   64  data_block_size u32
 *   68  hash_block_size u32
 *   72  data_blocks u64
 *   80  salt_size u16
 *   82  _pad1[6]
 *   88  salt[256]
 *   344 _pad2[168]        -> 512
 *
 * The kernel never reads this block; only veritysetup does. It is not
 * covered by the root hash, so everything parsed here is attacker-controlled
 * until the tree it describes checks out against a trusted root hash.
 */
import { verityError } from './errors.ts';
import {
  isHashAlgorithm,
  isValidBlockSize,
  MAX_SALT_SIZE,
  validateParams,
  type HashAlgorithm,
  type VerityParams,
} from './params.ts';

export const SUPERBLOCK_SIZE = 512;
export const SUPERBLOCK_SIGNATURE = Buffer.from('verity\0\0', 'latin1');
export const SUPERBLOCK_VERSION = 1;

export interface Superblock {
  version: 1;
  hashType: 0 | 1;
  /** Canonical lower-case 8-4-4-4-12 form. */
  uuid: string;
  hashAlgorithm: HashAlgorithm;
  dataBlockSize: number;
  hashBlockSize: number;
  dataBlocks: number;
  salt: Buffer;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Parses an 8-4-4-4-12 UUID (either case, as libuuid's uuid_parse) into 16 bytes. */
export function parseUuid(text: string, where = 'uuid'): Buffer {
  if (!UUID.test(text)) {
    throw verityError('INVALID_UUID', `${where}: expected the form 12345678-1234-1234-1234-123456789abc, got "${text}"`);
  }
  return Buffer.from(text.replaceAll('-', ''), 'hex');
}

export function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A random (version 4, RFC 9562 variant) UUID from injected randomness, like libuuid's uuid_generate. */
export function randomUuid(randomBytes: (size: number) => Buffer): string {
  const bytes = Buffer.from(randomBytes(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return formatUuid(bytes);
}

/** The parameters a superblock describes. */
export function superblockParams(sb: Superblock): VerityParams {
  return {
    hashAlgorithm: sb.hashAlgorithm,
    dataBlockSize: sb.dataBlockSize,
    hashBlockSize: sb.hashBlockSize,
    salt: Buffer.from(sb.salt),
    hashType: sb.hashType,
  };
}

/**
 * Decodes a superblock, applying the checks of VERITY_read_sb: signature,
 * version 1, hash type <= 1, block sizes, salt size <= 256, known algorithm.
 * Padding is ignored, as veritysetup does.
 */
export function parseSuperblock(buf: Buffer): Superblock {
  if (buf.length < SUPERBLOCK_SIZE) {
    throw verityError('HASH_FILE_TRUNCATED', `superblock: expected ${SUPERBLOCK_SIZE} bytes, got ${buf.length}`);
  }
  if (!buf.subarray(0, 8).equals(SUPERBLOCK_SIGNATURE)) {
    throw verityError(
      'SUPERBLOCK_MISSING',
      `superblock: expected signature "verity\\0\\0" (${SUPERBLOCK_SIGNATURE.toString('hex')}), got ${buf.subarray(0, 8).toString('hex')}`,
    );
  }
  const version = buf.readUInt32LE(8);
  if (version !== SUPERBLOCK_VERSION) {
    throw verityError('SUPERBLOCK_INVALID', `superblock: expected version ${SUPERBLOCK_VERSION}, got ${version}`);
  }
  const hashType = buf.readUInt32LE(12);
  if (hashType !== 0 && hashType !== 1) {
    throw verityError('SUPERBLOCK_INVALID', `superblock: expected hash_type 0 or 1, got ${hashType}`);
  }
  const nameField = buf.subarray(32, 64);
  const nul = nameField.indexOf(0);
  const algorithm = nameField.subarray(0, nul < 0 ? nameField.length : nul).toString('latin1');
  if (!isHashAlgorithm(algorithm)) {
    throw verityError('UNSUPPORTED_HASH', `superblock: algorithm "${algorithm}" is not one of sha256, sha512, sha1`);
  }
  const dataBlockSize = buf.readUInt32LE(64);
  const hashBlockSize = buf.readUInt32LE(68);
  if (!isValidBlockSize(dataBlockSize) || !isValidBlockSize(hashBlockSize)) {
    throw verityError(
      'SUPERBLOCK_INVALID',
      `superblock: block sizes must be powers of two from 512 to 524288, got data ${dataBlockSize}, hash ${hashBlockSize}`,
    );
  }
  const dataBlocks = buf.readBigUInt64LE(72);
  if (dataBlocks < 1n || dataBlocks > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw verityError('SUPERBLOCK_INVALID', `superblock: expected data_blocks from 1 to 2^53-1, got ${dataBlocks}`);
  }
  const saltSize = buf.readUInt16LE(80);
  if (saltSize > MAX_SALT_SIZE) {
    throw verityError('SUPERBLOCK_INVALID', `superblock: expected salt_size <= ${MAX_SALT_SIZE}, got ${saltSize}`);
  }
  return {
    version: 1,
    hashType,
    uuid: formatUuid(buf.subarray(16, 32)),
    hashAlgorithm: algorithm,
    dataBlockSize,
    hashBlockSize,
    dataBlocks: Number(dataBlocks),
    salt: Buffer.from(buf.subarray(88, 88 + saltSize)),
  };
}

/** Encodes a superblock byte-for-byte as VERITY_write_sb does (unused bytes zero). */
export function serializeSuperblock(sb: Superblock): Buffer {
  validateParams(superblockParams(sb), 'superblock');
  if (!Number.isSafeInteger(sb.dataBlocks) || sb.dataBlocks < 1) {
    throw verityError('INVALID_DATA_BLOCKS', `superblock.dataBlocks: expected a positive integer, got ${sb.dataBlocks}`);
  }
  const out = Buffer.alloc(SUPERBLOCK_SIZE);
  SUPERBLOCK_SIGNATURE.copy(out, 0);
  out.writeUInt32LE(SUPERBLOCK_VERSION, 8);
  out.writeUInt32LE(sb.hashType, 12);
  parseUuid(sb.uuid, 'superblock.uuid').copy(out, 16);
  out.write(sb.hashAlgorithm.toLowerCase(), 32, 31, 'latin1');
  out.writeUInt32LE(sb.dataBlockSize, 64);
  out.writeUInt32LE(sb.hashBlockSize, 68);
  out.writeBigUInt64LE(BigInt(sb.dataBlocks), 72);
  out.writeUInt16LE(sb.salt.length, 80);
  sb.salt.copy(out, 88);
  return out;
}

/**
 * Checks a hash offset as `veritysetup format` does (a multiple of 512,
 * MISALIGNED_512 in lib/setup.c). Without a superblock it must also be a
 * multiple of the hash block size: cryptsetup would silently round it down
 * (VERITY_hash_offset_block) and write the tree before the offset asked for,
 * and the kernel table takes the start in whole hash blocks anyway.
 */
export function validateHashOffset(hashOffset: number, hashBlockSize: number, withSuperblock: boolean, where = 'hashOffset'): void {
  if (!Number.isSafeInteger(hashOffset) || hashOffset < 0) {
    throw verityError('INVALID_HASH_OFFSET', `${where}: expected a non-negative integer number of bytes, got ${hashOffset}`);
  }
  if (hashOffset % 512 !== 0) {
    throw verityError('INVALID_HASH_OFFSET', `${where}: expected a multiple of 512 bytes, got ${hashOffset} (${hashOffset % 512} past a sector)`);
  }
  if (!withSuperblock && hashOffset % hashBlockSize !== 0) {
    throw verityError(
      'INVALID_HASH_OFFSET',
      `${where}: without a superblock the tree starts on a hash block, so expected a multiple of ${hashBlockSize}, got ${hashOffset}`,
    );
  }
}

/**
 * Byte offset of the first tree block in the hash file
 * (cryptsetup VERITY_hash_offset_block × hash block size): right at the hash
 * offset without a superblock, else the first hash block boundary after the
 * 512-byte superblock that sits at the hash offset.
 */
export function treeStartOffset(hashOffset: number, hashBlockSize: number, withSuperblock: boolean): number {
  if (!withSuperblock) return hashOffset;
  return Math.ceil((hashOffset + SUPERBLOCK_SIZE) / hashBlockSize) * hashBlockSize;
}
