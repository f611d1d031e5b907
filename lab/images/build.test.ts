import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildImage, buildTar, deterministicBytes } from './index.ts';

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
  describe('when the content changes', () => {
    it('changes the digest', async () => {
      const other = { ...spec, layers: [spec.layers[0]!, { files: [{ path: '/app/message', content: 'hellO\n' }] }] };
      assert.notEqual((await buildImage(spec, fakeBusybox)).manifestDigest, (await buildImage(other, fakeBusybox)).manifestDigest);
    });
  });
});

describe('deterministicBytes', () => {
  it('is stable per seed and differs across seeds', () => {
    assert.deepEqual(deterministicBytes('a', 64), deterministicBytes('a', 64));
    assert.notDeepEqual(deterministicBytes('a', 64), deterministicBytes('b', 64));
  });
});
