import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import {
  COSIGN_PAYLOAD_MEDIA_TYPE, COSIGN_SIGNATURE_ANNOTATION, buildCosignSignatureImage, cosignPayload, cosignSignPayload,
  cosignSignatureTag, cosignVerify, fetchCosignSignatures, pushCosignSignature, verifyCosignImage,
} from './cosign.ts';
import { sha256Digest } from './encoding.ts';
import { generateKey } from './pki.ts';
import type { PrivateKey } from './pki.ts';
import { RegistryClient } from './registry.ts';
import { startFakeRegistry } from './test-registry.ts';
import type { FakeRegistry } from './test-registry.ts';

const IMAGE = 'sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6';

let key: PrivateKey;
let otherKey: PrivateKey;
before(async () => {
  key = await generateKey();
  otherKey = await generateKey();
});

describe('cosignPayload', () => {
  describe('when given a repository and digest', () => {
    it("is byte for byte what cosign prints for `cosign verify` of localhost:5000/my_probe", () => {
      // Output of a real `cosign verify` (quoted in a public tutorial), which marshals the same struct cosign signed.
      assert.equal(
        cosignPayload('localhost:5000/my_probe', IMAGE).toString('utf8'),
        '{"critical":{"identity":{"docker-reference":"localhost:5000/my_probe"},"image":{"docker-manifest-digest":"sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6"},"type":"cosign container image signature"},"optional":null}',
      );
    });
  });

  describe('when given -a annotations', () => {
    it('writes them sorted, with Go\'s HTML escapes', () => {
      assert.match(cosignPayload('r/x', IMAGE, { z: '1', a: '<&>' }).toString(), /"optional":\{"a":"\\u003c\\u0026\\u003e","z":"1"\}\}$/);
    });
  });
});

describe('cosignSignatureTag', () => {
  describe('when given an image digest', () => {
    it('replaces ":" with "-" and appends .sig', () => {
      assert.equal(cosignSignatureTag(IMAGE), 'sha256-7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6.sig');
    });
  });
});

describe('cosignVerify', () => {
  const payload = (): Buffer => cosignPayload('127.0.0.1:5000/lab/app', IMAGE);

  describe('when the signature, key and digest match', () => {
    it('is ok and reports the claimed reference', async () => {
      const result = cosignVerify(payload(), await cosignSignPayload(payload(), key), key.publicKeyPem(), IMAGE);
      assert.equal(result.ok, true, JSON.stringify(result.findings));
      assert.equal(result.dockerReference, '127.0.0.1:5000/lab/app');
    });

    it('produces signatures openssl verifies (same scheme as cosign: ECDSA-SHA256, DER)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'signer-test-'));
      try {
        await writeFile(join(dir, 'pub'), key.publicKeyPem());
        await writeFile(join(dir, 'payload'), payload());
        await writeFile(join(dir, 'sig'), Buffer.from(await cosignSignPayload(payload(), key), 'base64'));
        assert.match(execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'pub'), '-signature', join(dir, 'sig'), join(dir, 'payload')], { encoding: 'utf8' }), /Verified OK/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('accepts a signature made by openssl (a different signer implementation)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'signer-test-'));
      try {
        execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'k')]);
        const pub = execFileSync('openssl', ['ec', '-in', join(dir, 'k'), '-pubout'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        await writeFile(join(dir, 'payload'), payload());
        const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', join(dir, 'k'), join(dir, 'payload')]);
        assert.equal(cosignVerify(payload(), sig.toString('base64'), pub, IMAGE).ok, true);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when another key signed', () => {
    it('fails with SIGNATURE_INVALID', async () => {
      const result = cosignVerify(payload(), await cosignSignPayload(payload(), otherKey), key.publicKeyPem(), IMAGE);
      assert.deepEqual(result.findings.map((f) => f.code), ['SIGNATURE_INVALID']);
    });
  });

  describe('when the signed payload names another image', () => {
    it('fails with MANIFEST_DIGEST_MISMATCH', async () => {
      const other = sha256Digest('other image');
      const result = cosignVerify(payload(), await cosignSignPayload(payload(), key), key.publicKeyPem(), other);
      assert.deepEqual(result.findings.map((f) => f.code), ['MANIFEST_DIGEST_MISMATCH']);
    });
  });

  describe('when a signed payload is not a cosign claim', () => {
    it('fails with COSIGN_PAYLOAD_INVALID', async () => {
      const bogus = Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': IMAGE }, type: 'atomic container signature' } }));
      const result = cosignVerify(bogus, await cosignSignPayload(bogus, key), key.publicKeyPem(), IMAGE);
      assert.deepEqual(result.findings.map((f) => f.code), ['COSIGN_PAYLOAD_INVALID']);
    });
  });

  describe('when field names differ in case, as Go tolerates', () => {
    it('accepts them as cosign would', async () => {
      const mixed = Buffer.from(`{"Critical":{"Image":{"Docker-manifest-digest":"${IMAGE}"},"Type":"cosign container image signature"},"Optional":null}`);
      assert.equal(cosignVerify(mixed, await cosignSignPayload(mixed, key), key.publicKeyPem(), IMAGE).ok, true);
    });
  });

  describe('when the signature is not base64', () => {
    it('fails with BAD_BASE64', () => {
      assert.deepEqual(cosignVerify(payload(), 'MEU!', key.publicKeyPem(), IMAGE).findings.map((f) => f.code), ['BAD_BASE64']);
    });
  });

  describe('when the public key is not ECDSA P-256', () => {
    it('throws COSIGN_BAD_KEY', () => {
      const rsa = execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const rsaPub = execFileSync('openssl', ['pkey', '-pubout'], { input: rsa, encoding: 'utf8' });
      assert.throws(() => cosignVerify(payload(), 'AAAA', rsaPub, IMAGE), (e) => isLabError(e, 'COSIGN_BAD_KEY'));
      assert.throws(() => cosignVerify(payload(), 'AAAA', 'not a key', IMAGE), (e) => isLabError(e, 'COSIGN_BAD_KEY'));
    });
  });
});

describe('buildCosignSignatureImage', () => {
  describe('when given one signature', () => {
    it('lays it out like cosign: OCI manifest, payload layer with the signature annotation, config with diff_ids', () => {
      const payload = cosignPayload('127.0.0.1:5000/lab/app', IMAGE);
      const image = buildCosignSignatureImage([{ payload, signatureB64: 'MEUCIQ==' }]);
      const manifest = JSON.parse(image.manifestBytes.toString()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(manifest), ['schemaVersion', 'mediaType', 'config', 'layers']);
      assert.deepEqual(image.manifest.layers, [{ mediaType: COSIGN_PAYLOAD_MEDIA_TYPE, size: payload.length, digest: sha256Digest(payload), annotations: { [COSIGN_SIGNATURE_ANNOTATION]: 'MEUCIQ==' } }]);
      assert.equal(image.config.toString(), `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["${sha256Digest(payload)}"]},"config":{}}`);
      assert.equal(image.manifest.config.digest, sha256Digest(image.config));
    });
  });
});

describe('pushCosignSignature', () => {
  let registry: FakeRegistry;
  let client: RegistryClient;
  before(async () => {
    registry = await startFakeRegistry();
    client = new RegistryClient(registry.url);
  });
  after(() => registry.close());

  describe('when two keys sign the same image in turn', () => {
    it('keeps both signatures under the .sig tag, and either key verifies', async () => {
      const payload = cosignPayload(`${new URL(registry.url).host}/lab/app`, IMAGE);
      const first = await pushCosignSignature(client, 'lab/app', IMAGE, { payload, signatureB64: await cosignSignPayload(payload, key) });
      assert.equal(first.tag, cosignSignatureTag(IMAGE));
      await pushCosignSignature(client, 'lab/app', IMAGE, { payload, signatureB64: await cosignSignPayload(payload, otherKey) });
      assert.equal((await fetchCosignSignatures(client, 'lab/app', IMAGE)).length, 2);
      assert.equal((await verifyCosignImage(client, 'lab/app', IMAGE, key.publicKeyPem())).ok, true);
      assert.equal((await verifyCosignImage(client, 'lab/app', IMAGE, otherKey.publicKeyPem())).ok, true);
    });
  });

  describe('when the image has no signatures', () => {
    it('verifies as MISSING_SIGNATURE', async () => {
      const result = await verifyCosignImage(client, 'lab/app', sha256Digest('unsigned'), key.publicKeyPem());
      assert.deepEqual(result.findings.map((f) => f.code), ['MISSING_SIGNATURE']);
    });
  });

  describe('when the only signatures are from other keys', () => {
    it('fails with SIGNATURE_INVALID for each', async () => {
      const stranger = await generateKey();
      const result = await verifyCosignImage(client, 'lab/app', IMAGE, stranger.publicKeyPem());
      assert.deepEqual(result.findings.map((f) => f.code), ['SIGNATURE_INVALID', 'SIGNATURE_INVALID']);
    });
  });
});
