import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import {
  parseSuperblock,
  parseUuid,
  randomUuid,
  serializeSuperblock,
  treeStartOffset,
  validateHashOffset,
  type Superblock,
} from './superblock.ts';
import { describeRun, runVeritysetup, veritysetupAvailable } from './veritysetup.ts';

const sample: Superblock = {
  version: 1,
  hashType: 1,
  uuid: '12345678-1234-1234-1234-123456789abc',
  hashAlgorithm: 'sha512',
  dataBlockSize: 1024,
  hashBlockSize: 2048,
  dataBlocks: 2 ** 40 + 3,
  salt: Buffer.from('deadbeef', 'hex'),
};

function corrupt(edit: (buf: Buffer) => void): Buffer {
  const buf = serializeSuperblock(sample);
  edit(buf);
  return buf;
}

describe('serializeSuperblock', () => {
  describe('when encoding', () => {
    it('lays out the fields little-endian at the offsets of struct verity_sb', () => {
      const buf = serializeSuperblock(sample);
      assert.equal(buf.length, 512);
      assert.equal(buf.subarray(0, 8).toString('latin1'), 'verity\0\0');
      assert.equal(buf.readUInt32LE(8), 1);
      assert.equal(buf.readUInt32LE(12), 1);
      assert.equal(buf.subarray(16, 32).toString('hex'), '12345678123412341234123456789abc');
      assert.equal(buf.subarray(32, 64).toString('latin1').replace(/\0+$/, ''), 'sha512');
      assert.equal(buf.readUInt32LE(64), 1024);
      assert.equal(buf.readUInt32LE(68), 2048);
      assert.equal(buf.readBigUInt64LE(72), 2n ** 40n + 3n);
      assert.equal(buf.readUInt16LE(80), 4);
      assert.equal(buf.subarray(88, 92).toString('hex'), 'deadbeef');
      assert.ok(buf.subarray(92).every((b) => b === 0), 'salt tail and padding are zero');
    });
  });

  describe('when decoding what it encoded', () => {
    it('round-trips', () => {
      assert.deepEqual(parseSuperblock(serializeSuperblock(sample)), sample);
    });
  });
});

describe('parseSuperblock', () => {
  describe('when the superblock comes from the real veritysetup', { skip: !veritysetupAvailable() && 'veritysetup not installed' }, () => {
    let dir = '';
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'verity-sb-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reads back every field veritysetup was given', async () => {
      await writeFile(join(dir, 'data'), Buffer.alloc(3 * 2048, 7));
      const run = await runVeritysetup([
        'format', join(dir, 'data'), join(dir, 'hash'),
        '--hash=sha1', '--format=0', '--data-block-size=2048', '--hash-block-size=1024',
        '--salt=0102030405', '--uuid=AABBCCDD-0000-1111-2222-333344445555',
      ]);
      assert.equal(run.exitCode, 0, describeRun(run));
      const sb = parseSuperblock(await readFile(join(dir, 'hash')));
      assert.deepEqual(sb, {
        version: 1,
        hashType: 0,
        uuid: 'aabbccdd-0000-1111-2222-333344445555',
        hashAlgorithm: 'sha1',
        dataBlockSize: 2048,
        hashBlockSize: 1024,
        dataBlocks: 3,
        salt: Buffer.from('0102030405', 'hex'),
      });
    });
  });

  describe('when a field is out of range (one fixture per rule)', () => {
    const cases: [string, Buffer, string][] = [
      ['shorter than 512 bytes', serializeSuperblock(sample).subarray(0, 511), 'HASH_FILE_TRUNCATED'],
      ['no signature', corrupt((b) => b.write('VERITY', 0, 'latin1')), 'SUPERBLOCK_MISSING'],
      ['version 2', corrupt((b) => b.writeUInt32LE(2, 8)), 'SUPERBLOCK_INVALID'],
      ['hash type 2', corrupt((b) => b.writeUInt32LE(2, 12)), 'SUPERBLOCK_INVALID'],
      ['algorithm md5', corrupt((b) => b.fill(0, 32, 64).write('md5', 32, 'latin1')), 'UNSUPPORTED_HASH'],
      ['data block size 1000', corrupt((b) => b.writeUInt32LE(1000, 64)), 'SUPERBLOCK_INVALID'],
      ['hash block size 256', corrupt((b) => b.writeUInt32LE(256, 68)), 'SUPERBLOCK_INVALID'],
      ['zero data blocks', corrupt((b) => b.writeBigUInt64LE(0n, 72)), 'SUPERBLOCK_INVALID'],
      ['data blocks past 2^53', corrupt((b) => b.writeBigUInt64LE(2n ** 60n, 72)), 'SUPERBLOCK_INVALID'],
      ['salt size 257', corrupt((b) => b.writeUInt16LE(257, 80)), 'SUPERBLOCK_INVALID'],
    ];
    for (const [name, buf, code] of cases) {
      it(`refuses ${name} with ${code}`, () => {
        assert.throws(() => parseSuperblock(buf), (err) => isLabError(err, code));
      });
    }
  });
});

describe('parseUuid', () => {
  describe('when the UUID is malformed', () => {
    for (const bad of ['12345678123412341234123456789abc', '12345678-1234-1234-1234-123456789abg', '{12345678-1234-1234-1234-123456789abc}', '']) {
      it(`refuses "${bad}" with INVALID_UUID`, () => {
        assert.throws(() => parseUuid(bad), (err) => isLabError(err, 'INVALID_UUID'));
      });
    }
  });
});

describe('randomUuid', () => {
  describe('when given fixed randomness', () => {
    it('is deterministic and marks version 4, variant 10', () => {
      const uuid = randomUuid((n) => Buffer.alloc(n, 0xff));
      assert.equal(uuid, 'ffffffff-ffff-4fff-bfff-ffffffffffff');
    });
  });
});

describe('treeStartOffset', () => {
  describe('when there is a superblock', () => {
    it('starts the tree at the first hash block boundary after the superblock', () => {
      assert.equal(treeStartOffset(0, 4096, true), 4096);
      assert.equal(treeStartOffset(0, 512, true), 512);
      assert.equal(treeStartOffset(4096, 4096, true), 8192);
      assert.equal(treeStartOffset(3584, 4096, true), 4096);
      assert.equal(treeStartOffset(3585 + 511, 4096, true), 8192);
    });
  });

  describe('when there is no superblock', () => {
    it('starts the tree at the hash offset', () => {
      assert.equal(treeStartOffset(8192, 4096, false), 8192);
    });
  });
});

describe('validateHashOffset', () => {
  describe('when the offset is not a whole 512-byte sector, or (without superblock) not a whole hash block', () => {
    it('refuses with INVALID_HASH_OFFSET', () => {
      for (const [offset, withSb] of [[100, true], [-512, true], [512, false], [1.5, true]] as const) {
        assert.throws(() => validateHashOffset(offset, 4096, withSb), (err) => isLabError(err, 'INVALID_HASH_OFFSET'), `${offset}`);
      }
      validateHashOffset(512, 4096, true);
      validateHashOffset(8192, 4096, false);
    });
  });
});
