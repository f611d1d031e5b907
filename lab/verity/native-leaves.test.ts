/**
 * The native leaf hasher (native/leaves.c) called directly: digests against
 * Node's crypto, the layout's entry offsets, a file that ends early and bad
 * arguments. Through the hasher, against veritysetup, it is one of the
 * paths of verity.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compileNodeAddon } from '../node/native.ts';
import { forgetNativeLeaves, LEAVES_NAME, LEAVES_SOURCE, loadNativeLeaves } from './native-leaves.ts';

await compileNodeAddon(LEAVES_SOURCE, LEAVES_NAME);
forgetNativeLeaves();
const native = loadNativeLeaves();
const dir = mkdtempSync(join(tmpdir(), 'verity-leaves-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(bytes: Buffer): number {
  const path = join(dir, randomBytes(4).toString('hex'));
  writeFileSync(path, bytes);
  return openSync(path, 'r');
}

describe('the native leaf hasher', () => {
  it('loads once built', () => assert.ok(native));

  it('writes sha256(salt || block), or sha256(block || salt) for type 0, at each entry offset of the layout', () => {
    const blockSize = 512;
    const data = randomBytes(300 * blockSize);
    const salt = randomBytes(7);
    const fd = file(data);
    try {
      // Entries of 64 bytes, 8 to a 512-byte hash block: digests at 0, 64, …, then the next block.
      for (const saltFirst of [true, false]) {
        const out = Buffer.alloc(Math.ceil(300 / 8) * 512);
        native!.hashLeaves(fd, 0, 300, blockSize, salt, saltFirst, out, 64, 8, 512, 3);
        for (const i of [0, 1, 7, 8, 63, 64, 299]) {
          const block = data.subarray(i * blockSize, (i + 1) * blockSize);
          const want = createHash('sha256').update(saltFirst ? salt : block).update(saltFirst ? block : salt).digest();
          const at = Math.floor(i / 8) * 512 + (i % 8) * 64;
          assert.deepEqual(out.subarray(at, at + 32), want, `block ${i}, salt first ${saltFirst}`);
          assert.ok(out.subarray(at + 32, at + 64).every((b) => b === 0), 'the entry padding stays zero');
        }
      }
    } finally {
      closeSync(fd);
    }
  });

  it('hashes from the given first block only', () => {
    const data = randomBytes(10 * 4096);
    const fd = file(data);
    try {
      const out = Buffer.alloc(4096);
      native!.hashLeaves(fd, 6, 4, 4096, Buffer.alloc(0), true, out, 32, 128, 4096, 2);
      assert.deepEqual(out.subarray(6 * 32, 7 * 32), createHash('sha256').update(data.subarray(6 * 4096, 7 * 4096)).digest());
      assert.ok(out.subarray(0, 6 * 32).every((b) => b === 0), 'blocks before first are not touched');
    } finally {
      closeSync(fd);
    }
  });

  it('throws READ_FAILED naming the offset and the shortfall when the file ends early', () => {
    const fd = file(randomBytes(4096 + 100));
    try {
      assert.throws(
        () => native!.hashLeaves(fd, 0, 64, 4096, Buffer.alloc(0), true, Buffer.alloc(4096 * 2), 32, 128, 4096, 2),
        (err: Error & { verityCode?: string }) => err.verityCode === 'READ_FAILED' && err.message === 'expected 262144 bytes at offset 0, the file ended after 4196 (did it change while being read?)',
      );
    } finally {
      closeSync(fd);
    }
  });

  it('refuses a digest buffer too small for the layout, and arguments of the wrong type', () => {
    const fd = file(randomBytes(8 * 4096));
    try {
      assert.throws(() => native!.hashLeaves(fd, 0, 8, 4096, Buffer.alloc(0), true, Buffer.alloc(100), 32, 128, 4096, 1), /digest buffer is too small/);
      assert.throws(() => (native!.hashLeaves as (...a: unknown[]) => void)(fd, 0, 8), /expected 11 arguments/);
      assert.throws(() => (native!.hashLeaves as (...a: unknown[]) => void)('x', 0, 8, 4096, Buffer.alloc(0), true, Buffer.alloc(4096), 32, 128, 4096, 1), /wrong type/);
    } finally {
      closeSync(fd);
    }
  });
});
