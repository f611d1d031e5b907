import { LabError } from '../errors.ts';

/**
 * Every way lab/verity refuses input or fails. Tests assert on these codes;
 * a verification that runs to the end and finds corruption is not an error
 * but a `{ ok: false }` outcome.
 */
export type VerityErrorCode =
  /** Block size not a power of two in 512 B … 512 KiB (veritysetup's VERITY_BLOCK_SIZE_OK). */
  | 'INVALID_BLOCK_SIZE'
  /** Hash type other than 0 (Chrome OS) or 1 (normal). */
  | 'INVALID_HASH_TYPE'
  /** Hash algorithm this implementation does not provide. */
  | 'UNSUPPORTED_HASH'
  /** Salt not hex, odd length, or longer than 256 bytes. */
  | 'INVALID_SALT'
  /** Root hash not hex, or not as long as the algorithm's digest. */
  | 'INVALID_ROOT_HASH'
  /** UUID not in the 8-4-4-4-12 hex form. */
  | 'INVALID_UUID'
  /** Hash offset negative, not a multiple of 512, or (without superblock) of the hash block size. */
  | 'INVALID_HASH_OFFSET'
  /** Data and hash tree would share bytes of the same file. */
  | 'HASH_OFFSET_OVERLAPS'
  /** Requested data block count not a positive safe integer. */
  | 'INVALID_DATA_BLOCKS'
  /** Data file holds no whole data block, or fewer than the blocks asked for. */
  | 'DATA_TOO_SMALL'
  /** Data file missing or unreadable. */
  | 'DATA_FILE_UNREADABLE'
  /** Hash file missing or unreadable. */
  | 'HASH_FILE_UNREADABLE'
  /** Hash file ends before the superblock or the tree does. */
  | 'HASH_FILE_TRUNCATED'
  /** No `verity\0\0` signature where the superblock should be. */
  | 'SUPERBLOCK_MISSING'
  /** Superblock present but a field is out of range. */
  | 'SUPERBLOCK_INVALID'
  /** Caller's parameters contradict the superblock. */
  | 'SUPERBLOCK_MISMATCH'
  /** Verification without superblock needs explicit parameters. */
  | 'PARAMS_REQUIRED'
  /** The tree would need more than 63 levels or more than 2^53 bytes. */
  | 'TREE_TOO_LARGE'
  /** A read failed or came up short (file changed while being read). */
  | 'READ_FAILED'
  /** Writing or renaming the hash file failed; nothing was left behind. */
  | 'WRITE_FAILED'
  /** A hashing worker thread failed. */
  | 'WORKER_FAILED'
  /** The caller's AbortSignal fired. */
  | 'ABORTED';

export type VerityError = LabError<VerityErrorCode>;

export function verityError(code: VerityErrorCode, message: string, cause?: unknown): VerityError {
  return new LabError<VerityErrorCode>(code, message, cause === undefined ? undefined : { cause });
}
