import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { assembleImage, buildImage, buildTar, deterministicBytes, GzipMemo, sha256Digest } from './index.ts';

const fakeBusybox = { busybox: async () => Buffer.from('#!busybox\n') };
const spec = {
  repository: 'lab/app',
  tag: '1.0',
  layers: [{ busybox: true }, { files: [{ path: '/app/message', content: 'hello\n' }] }],
  entrypoint: ['/bin/sh'],
};

describe('buildTar', () => {
  it('writes an archive GNU tar lists with parents, modes and links', async () => {
    const tar = buildTar([
      { type: 'file', path: '/app/deep/file.txt', content: Buffer.from('x'), mode: 0o600 },
      { type: 'symlink', path: '/bin/sh', target: 'busybox' },
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'il-tar-'));
    try {
      await writeFile(join(dir, 't.tar'), tar);
      const listing = execFileSync('tar', ['-tvf', join(dir, 't.tar')], { encoding: 'utf8' });
      assert.match(listing, /^drwxr-xr-x 0\/0 +0 1970-01-01 00:00 app\/$/m);
      assert.match(listing, /^-rw------- 0\/0 +1 1970-01-01 00:00 app\/deep\/file\.txt$/m);
      assert.match(listing, /^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00 bin\/sh -> busybox$/m);
      execFileSync('tar', ['-xf', join(dir, 't.tar'), '-C', dir]);
      assert.equal(execFileSync('cat', [join(dir, 'app/deep/file.txt')], { encoding: 'utf8' }), 'x');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  describe('when a path escapes the root', () => {
    it('refuses it', () => {
      assert.throws(() => buildTar([{ type: 'dir', path: '/a/../../etc' }]), /must not contain/);
    });
  });
});

describe('buildImage', () => {
  it('gives the same digests for the same spec', async () => {
    const a = await buildImage(spec, fakeBusybox);
    const b = await buildImage(spec, fakeBusybox);
    assert.equal(a.manifestDigest, b.manifestDigest);
    assert.equal(a.manifest.layers.length, 2);
  });
  it('records diff ids of the uncompressed layers in the config', async () => {
    const img = await buildImage(spec, fakeBusybox);
    const config = JSON.parse(img.blobs.get(img.manifest.config.digest)!.toString());
    const layer0 = gunzipSync(img.blobs.get(img.manifest.layers[0]!.digest)!);
    assert.deepEqual(layer0, img.layerTars[0]);
    assert.equal(config.rootfs.diff_ids.length, 2);
    assert.notEqual(config.rootfs.diff_ids[0], img.manifest.layers[0]!.digest);
  });
  it("puts the spec's user in the config as User, and nothing where it names none", async () => {
    const configOf = async (s: typeof spec & { user?: string }) => {
      const img = await buildImage(s, fakeBusybox);
      return JSON.parse(img.blobs.get(img.manifest.config.digest)!.toString()).config;
    };
    assert.equal((await configOf({ ...spec, user: 'agent' })).User, 'agent');
    assert.equal('User' in (await configOf(spec)), false);
  });
  describe('when the content changes', () => {
    it('changes the digest', async () => {
      const other = { ...spec, layers: [spec.layers[0]!, { files: [{ path: '/app/message', content: 'hellO\n' }] }] };
      assert.notEqual((await buildImage(spec, fakeBusybox)).manifestDigest, (await buildImage(other, fakeBusybox)).manifestDigest);
    });
  });
});

describe('GzipMemo', () => {
  const tarOf = (seed: string, size: number) => buildTar([{ type: 'file', path: '/data', content: deterministicBytes(seed, size) }]);

  it('gives the bytes a fresh gzip gives, and the same image digests with or without it', () => {
    const memo = new GzipMemo(1024 * 1024);
    const tar = tarOf('a', 4096);
    const first = memo.gzip(tar, sha256Digest(tar));
    const again = memo.gzip(tar, sha256Digest(tar));
    assert.deepEqual(first, gzipSync(tar, { level: 6 }));
    assert.deepEqual(again, first);
    assert.deepEqual(memo.size, { layers: 1, bytes: first.length });
    const recipe = { repository: 'lab/app', tag: '1', layers: [[{ type: 'file' as const, path: '/x', content: Buffer.from('x') }]] };
    assert.equal(assembleImage(recipe, memo).manifestDigest, assembleImage(recipe, new GzipMemo(0)).manifestDigest);
  });

  describe('when a caller edits the blob it was given', () => {
    it('does not change what the next build gets', () => {
      const memo = new GzipMemo(1024 * 1024);
      const tar = tarOf('b', 4096);
      const mine = memo.gzip(tar, sha256Digest(tar));
      mine.fill(0);
      memo.gzip(tar, sha256Digest(tar)).fill(1);
      assert.deepEqual(memo.gzip(tar, sha256Digest(tar)), gzipSync(tar, { level: 6 }));
    });
  });

  describe('when the layers exceed its bound', () => {
    it('drops the least recently used and never keeps more bytes than the bound', () => {
      const seeds = ['c', 'd', 'e', 'f', 'g'];
      const tars = new Map(seeds.map((seed) => [seed, tarOf(seed, 8192)]));
      const one = gzipSync(tars.get('c')!, { level: 6 }).length;
      const memo = new GzipMemo(Math.floor(one * 4.5));
      for (const seed of ['c', 'd', 'e', 'f']) memo.gzip(tars.get(seed)!, seed);
      assert.equal(memo.size.layers, 4);
      memo.gzip(tars.get('c')!, 'c'); // a hit: c is now the newest, d the oldest
      assert.equal(memo.size.layers, 4);
      memo.gzip(tars.get('g')!, 'g'); // over the bound: d goes
      assert.deepEqual(seeds.filter((seed) => memo.has(seed)), ['c', 'e', 'f', 'g']);
      assert.ok(memo.size.bytes <= memo.maxBytes, `${memo.size.bytes} > ${memo.maxBytes}`);
      const kept = memo.size.bytes;
      memo.gzip(tars.get('c')!, 'c'); // still kept: nothing changes
      assert.equal(memo.size.bytes, kept);
      memo.gzip(tars.get('d')!, 'd'); // d was dropped: compressed again, and e (now the oldest) goes
      assert.deepEqual(seeds.filter((seed) => memo.has(seed)), ['c', 'd', 'f', 'g']);
      assert.ok(memo.size.bytes <= memo.maxBytes);
    });
  });

  describe('when one layer is over a quarter of the bound', () => {
    it('compresses it without keeping it', () => {
      const memo = new GzipMemo(1000);
      const tar = tarOf('f', 8192);
      assert.deepEqual(memo.gzip(tar, 'f'), gzipSync(tar, { level: 6 }));
      assert.deepEqual(memo.size, { layers: 0, bytes: 0 });
    });
  });
});

describe('deterministicBytes', () => {
  it('is stable per seed and differs across seeds', () => {
    assert.deepEqual(deterministicBytes('a', 64), deterministicBytes('a', 64));
    assert.notDeepEqual(deterministicBytes('a', 64), deterministicBytes('b', 64));
  });
});
