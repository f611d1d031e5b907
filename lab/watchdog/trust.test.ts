import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pairLayers } from './trust.ts';
import { sample } from './test-samples.ts';

const hashes = ['11'.repeat(32), '22'.repeat(32)];
const signed = { ok: true as const, rootHashes: hashes, layerDigests: ['sha256:base', 'sha256:app'], format: 'v2', manifestDigest: 'sha256:m' };

describe('pairLayers', () => {
  describe('when a gated rootfs has the standard layer over two image layers', () => {
    it('pairs the manifest (base first) with the lowerdirs (top first), standard layer with its pinned hash', () => {
      const { expectation } = sample('integrity', 'system-agent');
      const t = pairLayers(expectation.rootfs.layers, signed, 'ff'.repeat(32));
      assert.ok(t.ok);
      // The gate mounted the base layer from loop0, the app layer from loop1, the standard layer from loop2.
      assert.deepEqual(t.layers.map((l) => [l.file, l.digest]), [
        ['/dev/loop2', 'standard-layer'],
        ['/dev/loop0', 'sha256:base'],
        ['/dev/loop1', 'sha256:app'],
      ]);
    });
    it('refuses when the node pins no root hash for the standard layer', () => {
      const t = pairLayers(sample('integrity', 'system-agent').expectation.rootfs.layers, signed);
      assert.equal(t.ok, false);
    });
  });
  describe('when the rootfs and the manifest disagree on the number of layers', () => {
    it('says so', () => {
      const t = pairLayers(sample('vanilla', 'system-agent').expectation.rootfs.layers, { ...signed, rootHashes: [hashes[0]!], layerDigests: ['sha256:base'] });
      assert.deepEqual(t, { ok: false, reason: 'the rootfs has 2 image layers, the signed manifest 1' });
    });
  });
  describe('when the image is not validly signed', () => {
    it('passes the reason on', () => {
      assert.deepEqual(pairLayers([], { ok: false, reason: 'MISSING_SIGNATURE: x' }), { ok: false, reason: 'MISSING_SIGNATURE: x' });
    });
  });
});
