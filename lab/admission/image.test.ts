import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveTag, parseImageReference } from './image.ts';

describe('parseImageReference', () => {
  describe('when the reference is a Docker Hub short name', () => {
    it('normalises it the way docker does', () => {
      const r = parseImageReference('nginx');
      assert.equal(r?.normalized, 'docker.io/library/nginx:latest');
      assert.equal(r?.implicitLatest, true);
      assert.equal(parseImageReference('bitnami/nginx:1.2')?.normalized, 'docker.io/bitnami/nginx:1.2');
    });
  });

  describe('when the reference has a registry with a port, a tag and a digest', () => {
    it('splits every part', () => {
      const d = 'sha256:' + 'a'.repeat(64);
      const r = parseImageReference(`registry.lab:5000/d8/agent:v1@${d}`);
      assert.deepEqual(
        { domain: r?.domain, path: r?.path, tag: r?.tag, digest: r?.digest, latest: r?.implicitLatest },
        { domain: 'registry.lab:5000', path: 'd8/agent', tag: 'v1', digest: d, latest: false },
      );
      assert.equal(effectiveTag(parseImageReference(`registry.lab/agent@${d}`)!), undefined);
    });
  });

  describe('when the reference is not valid', () => {
    it('returns undefined instead of throwing', () => {
      for (const bad of ['', ' nginx', 'UPPER/case', 'nginx:tag with space', 'a@sha256:zz', 'x'.repeat(5000), 'reg.io//double']) {
        assert.equal(parseImageReference(bad), undefined, bad);
      }
    });
  });
});
