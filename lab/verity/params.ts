/**
 * dm-verity parameters and their validation: pure, no I/O.
 *
 * Limits follow cryptsetup 2.6 (lib/verity/verity.h VERITY_BLOCK_SIZE_OK,
 * lib/verity/verity_hash.c VERITY_create) so that anything accepted here is
 * accepted by `veritysetup format` and produces the same bytes.
 */
import { verityError } from './errors.ts';

export type HashAlgorithm = 'sha256' | 'sha512' | 'sha1';

export interface VerityParams {
  hashAlgorithm: HashAlgorithm;
  /** Bytes per data block; power of two, 512 … 524288. */
  dataBlockSize: number;
  /** Bytes per hash block; power of two, 512 … 524288. */
  hashBlockSize: number;
  /** 0 … 256 bytes. */
  salt: Buffer;
  /** 1: salt hashed before the block, digests padded to a power of two. 0: Chrome OS, salt after, digests packed. */
  hashType: 0 | 1;
}

export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha512', 'sha1'];

export const DIGEST_SIZES: Readonly<Record<HashAlgorithm, number>> = { sha1: 20, sha256: 32, sha512: 64 };

export const MIN_BLOCK_SIZE = 512;
/** cryptsetup accepts up to 512 KiB; the kernel only activates data blocks up to the page size. */
export const MAX_BLOCK_SIZE = 512 * 1024;
export const MAX_SALT_SIZE = 256;

/**
 * The salt shared by the delivery-kit signer and the node gates:
 * sha256("integrity-lab/delivery-kit/dm-verity/salt/v1").
 *
 * Why fixed: the root hash is recomputed from the layer bytes alone at sign
 * time and on every node, so the salt cannot be per-image random state.
 * Why not all zeroes: containerd 2.3 uses an all-zero salt for its own,
 * unsigned `layer.erofs.dmverity` sidecar; a distinct salt means a root hash
 * from that sidecar can never be mistaken for (or substituted as) the signed
 * one, even for the same layer file. The derivation is public on purpose
 * (nothing-up-my-sleeve); the salt is not a secret.
 */
export const DELIVERY_KIT_SALT_HEX = 'ad046342fbc9384e68473f175509277d3f80bcd31a78b3b75c99e5bdaaea6626';

/**
 * veritysetup's defaults (sha256, 4 KiB blocks, format 1) with the fixed
 * delivery-kit salt. Frozen, and `salt` returns a fresh copy on every read,
 * so no caller can change what the signer and the gates share.
 */
export const DELIVERY_KIT_PARAMS: VerityParams = Object.freeze({
  hashAlgorithm: 'sha256',
  dataBlockSize: 4096,
  hashBlockSize: 4096,
  get salt(): Buffer {
    return Buffer.from(DELIVERY_KIT_SALT_HEX, 'hex');
  },
  hashType: 1,
} as const);

export function digestSize(algorithm: HashAlgorithm): number {
  return DIGEST_SIZES[algorithm];
}

export function isHashAlgorithm(name: string): name is HashAlgorithm {
  return (HASH_ALGORITHMS as readonly string[]).includes(name);
}

/** True for a power of two in 512 … 512 KiB, the same rule as VERITY_BLOCK_SIZE_OK. */
export function isValidBlockSize(size: number): boolean {
  return Number.isInteger(size) && size >= MIN_BLOCK_SIZE && size <= MAX_BLOCK_SIZE && (size & (size - 1)) === 0;
}

/** Throws a typed error for the first parameter out of range; `where` names the caller's input. */
export function validateParams(params: VerityParams, where = 'params'): void {
  if (!isHashAlgorithm(params.hashAlgorithm)) {
    throw verityError(
      'UNSUPPORTED_HASH',
      `${where}.hashAlgorithm: expected one of ${HASH_ALGORITHMS.join(', ')}, got "${String(params.hashAlgorithm)}"`,
    );
  }
  for (const field of ['dataBlockSize', 'hashBlockSize'] as const) {
    if (!isValidBlockSize(params[field])) {
      throw verityError(
        'INVALID_BLOCK_SIZE',
        `${where}.${field}: expected a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE} bytes, got ${params[field]}`,
      );
    }
  }
  if (params.hashType !== 0 && params.hashType !== 1) {
    throw verityError('INVALID_HASH_TYPE', `${where}.hashType: expected 0 or 1, got ${String(params.hashType)}`);
  }
  if (!Buffer.isBuffer(params.salt) || params.salt.length > MAX_SALT_SIZE) {
    throw verityError(
      'INVALID_SALT',
      `${where}.salt: expected a Buffer of at most ${MAX_SALT_SIZE} bytes, got ${Buffer.isBuffer(params.salt) ? `${params.salt.length} bytes` : typeof params.salt}`,
    );
  }
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Strict hex decoding (Buffer.from(…, 'hex') silently stops at the first bad digit). */
export function decodeHex(text: string): Buffer | undefined {
  return HEX.test(text) ? Buffer.from(text, 'hex') : undefined;
}

/** Parses a salt as veritysetup does: hex, or "-" for no salt; at most 256 bytes. */
export function parseSalt(text: string, where = 'salt'): Buffer {
  if (text === '-') return Buffer.alloc(0);
  const salt = decodeHex(text);
  if (salt === undefined) {
    throw verityError('INVALID_SALT', `${where}: expected an even number of hex digits or "-", got "${abbreviate(text)}"`);
  }
  if (salt.length > MAX_SALT_SIZE) {
    throw verityError('INVALID_SALT', `${where}: expected at most ${MAX_SALT_SIZE} bytes, got ${salt.length}`);
  }
  return salt;
}

/** Accepts a root hash as bytes or hex and checks it is exactly one digest long. */
export function parseRootHash(root: Buffer | string, algorithm: HashAlgorithm, where = 'root hash'): Buffer {
  const expected = digestSize(algorithm);
  const bytes = typeof root === 'string' ? decodeHex(root.trim()) : root;
  if (bytes === undefined) {
    throw verityError('INVALID_ROOT_HASH', `${where}: expected ${expected * 2} hex digits (${algorithm}), got "${abbreviate(String(root))}"`);
  }
  if (bytes.length !== expected) {
    throw verityError(
      'INVALID_ROOT_HASH',
      `${where}: expected ${expected} bytes (${expected * 2} hex digits) for ${algorithm}, got ${bytes.length} bytes`,
    );
  }
  return Buffer.from(bytes);
}

function abbreviate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
