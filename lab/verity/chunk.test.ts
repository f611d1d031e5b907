import assert from 'node:assert/strict';
import { createHash, hash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { chunkBuffers, hashChunk, type ChunkIo, type ChunkJob } from './chunk.ts';
import { entryOffset } from './tree.ts';

const salt = Buffer.from('a1b2c3d4e5', 'hex');

function job(overrides: Partial<ChunkJob> = {}): ChunkJob {
  // sha1 with type 1 layout: 20-byte digests padded to 32, 16 per 512-byte hash block.
  return {
    fd: 7,
    what: 'data file /tmp/layer.erofs',
    algorithm: 'sha1',
    salt,
    saltFirst: true,
    blockSize: 512,
    dataBlocks: 40,
    blocksPerChunk: 16,
    entrySize: 32,
    hashesPerBlock: 16,
    hashBlockSize: 512,
    ...overrides,
  };
}

/** A readv over an in-memory file that returns at most `limit` bytes per call, as a short read would. */
function memoryIo(data: Buffer, limit = Infinity, calls: Array<{ position: number; iovecs: number }> = []): ChunkIo {
  const readv = (_fd: number, buffers: readonly NodeJS.ArrayBufferView[], position?: number | null): number => {
    let at = position ?? 0;
    let done = 0;
    calls.push({ position: at, iovecs: buffers.length });
    for (const buffer of buffers) {
      const view = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      const n = Math.min(view.length, data.length - at, limit - done);
      if (n <= 0) break;
      view.set(data.subarray(at, at + n));
      at += n;
      done += n;
      if (n < view.length) break;
    }
    return done;
  };
  return { readv: readv as ChunkIo['readv'], hash };
}

function expectedLevel(data: Buffer, j: ChunkJob, chunk: number): Buffer {
  const out = Buffer.alloc(3 * 512);
  const first = chunk * j.blocksPerChunk;
  for (let i = first; i < Math.min(first + j.blocksPerChunk, j.dataBlocks); i++) {
    const block = data.subarray(i * 512, (i + 1) * 512);
    const digest = j.saltFirst ? createHash('sha1').update(salt).update(block).digest() : createHash('sha1').update(block).update(salt).digest();
    digest.copy(out, entryOffset(j, i));
  }
  return out;
}

describe('chunkBuffers', () => {
  describe('when the hash type is 1', () => {
    it('puts each block right after its own copy of the salt', () => {
      const { reads, messages } = chunkBuffers(salt, true, 512, 3);
      for (let i = 0; i < 3; i++) {
        reads[i]!.fill(i + 1);
        assert.deepEqual(Buffer.from(messages[i]!), Buffer.concat([salt, Buffer.alloc(512, i + 1)]));
      }
    });
  });

  describe('when the hash type is 0', () => {
    it('puts the salt right after each block', () => {
      const { reads, messages } = chunkBuffers(salt, false, 512, 2);
      reads[1]!.fill(9);
      assert.deepEqual(Buffer.from(messages[1]!), Buffer.concat([Buffer.alloc(512, 9), salt]));
    });
  });

  describe('when the salt is empty', () => {
    it('hashes each block alone, in one buffer', () => {
      const { reads, messages } = chunkBuffers(Buffer.alloc(0), true, 512, 2);
      assert.equal(reads[0]!.buffer, reads[1]!.buffer);
      assert.equal(messages[1]!.byteOffset, reads[1]!.byteOffset);
      assert.equal(messages[1]!.length, 512);
    });
  });

  describe('when laid out in its buffer', () => {
    it('starts the first block off the buffer start (a page-aligned copy target is slow)', () => {
      const { reads } = chunkBuffers(Buffer.alloc(0), true, 4096, 4);
      assert.ok(reads.every((r) => r.byteOffset % 4096 !== 0));
    });
  });
});

describe('hashChunk', () => {
  const data = randomBytes(40 * 512 + 100);

  describe('when each chunk is read in one call', () => {
    it('writes the digest of every block at its entry, for both hash types', () => {
      for (const saltFirst of [true, false]) {
        const j = job({ saltFirst });
        const calls: Array<{ position: number; iovecs: number }> = [];
        const io = memoryIo(data, Infinity, calls);
        for (const chunk of [0, 1, 2]) {
          const out = Buffer.alloc(3 * 512);
          const count = hashChunk(j, chunkBuffers(salt, saltFirst, 512, 16), chunk, out, io);
          assert.equal(count, chunk === 2 ? 8 : 16);
          assert.deepEqual(out, expectedLevel(data, j, chunk), `type ${saltFirst ? 1 : 0}, chunk ${chunk}`);
        }
        assert.deepEqual(calls, [
          { position: 0, iovecs: 16 },
          { position: 16 * 512, iovecs: 16 },
          { position: 32 * 512, iovecs: 8 },
        ]);
      }
    });
  });

  describe('when reads come back short', () => {
    it('goes on from the first missing byte and gets the same digests', () => {
      const j = job();
      const calls: Array<{ position: number; iovecs: number }> = [];
      const out = Buffer.alloc(3 * 512);
      hashChunk(j, chunkBuffers(salt, true, 512, 16), 1, out, memoryIo(data, 700, calls));
      assert.deepEqual(out, expectedLevel(data, j, 1));
      assert.deepEqual(calls.slice(0, 3), [
        { position: 16 * 512, iovecs: 16 },
        { position: 16 * 512 + 700, iovecs: 15 },
        { position: 16 * 512 + 1400, iovecs: 14 },
      ]);
    });
  });

  describe('when the file ends early', () => {
    it('fails with READ_FAILED naming the file, the offset and how much was there', () => {
      const j = job({ dataBlocks: 50 });
      assert.throws(
        () => hashChunk(j, chunkBuffers(salt, true, 512, 16), 2, Buffer.alloc(4 * 512), memoryIo(data)),
        (err: Error & { verityCode?: string }) =>
          err.verityCode === 'READ_FAILED' &&
          err.message === 'data file /tmp/layer.erofs: expected 8192 bytes at offset 16384, the file ended after 4196 (did it change while being read?)',
      );
    });
  });

  describe('when the read fails', () => {
    it('fails with READ_FAILED and the system error as cause', () => {
      const eio = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      const io: ChunkIo = { hash, readv: (() => { throw eio; }) as ChunkIo['readv'] };
      assert.throws(
        () => hashChunk(job(), chunkBuffers(salt, true, 512, 16), 0, Buffer.alloc(3 * 512), io),
        (err: Error & { verityCode?: string }) =>
          err.verityCode === 'READ_FAILED' && err.cause === eio && err.message === 'data file /tmp/layer.erofs: read of 8192 bytes at offset 0 failed: EIO: i/o error, read',
      );
    });
  });
});
