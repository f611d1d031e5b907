import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveTag, matchesReferencePattern, normalisePatternPrefix, parseImageReference, parseRepositoryPrefix, underRepositoryPrefix } from './image.ts';

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

describe('underRepositoryPrefix', () => {
  describe('when the prefix is a registry (the seed writes no trailing slash)', () => {
    it('admits that registry and refuses a host that only starts with the same text', () => {
      assert.equal(underRepositoryPrefix('registry.deckhouse.io', 'registry.deckhouse.io/miner:1.0'), true);
      assert.equal(underRepositoryPrefix('registry.deckhouse.io', 'registry.deckhouse.io.evil.example/miner:1.0'), false);
      assert.equal(underRepositoryPrefix('registry.deckhouse.io', 'registry.deckhouse.io:5000/miner:1.0'), false);
    });
  });
  describe('when the prefix has path segments', () => {
    it('matches whole segments only', () => {
      assert.equal(underRepositoryPrefix('r.io/team', 'r.io/team/app:1'), true);
      assert.equal(underRepositoryPrefix('r.io/team/', 'r.io/team/app:1'), true);
      assert.equal(underRepositoryPrefix('r.io/team', 'r.io/team:1'), true);
      assert.equal(underRepositoryPrefix('r.io/team', 'r.io/teamx/app:1'), false);
    });
  });
  describe('when the image names the registry another way the runtime resolves alike', () => {
    it('normalises case, the default port and Docker Hub aliases', () => {
      assert.equal(underRepositoryPrefix('registry.deckhouse.io', 'REGISTRY.Deckhouse.io:443/x:1'), true);
      assert.equal(underRepositoryPrefix('docker.io/library', 'nginx:1.25'), true);
      assert.equal(underRepositoryPrefix('nginx', 'index.docker.io/library/nginx:1.25'), true);
    });
  });
  describe('when the prefix or the image cannot be read', () => {
    it('matches nothing', () => {
      assert.equal(underRepositoryPrefix('registry.example.com/*', 'registry.example.com/x:1'), false);
      assert.equal(underRepositoryPrefix('registry.example.com', 'registry.example.com/X:1'), false);
      assert.equal(parseRepositoryPrefix(''), undefined);
    });
  });
});

describe('matchesReferencePattern', () => {
  describe('when the image spells the registry differently from the pattern', () => {
    it('still falls under it: host case, explicit :443, Docker Hub aliases', () => {
      assert.equal(matchesReferencePattern('registry.example.com/labs/*', 'REGISTRY.EXAMPLE.COM/labs/app:1'), true);
      assert.equal(matchesReferencePattern('registry.example.com/labs/*', 'registry.example.com:443/labs/app:1'), true);
      assert.equal(matchesReferencePattern('docker.io/myrepo/*', 'registry-1.docker.io/myrepo/app:1'), true);
      assert.equal(matchesReferencePattern('docker.io/myrepo/*', 'myrepo/app:1'), true);
      assert.equal(matchesReferencePattern('company.registry.com/nginx', 'Company.Registry.com:443/nginx:1.25'), true);
    });
  });
  describe('when the image is elsewhere', () => {
    it('does not fall under it', () => {
      assert.equal(matchesReferencePattern('registry.example.com/labs/*', 'registry.example.com:5000/labs/app:1'), false);
      assert.equal(matchesReferencePattern('company.registry.com/nginx', 'company.registry.com/nginx-other:1'), false);
      assert.equal(matchesReferencePattern('company.registry.com/nginx:1.25', 'company.registry.com/nginx:1.26'), false);
    });
  });
  describe('when the image or the pattern cannot be normalised', () => {
    it('says so (undefined), so that the caller refuses', () => {
      assert.equal(matchesReferencePattern('registry.example.com/*', 'registry.example.com/Labs/app:1'), undefined);
      assert.equal(matchesReferencePattern('registry.exa*', 'registry.example.com/labs/app:1'), undefined);
      assert.equal(normalisePatternPrefix('REGISTRY.example.com:443/labs/'), 'registry.example.com/labs/');
    });
  });
});
