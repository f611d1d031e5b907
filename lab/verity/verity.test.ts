/**
 * Cross-checks lab/verity against the real veritysetup (cryptsetup 2.6.1):
 * root hashes and hash-file bytes over a matrix of parameters, verification
 * verdicts on corrupted inputs, and the refusal of bad input without
 * leaving files behind. Every lab/verity run goes through both the
 * single-thread path and the worker-thread path.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isLabError } from '../errors.ts';
import { bundleForNode } from '../node/bundle.ts';
import { releaseHashWorkers, type ReadOptions } from './hasher.ts';
import { compileNodeAddon } from '../node/native.ts';
import { forgetNativeLeaves, LEAVES_NAME, LEAVES_SOURCE, loadNativeLeaves } from './native-leaves.ts';
import { PARALLEL_THRESHOLD_BYTES, startEarlyHashThread, startEarlyHashThreadForLargeFile, startHashThread, takeEarlyHashThread } from './worker-source.ts';
import { DELIVERY_KIT_PARAMS, type VerityParams } from './params.ts';
import { treeStartOffset } from './superblock.ts';
import { entryOffset, layoutOf, treeGeometry } from './tree.ts';
import { computeRootHash, format, verify, verifyAgainstRootHash, type FormatOptions } from './verity.ts';
import { describeRun, rootHashFromOutput, runVeritysetup, veritysetupAvailable, type PeerRun } from './veritysetup.ts';

const execFileAsync = promisify(execFile);
const UUID = '0c8a3c9e-5b0e-4b7a-9d57-3f1e2a6c4d21';
const skip = !veritysetupAvailable() && 'veritysetup is not installed at /usr/sbin/veritysetup';

/** Deterministic pseudo-random bytes, so a failing case can be rebuilt. */
function bytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size + 32);
  for (let off = 0, n = 0; off < size; off += 32, n++) {
    createHash('sha256').update(`${seed}/${n}`).digest().copy(out, off);
  }
  return out.subarray(0, size);
}

function params(overrides: Partial<VerityParams> = {}): VerityParams {
  return { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, salt: Buffer.from('5a17', 'hex'), hashType: 1, ...overrides };
}

/**
 * The two hashing paths: the calling thread alone, and worker threads alone
 * (offloaded, so that they hash every chunk; with the calling thread
 * hashing too, it would finish a small file before a worker is up), one
 * block per chunk, three threads racing for chunks.
 */
const PATHS = [
  { name: 'single thread', read: { concurrency: 1, native: false } },
  { name: 'worker threads', read: { concurrency: 3, chunkBytes: 1, offload: true, native: false } },
  // sha256 only: other algorithms go to Node's crypto whatever this says.
  { name: 'native hasher', read: { concurrency: 3, native: true } },
] as const;

// The native leaf hasher, built as the CLI builds it on first use: the cases below run on it too.
await compileNodeAddon(LEAVES_SOURCE, LEAVES_NAME);
forgetNativeLeaves();
assert.ok(loadNativeLeaves(), 'the native leaf hasher was built but does not load');

interface FormatCase {
  name: string;
  size: number;
  params: VerityParams;
  noSuperblock?: boolean;
  hashOffset?: number;
  dataBlocks?: number;
  /** Hash tree appended to the data file itself. */
  sameFile?: boolean;
  /** Hash file exists beforehand with this many pseudo-random bytes. */
  prefill?: number;
}

function peerArgs(c: FormatCase, data: string, hash: string): string[] {
  const p = c.params;
  return [
    'format', data, hash,
    `--hash=${p.hashAlgorithm}`,
    `--format=${p.hashType}`,
    `--data-block-size=${p.dataBlockSize}`,
    `--hash-block-size=${p.hashBlockSize}`,
    `--salt=${p.salt.length === 0 ? '-' : p.salt.toString('hex')}`,
    ...(c.noSuperblock ? ['--no-superblock'] : [`--uuid=${UUID}`]),
    ...(c.hashOffset === undefined ? [] : [`--hash-offset=${c.hashOffset}`]),
    ...(c.dataBlocks === undefined ? [] : [`--data-blocks=${c.dataBlocks}`]),
  ];
}

function formatOptions(c: FormatCase, read: ReadOptions): FormatOptions {
  return {
    params: c.params,
    noSuperblock: c.noSuperblock,
    hashOffset: c.hashOffset,
    dataBlocks: c.dataBlocks,
    uuid: c.noSuperblock ? undefined : UUID,
    ...read,
  };
}

const CASES: FormatCase[] = [
  { name: 'one data block', size: 4096, params: params() },
  { name: 'one block and a tail that veritysetup ignores (4097 B)', size: 4097, params: params() },
  { name: 'two blocks', size: 8192, params: params() },
  { name: 'a size that is not a multiple of the block (10000 B)', size: 10000, params: params() },
  { name: 'two levels (129 blocks of 4 KiB)', size: 129 * 4096, params: params() },
  { name: 'three levels (257 blocks of 512 B, 16 digests per block)', size: 257 * 512 + 77, params: params({ dataBlockSize: 512, hashBlockSize: 512 }) },
  { name: 'four levels, sha512 over 512-byte blocks', size: 513 * 512, params: params({ hashAlgorithm: 'sha512', dataBlockSize: 512, hashBlockSize: 512 }) },
  { name: 'sha1, type 1 (digests padded to 32 bytes)', size: 70 * 1024, params: params({ hashAlgorithm: 'sha1', dataBlockSize: 1024, hashBlockSize: 512 }) },
  { name: 'sha1, type 0 (digests packed, salt after)', size: 70 * 1024, params: params({ hashAlgorithm: 'sha1', hashType: 0, dataBlockSize: 1024, hashBlockSize: 512 }) },
  { name: 'sha256, type 0', size: 300 * 512, params: params({ hashType: 0, dataBlockSize: 512, hashBlockSize: 1024 }) },
  { name: 'sha512, type 0, odd-length salt', size: 200 * 1024, params: params({ hashAlgorithm: 'sha512', hashType: 0, dataBlockSize: 1024, salt: Buffer.from('0102030405', 'hex') }) },
  { name: 'empty salt ("-")', size: 50 * 4096, params: params({ salt: Buffer.alloc(0) }) },
  { name: 'empty salt, type 0', size: 50 * 4096, params: params({ salt: Buffer.alloc(0), hashType: 0 }) },
  { name: 'a 256-byte salt', size: 50 * 4096, params: params({ salt: bytes(256, 'salt') }) },
  { name: 'data 512 / hash 4096', size: 600 * 512, params: params({ dataBlockSize: 512 }) },
  { name: 'data 4096 / hash 512', size: 40 * 4096, params: params({ hashBlockSize: 512 }) },
  { name: 'data 1024 / hash 2048', size: 100 * 1024 + 5, params: params({ dataBlockSize: 1024, hashBlockSize: 2048 }) },
  { name: 'data 8192 / hash 16384', size: 20 * 8192, params: params({ dataBlockSize: 8192, hashBlockSize: 16384 }) },
  { name: 'data 65536 / hash 65536', size: 5 * 65536 + 1, params: params({ dataBlockSize: 65536, hashBlockSize: 65536 }) },
  { name: 'data 65536 / hash 512', size: 20 * 65536, params: params({ dataBlockSize: 65536, hashBlockSize: 512 }) },
  { name: 'data 512 / hash 65536', size: 3000 * 512, params: params({ dataBlockSize: 512, hashBlockSize: 65536 }) },
  { name: 'no superblock', size: 129 * 4096, params: params(), noSuperblock: true },
  { name: 'no superblock, hash offset 8192', size: 129 * 4096, params: params(), noSuperblock: true, hashOffset: 8192 },
  { name: 'superblock at hash offset 4096', size: 129 * 4096, params: params(), hashOffset: 4096 },
  { name: 'superblock at hash offset 512 (tree at the next 4 KiB)', size: 129 * 4096, params: params(), hashOffset: 512 },
  { name: 'superblock at hash offset 3584 (tree pushed to 8 KiB)', size: 129 * 4096, params: params(), hashOffset: 3584 },
  { name: 'the first 3 of 10 data blocks (--data-blocks)', size: 10 * 4096, params: params(), dataBlocks: 3 },
  { name: 'tree appended to the data file (hash offset = data size)', size: 40 * 4096, params: params(), sameFile: true, hashOffset: 40 * 4096 },
  {
    name: 'tree appended after a size that is not a multiple of 512 (data tail overwritten only where veritysetup writes)',
    size: 40 * 4096 + 1000, params: params(), sameFile: true, hashOffset: 40 * 4096,
  },
  { name: 'tree appended, no superblock', size: 40 * 4096, params: params(), sameFile: true, noSuperblock: true, hashOffset: 40 * 4096, dataBlocks: 40 },
  { name: 'one block, superblock appended at 8192 (superblock written in whole 4 KiB units)', size: 4096, params: params(), sameFile: true, hashOffset: 8192 },
  { name: 'one block of 512, superblock appended at 4608', size: 4096, params: params({ dataBlockSize: 512, hashBlockSize: 512 }), sameFile: true, hashOffset: 4608 },
  { name: 'an existing larger hash file (bytes outside the tree kept)', size: 129 * 4096, params: params(), prefill: 64 * 1024 + 7 },
  { name: 'an existing hash file with a hash offset (gap after the superblock kept)', size: 129 * 4096, params: params(), prefill: 20000, hashOffset: 1024 },
  { name: 'the delivery-kit parameters', size: 300 * 4096, params: DELIVERY_KIT_PARAMS },
];

describe('format', { skip }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-format-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('when compared with veritysetup format on the same input', () => {
    CASES.forEach((c, i) => {
      it(`writes the same root hash and hash-file bytes: ${c.name}`, async () => {
        const data = bytes(c.size, `data-${i}`);
        const prefill = c.prefill === undefined ? undefined : bytes(c.prefill, `prefill-${i}`);
        const prepare = async (name: string): Promise<{ data: string; hash: string }> => {
          const dataPath = join(dir, `${i}-${name}.img`);
          await writeFile(dataPath, data);
          const hashPath = c.sameFile ? dataPath : join(dir, `${i}-${name}.hash`);
          if (prefill !== undefined) await writeFile(hashPath, prefill);
          return { data: dataPath, hash: hashPath };
        };
        const peer = await prepare('peer');
        const run = await runVeritysetup(peerArgs(c, peer.data, peer.hash));
        assert.equal(run.exitCode, 0, describeRun(run));
        const peerRoot = rootHashFromOutput(run.stdout);
        assert.ok(peerRoot, `no root hash in: ${run.stdout}`);
        const peerBytes = await readFile(peer.hash);

        for (const path of PATHS) {
          const ours = await prepare(path.name.replace(' ', '-'));
          const result = await format(ours.data, ours.hash, formatOptions(c, path.read));
          assert.equal(result.rootHashHex, peerRoot, `${path.name}: root hash`);
          const ourBytes = await readFile(ours.hash);
          assert.equal(ourBytes.length, peerBytes.length, `${path.name}: hash file size`);
          assert.ok(ourBytes.equals(peerBytes), `${path.name}: hash file bytes differ from veritysetup's`);
          assert.equal(result.hashFileSize, ourBytes.length);

          const checked = await verify(ours.data, peer.hash, peerRoot, {
            noSuperblock: c.noSuperblock,
            params: c.noSuperblock ? c.params : undefined,
            hashOffset: c.hashOffset,
            dataBlocks: c.noSuperblock ? c.dataBlocks : undefined,
            ...path.read,
          });
          assert.equal(checked.ok, true, `${path.name}: verify of veritysetup's hash file: ${checked.ok ? '' : checked.reason}`);
        }
      });
    });
  });

  describe('when the data file holds no whole block', () => {
    for (const size of [0, 100, 4095]) {
      it(`refuses ${size} bytes with DATA_TOO_SMALL, as veritysetup also fails`, async () => {
        const data = join(dir, `small-${size}`);
        await writeFile(data, bytes(size, 'small'));
        const run = await runVeritysetup(['format', data, join(dir, `small-${size}.peer`), '--salt=00']);
        assert.notEqual(run.exitCode, 0, 'veritysetup refuses too');
        await assert.rejects(format(data, join(dir, `small-${size}.hash`), { params: params() }), (err) => isLabError(err, 'DATA_TOO_SMALL'));
        await assert.rejects(stat(join(dir, `small-${size}.hash`)), { code: 'ENOENT' });
      });
    }
  });

  describe('when no UUID is given', () => {
    it('draws a version-4 UUID from the injected randomness', async () => {
      const data = join(dir, 'uuid.img');
      await writeFile(data, bytes(8192, 'uuid'));
      const result = await format(data, join(dir, 'uuid.hash'), { params: params(), randomBytes: (n) => Buffer.alloc(n, 0x11) });
      assert.equal(result.uuid, '11111111-1111-4111-9111-111111111111');
      const run = await runVeritysetup(['dump', join(dir, 'uuid.hash')]);
      assert.match(run.stdout, /UUID:\s+11111111-1111-4111-9111-111111111111/);
    });
  });
});

describe('verify', { skip }, () => {
  let dir = '';
  const p = params({ salt: bytes(32, 'verify-salt') });
  const blocks = 300; // 300 digests: level 0 of 3 blocks, level 1 of 1 block
  const data = bytes(blocks * 4096, 'verify-data');
  let root = '';
  let treeStart = 0;
  const geometry = treeGeometry(p, blocks);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-verify-'));
    await writeFile(join(dir, 'data'), data);
    const run = await runVeritysetup(['format', join(dir, 'data'), join(dir, 'hash'), `--salt=${p.salt.toString('hex')}`]);
    assert.equal(run.exitCode, 0, describeRun(run));
    root = rootHashFromOutput(run.stdout)!;
    treeStart = treeStartOffset(0, 4096, true);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Copies data and hash, applies the edits, and runs both verifiers. */
  async function tamper(name: string, edit: { data?: (b: Buffer) => void; hash?: (b: Buffer) => void; root?: string }) {
    const d = Buffer.from(data);
    const h = await readFile(join(dir, 'hash'));
    edit.data?.(d);
    edit.hash?.(h);
    const dataPath = join(dir, `${name}.data`);
    const hashPath = join(dir, `${name}.hash`);
    await writeFile(dataPath, d);
    await writeFile(hashPath, h);
    const expected = edit.root ?? root;
    const peer: PeerRun = await runVeritysetup(['verify', dataPath, hashPath, expected]);
    const ours = await Promise.all(PATHS.map((path) => verify(dataPath, hashPath, expected, path.read)));
    assert.deepEqual(ours[0], ours[1], 'both hashing paths agree');
    return { peer, ours: ours[0]! };
  }

  describe('when nothing was changed', () => {
    it('succeeds, as veritysetup verify does', async () => {
      const { peer, ours } = await tamper('clean', {});
      assert.equal(peer.exitCode, 0, describeRun(peer));
      assert.equal(ours.ok, true);
      assert.equal(ours.ok && ours.rootHash, root);
    });
  });

  describe('when one byte of one data block is flipped', () => {
    for (const block of [0, 77, 299]) {
      it(`names data block ${block}, at the position veritysetup reports`, async () => {
        const { peer, ours } = await tamper(`data-${block}`, { data: (b) => void (b[block * 4096 + 1234]! ^= 0x01) });
        assert.notEqual(peer.exitCode, 0);
        assert.match(peer.stderr, new RegExp(`Verification failed at position ${block * 4096}\\.`));
        assert.equal(ours.ok, false);
        assert.deepEqual(!ours.ok && ours.failure, { kind: 'data', dataBlock: block, dataOffset: block * 4096, corruptedDataBlocks: 1 });
        assert.match(!ours.ok ? ours.reason : '', new RegExp(`data block ${block} `));
      });
    }
  });

  describe('when several data blocks are corrupted', () => {
    it('names the first and counts them all', async () => {
      const { peer, ours } = await tamper('data-many', {
        data: (b) => {
          for (const block of [250, 12, 130]) b[block * 4096]! ^= 0xff;
        },
      });
      assert.notEqual(peer.exitCode, 0);
      assert.deepEqual(!ours.ok && ours.failure, { kind: 'data', dataBlock: 12, dataOffset: 12 * 4096, corruptedDataBlocks: 3 });
    });
  });

  describe('when one byte of the hash file is flipped', () => {
    const level0 = geometry.levels[0]!;
    const level1 = geometry.levels[1]!;
    const cases: [string, () => number, object][] = [
      [
        'in a level-0 digest (the digest of data block 130)',
        () => treeStart + level0.startBlock * 4096 + entryOffset(layoutOf(geometry), 130) + 7,
        { kind: 'hash-tree', level: 0, hashBlock: 1, firstDataBlock: 128, lastDataBlock: 255 },
      ],
      [
        'in the top level',
        () => treeStart + level1.startBlock * 4096 + 40,
        { kind: 'hash-tree', level: 1, hashBlock: 0, firstDataBlock: 0, lastDataBlock: 299 },
      ],
      [
        'in the zero padding after the last digest',
        () => treeStart + (level0.startBlock + 2) * 4096 + 4000,
        { kind: 'hash-tree', level: 0, hashBlock: 2, firstDataBlock: 256, lastDataBlock: 299 },
      ],
    ];
    for (const [name, offset, expected] of cases) {
      it(`blames the hash block, not the data: ${name}`, async () => {
        const { peer, ours } = await tamper(`hash-${name.length}`, { hash: (b) => void (b[offset()]! ^= 0x20) });
        assert.notEqual(peer.exitCode, 0, 'veritysetup fails as well');
        assert.equal(ours.ok, false);
        assert.ok(!ours.ok);
        assert.deepEqual({ ...ours.failure, hashFileOffset: undefined }, { ...expected, hashFileOffset: undefined });
        assert.equal(ours.failure.kind === 'hash-tree' && ours.failure.hashFileOffset, Math.floor(offset() / 4096) * 4096);
      });
    }

    it('fails when the flipped byte is in the superblock salt, as veritysetup does', async () => {
      const { peer, ours } = await tamper('sb-salt', { hash: (b) => void (b[88 + 3]! ^= 0x01) });
      assert.notEqual(peer.exitCode, 0);
      assert.equal(ours.ok, false);
    });
  });

  describe('when the root hash is not the one the tree was built for', () => {
    it('reports a root mismatch, as veritysetup does ("Verification of root hash failed")', async () => {
      const wrong = root.slice(0, -1) + (root.endsWith('0') ? '1' : '0');
      const { peer, ours } = await tamper('wrong-root', { root: wrong });
      assert.notEqual(peer.exitCode, 0);
      assert.match(peer.stderr, /Verification of root hash failed/);
      assert.deepEqual(!ours.ok && ours.failure, { kind: 'root' });
      assert.equal(!ours.ok && ours.actualRoot, root);
    });
  });

  describe('when an attacker rewrites a data block and rebuilds the tree to match', () => {
    it('still fails against the trusted root, naming a root mismatch', async () => {
      const forgedData = Buffer.from(data);
      forgedData[5 * 4096]! ^= 1;
      await writeFile(join(dir, 'forged.data'), forgedData);
      await format(join(dir, 'forged.data'), join(dir, 'forged.hash'), { params: p });
      const peer = await runVeritysetup(['verify', join(dir, 'forged.data'), join(dir, 'forged.hash'), root]);
      const ours = await verify(join(dir, 'forged.data'), join(dir, 'forged.hash'), root);
      assert.notEqual(peer.exitCode, 0);
      assert.deepEqual(!ours.ok && ours.failure, { kind: 'root' });
    });
  });

  describe('when a hash type 0 tree is tampered with', () => {
    it('names the corrupted data block too', async () => {
      const t0 = params({ hashType: 0, hashAlgorithm: 'sha1', dataBlockSize: 512, hashBlockSize: 512 });
      const path = join(dir, 't0.data');
      await writeFile(path, bytes(400 * 512, 't0'));
      const formatted = await format(path, join(dir, 't0.hash'), { params: t0 });
      const corrupted = bytes(400 * 512, 't0');
      corrupted[333 * 512 + 9]! ^= 4;
      await writeFile(path, corrupted);
      const peer = await runVeritysetup(['verify', path, join(dir, 't0.hash'), formatted.rootHashHex]);
      assert.match(peer.stderr, new RegExp(`Verification failed at position ${333 * 512}\\.`));
      const ours = await verify(path, join(dir, 't0.hash'), formatted.rootHash);
      assert.deepEqual(!ours.ok && ours.failure, { kind: 'data', dataBlock: 333, dataOffset: 333 * 512, corruptedDataBlocks: 1 });
    });
  });
});

describe('computeRootHash', { skip }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-root-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('when computing the delivery-kit root hash of a layer file', () => {
    it('equals what veritysetup format prints, and writes nothing', async () => {
      const data = join(dir, 'layer.erofs');
      await writeFile(data, bytes(1000 * 4096, 'layer'));
      const run = await runVeritysetup(['format', data, join(dir, 'peer.hash'), `--salt=${DELIVERY_KIT_PARAMS.salt.toString('hex')}`]);
      const before = (await readdir(dir)).sort();
      for (const path of PATHS) {
        const root = await computeRootHash(data, DELIVERY_KIT_PARAMS, path.read);
        assert.equal(root.toString('hex'), rootHashFromOutput(run.stdout), path.name);
      }
      assert.deepEqual((await readdir(dir)).sort(), before);
    });
  });

  describe('when a caller budgets reads', () => {
    it('calls beforeRead before every chunk, for all the data bytes', async () => {
      const data = join(dir, 'budget.img');
      await writeFile(data, bytes(100 * 4096 + 10, 'budget'));
      for (const path of PATHS) {
        const calls: number[] = [];
        await computeRootHash(data, params(), { ...path.read, chunkBytes: 16 * 4096, beforeRead: async (n) => void calls.push(n) });
        assert.equal(calls.reduce((a, b) => a + b, 0), 100 * 4096, path.name);
        assert.equal(calls.length, 7, path.name);
      }
    });
  });

  describe('when the tree was appended to the layer file (containerd 2.3 layout)', () => {
    it('covers only the data blocks it is told to', async () => {
      const data = join(dir, 'appended.erofs');
      await writeFile(data, bytes(64 * 4096, 'appended'));
      const plain = await computeRootHash(data, params());
      await format(data, data, { params: params(), hashOffset: 64 * 4096 });
      assert.ok((await stat(data)).size > 64 * 4096);
      assert.deepEqual(await computeRootHash(data, params(), { dataBlocks: 64 }), plain);
    });
  });

  describe('when the signal is aborted', () => {
    it('stops with ABORTED', async () => {
      const data = join(dir, 'abort.img');
      await writeFile(data, bytes(64 * 4096, 'abort'));
      for (const path of PATHS) {
        const controller = new AbortController();
        let reads = 0;
        const beforeRead = async (): Promise<void> => {
          if (++reads === 3) controller.abort(new Error('operator stop'));
        };
        await assert.rejects(
          computeRootHash(data, params(), { ...path.read, chunkBytes: 4096, signal: controller.signal, beforeRead }),
          (err) => isLabError(err, 'ABORTED'),
          path.name,
        );
      }
    });
  });
});

describe('hashing threads', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-threads-'));
    await writeFile(join(dir, 'data'), bytes(8 * 1024 * 1024 + 4096, 'threads'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('when the calling thread and warm pooled workers share the chunks (the CLI default)', () => {
    it('gets the root the calling thread gets alone', async () => {
      const alone = await computeRootHash(join(dir, 'data'), params(), { concurrency: 1 });
      await computeRootHash(join(dir, 'data'), params(), { concurrency: 3, offload: true }); // warms the pool
      for (const chunkBytes of [4096, 64 * 1024]) {
        assert.deepEqual(await computeRootHash(join(dir, 'data'), params(), { concurrency: 3, chunkBytes }), alone, `chunkBytes ${chunkBytes}`);
      }
    });
  });

  describe('when the file shrinks while it is being read', () => {
    it('fails with READ_FAILED naming the offset and the shortfall, on either path', async () => {
      // Every chunk past the new end fails, on whichever thread reads it first;
      // the error names the earliest. Several rounds, since threads race.
      for (const path of [...PATHS, PATHS[1], PATHS[1], PATHS[1], PATHS[1]]) {
        const data = join(dir, 'shrinks');
        await writeFile(data, bytes(64 * 4096, 'shrinks'));
        await assert.rejects(
          computeRootHash(data, params(), { ...path.read, chunkBytes: 8 * 4096, beforeRead: () => truncate(data, 4096 + 100) }),
          (err) => isLabError(err, 'READ_FAILED') && /: expected 32768 bytes at offset 0, the file ended after 4196 \(did it change while being read\?\)$/.test(err.message),
          path.name,
        );
      }
    });
  });

  describe('when run by plain node, which strips the types (as bin/integrity-lab.mjs runs)', () => {
    it('runs the worker source assembled from the TypeScript functions', async () => {
      const alone = await computeRootHash(join(dir, 'data'), params({ hashType: 0 }), { concurrency: 1 });
      const script = [
        `import { computeRootHash, releaseHashWorkers } from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))};`,
        `const params = { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, salt: Buffer.from('5a17', 'hex'), hashType: 0 };`,
        `const root = await computeRootHash(${JSON.stringify(join(dir, 'data'))}, params, { concurrency: 2, chunkBytes: 65536, offload: true });`,
        `console.log(root.toString('hex'));`,
        `await releaseHashWorkers();`,
      ].join('\n');
      const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_OPTIONS: '' } });
      assert.equal(stdout.trim(), alone.toString('hex'));
    });
  });

  describe('when bundled by esbuild next to code with the same top-level names (as the node components are)', () => {
    it('runs the worker although the bundler renamed its functions', async () => {
      const alone = await computeRootHash(join(dir, 'data'), params(), { concurrency: 1 });
      // A module bundled before lab/verity that takes the worker's names: esbuild keeps
      // the first module's names and renames lab/verity's.
      await writeFile(join(dir, 'first.ts'), [
        "export const CONTROL = 'taken';",
        "export function hashChunk(): string { return 'taken'; }",
        "export function chunkBuffers(): string { return 'taken'; }",
        'console.error(CONTROL, hashChunk(), chunkBuffers());',
      ].join('\n'));
      const entry = join(dir, 'entry.ts');
      await writeFile(entry, [
        "import './first.ts';",
        `import { computeRootHash, releaseHashWorkers } from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))};`,
        `const params = { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, salt: Buffer.from('5a17', 'hex'), hashType: 1 } as const;`,
        `const root = await computeRootHash(${JSON.stringify(join(dir, 'data'))}, params, { concurrency: 2, chunkBytes: 65536, offload: true });`,
        `console.log(root.toString('hex'));`,
        `await releaseHashWorkers();`,
      ].join('\n'));
      const bundle = await bundleForNode(entry, 'verity-worker-test');
      try {
        const code = await readFile(bundle, 'utf8');
        assert.ok(/function hashChunk2\(/.test(code) && /CONTROL2 = \{/.test(code), 'precondition: esbuild renamed lab/verity\'s names');
        const { stdout } = await execFileAsync(process.execPath, [bundle]);
        assert.equal(stdout.trim(), alone.toString('hex'));
      } finally {
        await rm(bundle, { force: true }); // the bundle cache keys on content, and this entry differs per run
      }
    });
  });
});

describe('startEarlyHashThread', () => {
  const twoCores = availableParallelism() >= 2;

  describe('when the CLI started a hashing thread before its modules loaded', () => {
    it('the first call that wants a worker hashes with it, and gets the root the calling thread gets alone', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'verity-early-'));
      try {
        await writeFile(join(dir, 'data'), bytes(64 * 4096, 'early'));
        const alone = await computeRootHash(join(dir, 'data'), params(), { concurrency: 1 });
        await releaseHashWorkers();
        let started = 0;
        startEarlyHashThread(() => {
          started++;
          return startHashThread();
        });
        assert.equal(started, twoCores ? 1 : 0, 'one thread on two or more cores, none on one');
        const offloaded = await computeRootHash(join(dir, 'data'), params(), { concurrency: 1, chunkBytes: 4096, offload: true });
        assert.deepEqual(offloaded, alone);
        assert.equal(takeEarlyHashThread(), undefined, 'the early thread was handed out once, to that call');
      } finally {
        await releaseHashWorkers();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when the CLI decides from its arguments', () => {
    it('starts it only for a regular file that will be hashed on several threads', { skip: !twoCores && 'needs two cores' }, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'verity-early-args-'));
      try {
        await writeFile(join(dir, 'small'), bytes(PARALLEL_THRESHOLD_BYTES - 4096, 'small'));
        await writeFile(join(dir, 'large'), bytes(PARALLEL_THRESHOLD_BYTES, 'large'));
        const noNative = () => false;
        startEarlyHashThreadForLargeFile([join(dir, 'small'), join(dir, 'hash'), '--salt', 'ab', dir], noNative);
        assert.equal(takeEarlyHashThread(), undefined, 'no file of 8 MiB among the arguments');
        startEarlyHashThreadForLargeFile(['--salt', 'ab', join(dir, 'large'), join(dir, 'hash')], () => true);
        assert.equal(takeEarlyHashThread(), undefined, 'none when the native hasher is built: its threads start at once');
        startEarlyHashThreadForLargeFile(['--salt', 'ab', join(dir, 'large'), join(dir, 'hash')], noNative);
        const thread = takeEarlyHashThread();
        assert.ok(thread instanceof Worker, 'a thread for the 8 MiB file');
        await thread.terminate();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when the early thread died before a call took it', () => {
    it('is not handed out (the call starts its own), and its failure is not an uncaught error', { skip: !twoCores && 'needs two cores' }, async () => {
      let thread: Worker | undefined;
      startEarlyHashThread(() => (thread = new Worker('process.exit(3)', { eval: true })));
      const [code] = (await once(thread!, 'exit')) as [number];
      assert.equal(code, 3);
      assert.equal(takeEarlyHashThread(), undefined);
    });
  });
});

describe('releaseHashWorkers', () => {
  describe('when the pooled hashing threads are released between calls', () => {
    it('starts fresh ones on the next call and gets the same root', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'verity-pool-'));
      try {
        await writeFile(join(dir, 'data'), bytes(64 * 4096, 'pool'));
        const first = await computeRootHash(join(dir, 'data'), params(), { concurrency: 3, chunkBytes: 4096, offload: true });
        await releaseHashWorkers();
        const second = await computeRootHash(join(dir, 'data'), params(), { concurrency: 3, chunkBytes: 4096, offload: true });
        const inThread = await computeRootHash(join(dir, 'data'), params(), { concurrency: 1 });
        assert.deepEqual(second, first);
        assert.deepEqual(inThread, first);

        // Concurrent calls with different parameters each get their own workers.
        const variants = [params(), params({ hashType: 0 }), params({ hashAlgorithm: 'sha512', salt: Buffer.alloc(0) })];
        const parallel = await Promise.all(variants.map((v) => computeRootHash(join(dir, 'data'), v, { concurrency: 3, chunkBytes: 8192, offload: true })));
        const serial = await Promise.all(variants.map((v) => computeRootHash(join(dir, 'data'), v, { concurrency: 1 })));
        assert.deepEqual(parallel, serial);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('verifyAgainstRootHash', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-against-'));
    await writeFile(join(dir, 'layer'), bytes(50 * 4096, 'against'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('when the file still hashes to the signed root', () => {
    it('is ok', async () => {
      const root = await computeRootHash(join(dir, 'layer'), DELIVERY_KIT_PARAMS);
      assert.deepEqual(await verifyAgainstRootHash(join(dir, 'layer'), root.toString('hex'), DELIVERY_KIT_PARAMS), { ok: true });
    });
  });

  describe('when one byte of the file changed', () => {
    it('is not ok and reports the actual root', async () => {
      const root = await computeRootHash(join(dir, 'layer'), DELIVERY_KIT_PARAMS);
      const changed = bytes(50 * 4096, 'against');
      changed[12345]! ^= 1;
      await writeFile(join(dir, 'changed'), changed);
      const outcome = await verifyAgainstRootHash(join(dir, 'changed'), root, DELIVERY_KIT_PARAMS);
      assert.equal(outcome.ok, false);
      const actual = await computeRootHash(join(dir, 'changed'), DELIVERY_KIT_PARAMS);
      assert.equal(!outcome.ok && outcome.actualRoot, actual.toString('hex'));
      assert.match(!outcome.ok ? outcome.reason : '', /root hash mismatch/);
    });
  });

  describe('when the same layer is hashed with containerd\'s all-zero salt', () => {
    it('does not verify against the delivery-kit root', async () => {
      const root = await computeRootHash(join(dir, 'layer'), DELIVERY_KIT_PARAMS);
      const zeroSalt = { ...DELIVERY_KIT_PARAMS, salt: Buffer.alloc(32) };
      assert.equal((await verifyAgainstRootHash(join(dir, 'layer'), root, zeroSalt)).ok, false);
    });
  });

  describe('when the expected root is not a sha256 hex digest', () => {
    it('refuses with INVALID_ROOT_HASH before reading the file', async () => {
      await assert.rejects(verifyAgainstRootHash(join(dir, 'missing'), 'not-hex', DELIVERY_KIT_PARAMS), (err) => isLabError(err, 'INVALID_ROOT_HASH'));
    });
  });
});

describe('bad input', () => {
  let dir = '';
  let root = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-bad-'));
    await writeFile(join(dir, 'data'), bytes(200 * 4096, 'bad'));
    root = (await format(join(dir, 'data'), join(dir, 'hash'), { params: params() })).rootHashHex;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `work` in a fresh sub-directory and asserts it rejects with `code` and leaves exactly `keep` behind. */
  async function refuses(name: string, code: string, work: (d: string) => Promise<unknown>, setup?: (d: string) => Promise<void>) {
    const d = join(dir, name);
    await mkdir(d);
    await setup?.(d);
    const before = (await readdir(d)).sort();
    const contents = await Promise.all(before.map((f) => readFile(join(d, f))));
    await assert.rejects(work(d), (err) => {
      assert.ok(isLabError(err), `expected a LabError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      return true;
    });
    assert.deepEqual((await readdir(d)).sort(), before, 'no file added or removed (no partial output)');
    const after = await Promise.all(before.map((f) => readFile(join(d, f))));
    after.forEach((buf, i) => assert.ok(buf.equals(contents[i]!), `${before[i]} unchanged`));
  }

  const withData = async (d: string): Promise<void> => copyFile(join(dir, 'data'), join(d, 'data'));
  const withDataAndHash = async (d: string): Promise<void> => {
    await withData(d);
    await copyFile(join(dir, 'hash'), join(d, 'hash'));
  };

  describe('when formatting', () => {
    it('refuses a missing data file with DATA_FILE_UNREADABLE and creates no hash file', () =>
      refuses('missing-data', 'DATA_FILE_UNREADABLE', (d) => format(join(d, 'nope'), join(d, 'hash'), { params: params() })));
    it('refuses a directory as data file with DATA_FILE_UNREADABLE', () =>
      refuses('dir-data', 'DATA_FILE_UNREADABLE', (d) => format(d, join(d, 'hash'), { params: params() })));
    it('refuses a data block size of 1000 with INVALID_BLOCK_SIZE', () =>
      refuses('bs-1000', 'INVALID_BLOCK_SIZE', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params({ dataBlockSize: 1000 }) }), withData));
    it('refuses a hash block size of 1 MiB with INVALID_BLOCK_SIZE', () =>
      refuses('hbs-1m', 'INVALID_BLOCK_SIZE', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params({ hashBlockSize: 1 << 20 }) }), withData));
    it('refuses a 257-byte salt with INVALID_SALT', () =>
      refuses('salt', 'INVALID_SALT', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params({ salt: Buffer.alloc(257) }) }), withData));
    it('refuses a malformed UUID with INVALID_UUID', () =>
      refuses('uuid', 'INVALID_UUID', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params(), uuid: 'not-a-uuid' }), withData));
    it('refuses a hash offset of 100 with INVALID_HASH_OFFSET', () =>
      refuses('offset-100', 'INVALID_HASH_OFFSET', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params(), hashOffset: 100 }), withData));
    it('refuses a hash offset inside the data of the same file with HASH_OFFSET_OVERLAPS, leaving the file untouched', () =>
      refuses('overlap', 'HASH_OFFSET_OVERLAPS', (d) => format(join(d, 'data'), join(d, 'data'), { params: params(), hashOffset: 100 * 4096 }), withData));
    it('refuses more data blocks than the file holds with DATA_TOO_SMALL', () =>
      refuses('blocks', 'DATA_TOO_SMALL', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params(), dataBlocks: 201 }), withData));
    it('refuses zero data blocks with INVALID_DATA_BLOCKS', () =>
      refuses('blocks-0', 'INVALID_DATA_BLOCKS', (d) => format(join(d, 'data'), join(d, 'hash'), { params: params(), dataBlocks: 0 }), withData));
    it('reports a hash file in a missing directory as WRITE_FAILED', () =>
      refuses('no-dir', 'WRITE_FAILED', (d) => format(join(d, 'data'), join(d, 'sub', 'hash'), { params: params() }), withData));
    it('leaves an existing hash file untouched when aborted mid-way', () =>
      refuses('abort', 'ABORTED', (d) => {
        const controller = new AbortController();
        return format(join(d, 'data'), join(d, 'hash'), {
          params: params({ salt: Buffer.from('ff', 'hex') }),
          chunkBytes: 4096,
          signal: controller.signal,
          beforeRead: async () => controller.abort(new Error('stop')),
        });
      }, withDataAndHash));
    it('leaves nothing behind when a read budget fails', () =>
      refuses('budget', 'ABORTED', (d) => {
        const controller = new AbortController();
        let n = 0;
        return format(join(d, 'data'), join(d, 'hash'), {
          params: params(),
          concurrency: 2,
          chunkBytes: 4096,
          signal: controller.signal,
          beforeRead: async () => {
            if (++n === 50) controller.abort(new Error('budget exhausted'));
          },
        });
      }, withData));
  });

  describe('when verifying', () => {
    it('refuses a hash file truncated inside the tree with HASH_FILE_TRUNCATED', () =>
      refuses('trunc-tree', 'HASH_FILE_TRUNCATED', (d) => verify(join(d, 'data'), join(d, 'hash'), root), async (d) => {
        await withDataAndHash(d);
        await truncate(join(d, 'hash'), 4096 + 100);
      }));
    it('refuses a hash file truncated inside the superblock with HASH_FILE_TRUNCATED', () =>
      refuses('trunc-sb', 'HASH_FILE_TRUNCATED', (d) => verify(join(d, 'data'), join(d, 'hash'), root), async (d) => {
        await withDataAndHash(d);
        await truncate(join(d, 'hash'), 300);
      }));
    it('refuses a hash file without superblock signature with SUPERBLOCK_MISSING', () =>
      refuses('no-sb', 'SUPERBLOCK_MISSING', (d) => verify(join(d, 'data'), join(d, 'hash'), root), async (d) => {
        await withData(d);
        await writeFile(join(d, 'hash'), Buffer.alloc(8192));
      }));
    it('refuses a missing hash file with HASH_FILE_UNREADABLE', () =>
      refuses('no-hash', 'HASH_FILE_UNREADABLE', (d) => verify(join(d, 'data'), join(d, 'hash'), root), withData));
    it('refuses a missing data file with DATA_FILE_UNREADABLE', () =>
      refuses('no-data', 'DATA_FILE_UNREADABLE', (d) => verify(join(d, 'gone'), join(d, 'hash'), root), withDataAndHash));
    it('refuses a root hash that is not hex with INVALID_ROOT_HASH', () =>
      refuses('root-hex', 'INVALID_ROOT_HASH', (d) => verify(join(d, 'data'), join(d, 'hash'), 'zz' + root.slice(2)), withDataAndHash));
    it('refuses a root hash of the wrong length with INVALID_ROOT_HASH', () =>
      refuses('root-len', 'INVALID_ROOT_HASH', (d) => verify(join(d, 'data'), join(d, 'hash'), root.slice(0, 40)), withDataAndHash));
    it('refuses --no-superblock without parameters with PARAMS_REQUIRED', () =>
      refuses('no-params', 'PARAMS_REQUIRED', (d) => verify(join(d, 'data'), join(d, 'hash'), root, { noSuperblock: true }), withDataAndHash));
    it('refuses parameters that contradict the superblock with SUPERBLOCK_MISMATCH', () =>
      refuses('mismatch', 'SUPERBLOCK_MISMATCH', (d) => verify(join(d, 'data'), join(d, 'hash'), root, { params: params({ salt: Buffer.alloc(32) }) }), withDataAndHash));
    it('refuses a data file shorter than the superblock says with DATA_TOO_SMALL', () =>
      refuses('short-data', 'DATA_TOO_SMALL', (d) => verify(join(d, 'data'), join(d, 'hash'), root), async (d) => {
        await withDataAndHash(d);
        await truncate(join(d, 'data'), 100 * 4096);
      }));
  });
});
