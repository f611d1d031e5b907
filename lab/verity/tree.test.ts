import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import type { VerityParams } from './params.ts';
import { BlockHasher, buildTree, entryOffset, layoutOf, levelBytes, locateFailure, serializeTree, treeGeometry } from './tree.ts';

const sha256: VerityParams = { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, salt: Buffer.from('a1b2', 'hex'), hashType: 1 };

/** Builds a tree from raw data with the pure functions only. */
function treeOf(params: VerityParams, data: Buffer) {
  const geometry = treeGeometry(params, Math.floor(data.length / params.dataBlockSize));
  const layout = layoutOf(geometry);
  const level0 = Buffer.alloc(levelBytes(layout, geometry.dataBlocks));
  new BlockHasher(params, params.dataBlockSize).digestInto(data, geometry.dataBlocks, level0, 0, layout);
  const tree = buildTree(params, geometry, level0);
  return { geometry, tree, stored: serializeTree(geometry, tree.levels) };
}

describe('treeGeometry', () => {
  describe('when there is a single data block', () => {
    it('has no levels and no hash blocks (the root is the digest of that block)', () => {
      const g = treeGeometry(sha256, 1);
      assert.equal(g.levels.length, 0);
      assert.equal(g.hashBlocks, 0);
    });
  });

  describe('when there are zero data blocks', () => {
    it('refuses, as veritysetup does ("Hash area overflow")', () => {
      assert.throws(() => treeGeometry(sha256, 0), (err) => isLabError(err, 'DATA_TOO_SMALL'));
    });
  });

  describe('when sha256 digests fill 4 KiB hash blocks', () => {
    it('stores 128 digests per block, so 512 data blocks need 4 + 1 hash blocks (veritysetup prints "Hash blocks: 5")', () => {
      const g = treeGeometry(sha256, 512);
      assert.equal(g.hashesPerBlock, 128);
      assert.deepEqual(
        g.levels.map((l) => [l.entries, l.blocks, l.startBlock]),
        [
          [512, 4, 1],
          [4, 1, 0],
        ],
      );
      assert.equal(g.hashBlocks, 5);
    });

    it('adds a level exactly when the data block count passes a power of 128', () => {
      assert.equal(treeGeometry(sha256, 128).levels.length, 1);
      assert.equal(treeGeometry(sha256, 129).levels.length, 2);
      assert.equal(treeGeometry(sha256, 128 * 128).levels.length, 2);
      assert.equal(treeGeometry(sha256, 128 * 128 + 1).levels.length, 3);
    });
  });

  describe('when the digest is not a power of two (sha1, 20 bytes)', () => {
    it('pads entries to 32 bytes in type 1 and packs them at 20 bytes in type 0, 128 per 4 KiB block either way', () => {
      const t1 = treeGeometry({ ...sha256, hashAlgorithm: 'sha1', hashType: 1 }, 1000);
      const t0 = treeGeometry({ ...sha256, hashAlgorithm: 'sha1', hashType: 0 }, 1000);
      assert.deepEqual([t1.entrySize, t1.hashesPerBlock], [32, 128]);
      assert.deepEqual([t0.entrySize, t0.hashesPerBlock], [20, 128]);
    });
  });

  describe('when sha512 digests fill 512-byte hash blocks', () => {
    it('stores 8 per block and stacks levels top first', () => {
      const g = treeGeometry({ ...sha256, hashAlgorithm: 'sha512', hashBlockSize: 512 }, 8 ** 3 + 1);
      assert.equal(g.hashesPerBlock, 8);
      assert.equal(g.levels.length, 4);
      const starts = g.levels.map((l) => l.startBlock);
      assert.deepEqual(starts, [...starts].sort((a, b) => b - a), 'lower levels come later in the file');
      assert.equal(g.levels[3]!.blocks, 1);
      assert.equal(g.levels[3]!.startBlock, 0);
    });
  });
});

describe('BlockHasher', () => {
  const block = randomBytes(512);
  const salt = Buffer.from('00112233445566', 'hex');

  describe('when the hash type is 1', () => {
    it('hashes salt then block', () => {
      const digest = new BlockHasher({ ...sha256, salt, dataBlockSize: 512 }, 512).digest(block);
      assert.deepEqual(digest, createHash('sha256').update(salt).update(block).digest());
    });
  });

  describe('when the hash type is 0', () => {
    it('hashes block then salt', () => {
      const digest = new BlockHasher({ ...sha256, salt, hashType: 0, dataBlockSize: 512 }, 512).digest(block);
      assert.deepEqual(digest, createHash('sha256').update(block).update(salt).digest());
    });
  });

  describe('when the salt is empty', () => {
    it('hashes the block alone', () => {
      const digest = new BlockHasher({ ...sha256, salt: Buffer.alloc(0), hashAlgorithm: 'sha512' }, 512).digest(block);
      assert.deepEqual(digest, createHash('sha512').update(block).digest());
    });
  });

  describe('when digesting many blocks into a level', () => {
    it('places each digest at its padded entry and leaves padding and block tails zero', () => {
      const params: VerityParams = { ...sha256, hashAlgorithm: 'sha1', dataBlockSize: 512, hashBlockSize: 512 };
      const geometry = treeGeometry(params, 20);
      const layout = layoutOf(geometry);
      const data = randomBytes(20 * 512);
      const out = Buffer.alloc(levelBytes(layout, 20));
      new BlockHasher(params, 512).digestInto(data, 20, out, 0, layout);
      assert.equal(layout.hashesPerBlock, 16);
      assert.equal(out.length, 1024);
      const expected = Buffer.alloc(1024);
      for (let i = 0; i < 20; i++) {
        createHash('sha1').update(params.salt).update(data.subarray(i * 512, (i + 1) * 512)).digest().copy(expected, entryOffset(layout, i));
      }
      assert.deepEqual(out, expected);
      assert.ok(out.subarray(20, 32).every((b) => b === 0), 'type 1 pads sha1 entries from 20 to 32 bytes with zeroes');
      assert.ok(out.subarray(512 + 4 * 32).every((b) => b === 0), 'unused tail of the last hash block is zero');
    });
  });
});

describe('locateFailure', () => {
  const params: VerityParams = { ...sha256, dataBlockSize: 512, hashBlockSize: 512 };
  const data = randomBytes(300 * 512); // 16 digests per block: levels of 300, 19, 2 entries
  const good = treeOf(params, data);

  describe('when data and tree are intact', () => {
    it('finds nothing', () => {
      assert.equal(locateFailure(params, good.geometry, good.stored, good.tree, good.tree.rootHash), undefined);
    });
  });

  describe('when one data block changed', () => {
    it('names that block, not the hash file', () => {
      const bad = Buffer.from(data);
      bad[217 * 512 + 5]! ^= 1;
      const failure = locateFailure(params, good.geometry, good.stored, treeOf(params, bad).tree, good.tree.rootHash);
      assert.deepEqual(failure, { kind: 'data', dataBlock: 217, dataOffset: 217 * 512, corruptedDataBlocks: 1 });
    });
  });

  describe('when a hash block in the middle level changed', () => {
    it('names that hash block and the data blocks it covers', () => {
      const stored = Buffer.from(good.stored);
      const level1 = good.geometry.levels[1]!;
      stored[(level1.startBlock + 1) * 512 + 3]! ^= 0x80;
      const failure = locateFailure(params, good.geometry, stored, good.tree, good.tree.rootHash, 4096);
      assert.deepEqual(failure, {
        kind: 'hash-tree',
        level: 1,
        hashBlock: 1,
        hashFileOffset: 4096 + (level1.startBlock + 1) * 512,
        firstDataBlock: 256,
        lastDataBlock: 299,
      });
    });
  });

  describe('when the zero padding of a hash block changed', () => {
    it('blames the block, as veritysetup does ("Spare area is not zeroed")', () => {
      const stored = Buffer.from(good.stored);
      const level0 = good.geometry.levels[0]!;
      // Last level-0 block holds 300 - 18*16 = 12 digests; byte 500 is in its zero tail.
      stored[(level0.startBlock + 18) * 512 + 500] = 1;
      const failure = locateFailure(params, good.geometry, stored, good.tree, good.tree.rootHash);
      assert.equal(failure?.kind, 'hash-tree');
      assert.equal(failure.kind === 'hash-tree' && failure.hashBlock, 18);
    });
  });

  describe('when data and tree were both replaced consistently', () => {
    it('reports a root mismatch: the tree agrees with the data but not with the trusted root', () => {
      const other = treeOf(params, randomBytes(300 * 512));
      assert.deepEqual(locateFailure(params, other.geometry, other.stored, other.tree, good.tree.rootHash), { kind: 'root' });
    });
  });
});
