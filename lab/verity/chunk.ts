/**
 * Reading and hashing one chunk of data blocks: the work every hashing
 * thread does, the calling thread and the worker threads alike.
 *
 * The chunk buffer holds each block next to its own copy of the salt, in the
 * order the hash type wants (verity.rst, <version>: type 1 hashes
 * salt || block, type 0 block || salt):
 *
 *   [64-byte pad][salt|block 0][salt|block 1]…   (type 1)
 *   [64-byte pad][block 0|salt][block 1|salt]…   (type 0)
 *
 * One readv() scatters a chunk's blocks into their places, and each block is
 * then hashed where it lies, with one native call and no copy. The pad keeps
 * blocks off page boundaries: copying a page-cache page to a page-aligned
 * buffer triggers 4K aliasing in the kernel's copy (measured here: 2 MiB
 * reads into a page-aligned buffer cost 110 ms of system time per 256 MiB,
 * 27 ms when the buffer starts 16 bytes later).
 *
 * Worker threads run these functions from their source text (see
 * worker-source.ts), so each one must stand alone: no imports, no
 * module-level names, no nested functions (tsx wraps those in a helper the
 * worker does not have). What they need comes in as arguments.
 */
import type { hash as cryptoHash } from 'node:crypto';
import type { readvSync } from 'node:fs';

/** Everything a thread needs to read and hash the chunks of one call. */
export interface ChunkJob {
  /** The data file's descriptor; worker threads read through it too (positional reads, no shared offset). */
  fd: number;
  /** How errors name the data file ("data file /path"). */
  what: string;
  algorithm: string;
  salt: Uint8Array;
  saltFirst: boolean;
  blockSize: number;
  /** Data blocks covered by the tree. */
  dataBlocks: number;
  blocksPerChunk: number;
  /** Entry layout of the level the digests go to (tree.ts EntryLayout). */
  entrySize: number;
  hashesPerBlock: number;
  hashBlockSize: number;
}

export interface ChunkBuffers {
  /** Where each block is read to, in block order: the iovecs handed to readv. */
  reads: Uint8Array[];
  /** What is hashed for each block: salt and block, in the hash type's order. */
  messages: Uint8Array[];
}

/** The functions a thread reads and hashes with: node:fs readvSync and node:crypto hash, or test doubles. */
export interface ChunkIo {
  readv: typeof readvSync;
  hash: typeof cryptoHash;
}

/** Allocates a chunk buffer for `blocks` blocks, salts in place (see the layout above). */
export function chunkBuffers(salt: Uint8Array, saltFirst: boolean, blockSize: number, blocks: number): ChunkBuffers {
  const pad = 64;
  const stride = blockSize + salt.length;
  const buffer = Buffer.alloc(pad + blocks * stride);
  const reads: Uint8Array[] = [];
  const messages: Uint8Array[] = [];
  for (let i = 0; i < blocks; i++) {
    const start = pad + i * stride;
    const blockAt = saltFirst ? start + salt.length : start;
    buffer.set(salt, saltFirst ? start : start + blockSize);
    reads.push(buffer.subarray(blockAt, blockAt + blockSize));
    messages.push(buffer.subarray(start, start + stride));
  }
  return { reads, messages };
}

/**
 * Reads chunk `chunk` of the data (blocks chunk * blocksPerChunk …) into
 * `buffers` and writes the digest of each block into `out` at its entry of
 * the lowest tree level (tree.ts entryOffset). Returns the number of blocks.
 *
 * A failed or short read throws an Error whose `verityCode` is
 * 'READ_FAILED' and `chunk` the chunk's number, with a message naming the
 * file, offset and shortfall.
 */
export function hashChunk(job: ChunkJob, buffers: ChunkBuffers, chunk: number, out: Buffer, io: ChunkIo): number {
  const first = chunk * job.blocksPerChunk;
  const count = Math.min(job.blocksPerChunk, job.dataBlocks - first);
  const length = count * job.blockSize;
  const position = first * job.blockSize;
  let iov = count === buffers.reads.length ? buffers.reads : buffers.reads.slice(0, count);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = io.readv(job.fd, iov, position + done);
    } catch (err) {
      const failure = new Error(`${job.what}: read of ${length} bytes at offset ${position} failed: ${(err as Error).message}`, { cause: err });
      throw Object.assign(failure, { verityCode: 'READ_FAILED', chunk });
    }
    if (n === 0) {
      const failure = new Error(
        `${job.what}: expected ${length} bytes at offset ${position}, the file ended after ${done} (did it change while being read?)`,
      );
      throw Object.assign(failure, { verityCode: 'READ_FAILED', chunk });
    }
    done += n;
    if (done < length) {
      // A short read (a signal, or more iovecs than IOV_MAX): go on from the first byte missing.
      const block = Math.floor(done / job.blockSize);
      iov = buffers.reads.slice(block, count);
      iov[0] = iov[0]!.subarray(done % job.blockSize);
    }
  }
  for (let i = 0; i < count; i++) {
    const index = first + i;
    // Digests travel as 'binary' (latin1) strings, one char per byte, an exact round trip: a
    // 'buffer' result allocates a backing store per call, about a fifth of the
    // time of hashing a 4 KiB block.
    const digest = io.hash(job.algorithm, buffers.messages[i]!, 'binary');
    out.write(digest, Math.floor(index / job.hashesPerBlock) * job.hashBlockSize + (index % job.hashesPerBlock) * job.entrySize, 'latin1');
  }
  return count;
}
