import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { sha256Digest } from './encoding.ts';
import { MEDIA_TYPES } from './manifest.ts';
import { RegistryClient, parseRepositoryReference } from './registry.ts';
import { startFakeRegistry } from './test-registry.ts';
import type { FakeRegistry } from './test-registry.ts';

let registry: FakeRegistry;
let client: RegistryClient;
before(async () => {
  registry = await startFakeRegistry();
  client = new RegistryClient(registry.url);
});
after(() => registry.close());
beforeEach(() => registry.reset());

describe('RegistryClient.putBlob', () => {
  describe('when the blob is new', () => {
    it('checks with HEAD, then POSTs and PUTs with ?digest=', async () => {
      const bytes = Buffer.from('layer bytes');
      assert.equal(await client.putBlob('lab/app', bytes), sha256Digest(bytes));
      assert.deepEqual(registry.requests.map((r) => r.method), ['HEAD', 'POST', 'PUT']);
      assert.equal(registry.requests[2]?.contentType, 'application/octet-stream');
      assert.deepEqual(registry.blobs.get(sha256Digest(bytes)), bytes);
    });
  });

  describe('when the registry already has it', () => {
    it('only asks with HEAD', async () => {
      await client.putBlob('lab/app', Buffer.from('again'));
      registry.requests.length = 0;
      await client.putBlob('lab/app', Buffer.from('again'));
      assert.deepEqual(registry.requests.map((r) => r.method), ['HEAD']);
    });
  });

  describe('when the upload Location carries its own query', () => {
    it('keeps it and adds digest', async () => {
      registry.evil.uploadLocationWithQuery = true;
      const bytes = Buffer.from('with state');
      assert.equal(await client.putBlob('lab/app', bytes), sha256Digest(bytes));
    });
  });
});

describe('RegistryClient.getBlob', () => {
  describe('when the registry returns the right bytes', () => {
    it('returns them', async () => {
      const bytes = Buffer.from('blob');
      await client.putBlob('lab/app', bytes);
      assert.deepEqual(await client.getBlob('lab/app', sha256Digest(bytes)), bytes);
      assert.equal(await client.hasBlob('lab/app', sha256Digest(Buffer.from('absent'))), false);
    });
  });

  describe('when the registry returns other bytes', () => {
    it('throws REGISTRY_DIGEST_MISMATCH', async () => {
      const bytes = Buffer.from('honest');
      await client.putBlob('lab/app', bytes);
      registry.evil.wrongBlobBytes = true;
      await assert.rejects(client.getBlob('lab/app', sha256Digest(bytes)), (e) => isLabError(e, 'REGISTRY_DIGEST_MISMATCH'));
    });
  });

  describe('when the registry redirects to another origin', () => {
    it('refuses to follow', async () => {
      const bytes = Buffer.from('redirected');
      await client.putBlob('lab/app', bytes);
      registry.evil.redirectElsewhere = true;
      await assert.rejects(client.getBlob('lab/app', sha256Digest(bytes)), (e) => isLabError(e, 'REGISTRY_HTTP_ERROR') && /another origin/.test(e.message));
    });
  });
});

describe('RegistryClient manifests', () => {
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest }));

  describe('when a manifest is pushed under a tag and fetched back', () => {
    it('sends Content-Type, asks with Accept, and returns the digest of the bytes', async () => {
      const digest = await client.putManifest('lab/app', 'v1', manifest, MEDIA_TYPES.ociManifest);
      assert.equal(digest, sha256Digest(manifest));
      assert.equal(registry.requests.at(-1)?.contentType, MEDIA_TYPES.ociManifest);
      const byTag = await client.getManifest('lab/app', 'v1');
      assert.match(registry.requests.at(-1)?.accept ?? '', /application\/vnd\.oci\.image\.manifest\.v1\+json.*application\/vnd\.docker\.distribution\.manifest\.v2\+json/);
      assert.deepEqual(byTag.bytes, manifest);
      assert.equal(byTag.digest, digest);
      assert.equal(byTag.mediaType, MEDIA_TYPES.ociManifest);
      assert.deepEqual((await client.getManifest('lab/app', digest)).bytes, manifest);
    });
  });

  describe('when the registry serves other bytes for a digest', () => {
    it('throws REGISTRY_DIGEST_MISMATCH', async () => {
      const digest = await client.putManifest('lab/app', 'v2', manifest, MEDIA_TYPES.ociManifest);
      registry.evil.wrongManifestBytes = true;
      await assert.rejects(client.getManifest('lab/app', digest), (e) => isLabError(e, 'REGISTRY_DIGEST_MISMATCH'));
      await assert.rejects(client.getManifest('lab/app', 'v2'), (e) => isLabError(e, 'REGISTRY_DIGEST_MISMATCH') && /Docker-Content-Digest/.test(e.message));
    });
  });

  describe('when the tag does not exist', () => {
    it('throws REGISTRY_NOT_FOUND with the status and body', async () => {
      await assert.rejects(client.getManifest('lab/app', 'nope'), (e) => isLabError(e, 'REGISTRY_NOT_FOUND') && /answered 404/.test(e.message) && /MANIFEST_UNKNOWN/.test(e.message));
    });
  });

  describe('when the repository name would escape the path', () => {
    it('throws REGISTRY_BAD_REFERENCE before any request', async () => {
      await assert.rejects(client.getManifest('../../etc', 'v1'), (e) => isLabError(e, 'REGISTRY_BAD_REFERENCE'));
      assert.equal(registry.requests.length, 0);
    });
  });
});

describe('RegistryClient', () => {
  describe('when the registry is not listening', () => {
    it('throws REGISTRY_UNREACHABLE', async () => {
      const dead = new RegistryClient('http://127.0.0.1:9', { timeoutMs: 5000 });
      await assert.rejects(dead.hasBlob('lab/app', sha256Digest('x')), (e) => isLabError(e, 'REGISTRY_UNREACHABLE'));
    });
  });

  describe('when the base URL is not http(s)', () => {
    it('throws REGISTRY_BAD_URL', () => {
      assert.throws(() => new RegistryClient('file:///etc'), (e) => isLabError(e, 'REGISTRY_BAD_URL'));
      assert.throws(() => new RegistryClient('http://user:pw@127.0.0.1:5000'), (e) => isLabError(e, 'REGISTRY_BAD_URL'));
    });
  });
});

describe('parseRepositoryReference', () => {
  describe('when given repo, repo:tag or repo@digest', () => {
    it('splits them, defaulting the tag to latest', () => {
      assert.deepEqual(parseRepositoryReference('lab/app'), { repository: 'lab/app', reference: 'latest' });
      assert.deepEqual(parseRepositoryReference('lab/app:1.0'), { repository: 'lab/app', reference: '1.0' });
      const d = sha256Digest('m');
      assert.deepEqual(parseRepositoryReference(`lab/app@${d}`), { repository: 'lab/app', reference: d });
    });
  });
  describe('when the reference is malformed', () => {
    it('throws REGISTRY_BAD_REFERENCE', () => {
      assert.throws(() => parseRepositoryReference('Lab/App:1'), (e) => isLabError(e, 'REGISTRY_BAD_REFERENCE'));
      assert.throws(() => parseRepositoryReference('lab/app@sha256:short'), (e) => isLabError(e, 'REGISTRY_BAD_REFERENCE'));
    });
  });
});
