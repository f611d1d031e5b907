import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { encodeBase64, sha256Digest } from './encoding.ts';
import { ANNOTATIONS, serializeManifest } from './manifest.ts';
import type { OciManifest } from './manifest.ts';
import type { PayloadFormat } from './payload.ts';
import { PROFILES, generateKey, issueCertificate } from './pki.ts';
import { pkiSigningIdentity, signManifest } from './sign.ts';
import type { SigningIdentity } from './sign.ts';
import { NOW, at, clock, sampleManifest, tempPki } from './test-fixtures.ts';
import type { TempPki } from './test-fixtures.ts';
import { verifyManifest, verifyManifestBytes } from './verify.ts';
import type { VerificationResult, VerifyOptions } from './verify.ts';

const FORMATS: PayloadFormat[] = ['delivery-kit', 'v2'];

let lab: TempPki;
let other: TempPki;
before(async () => {
  lab = await tempPki();
  other = await tempPki(); // same subject names, different keys: an attacker's look-alike PKI
});
after(async () => {
  await lab.cleanup();
  await other.cleanup();
});

const options = (extra: Partial<VerifyOptions> = {}): VerifyOptions => ({
  trustedRoots: [lab.pki.root.certificatePem],
  clock,
  name: 'registry.lab/app:1',
  ...extra,
});

async function signed(format: PayloadFormat, identity: SigningIdentity = pkiSigningIdentity(lab.pki)): Promise<OciManifest> {
  return (await signManifest(sampleManifest(), { identity, format, clock })).manifest;
}

function codes(result: VerificationResult): string[] {
  return result.findings.filter((f) => f.severity === 'error').map((f) => f.code);
}

function layerAnnotations(m: OciManifest, i: number): Record<string, string> {
  const a = m.layers[i]?.annotations;
  assert.ok(a, `layer ${i} has annotations`);
  return a;
}

describe('signManifest', () => {
  describe('when signing with the lab PKI', () => {
    it('adds base64 signature, cert and chain annotations and leaves the input alone', async () => {
      const input = sampleManifest();
      const { manifest, signature } = await signManifest(input, { identity: pkiSigningIdentity(lab.pki), clock, format: 'v2' });
      assert.deepEqual(input, sampleManifest());
      const a = manifest.annotations ?? {};
      assert.equal(a[ANNOTATIONS.signature], signature.toString('base64'));
      assert.equal(Buffer.from(a[ANNOTATIONS.cert] ?? '', 'base64').toString(), lab.pki.signing.certificatePem);
      assert.equal(Buffer.from(a[ANNOTATIONS.chain] ?? '', 'base64').toString(), lab.pki.intermediate.certificatePem);
      assert.equal(a[ANNOTATIONS.signatureFormat], 'v2');
      assert.equal(signature[0], 0x30, 'DER SEQUENCE');
    });

    it('makes signatures that openssl verifies over the message', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'signer-test-'));
      try {
        const { payload, signature } = await signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), clock });
        await writeFile(join(dir, 'pub.pem'), lab.pki.signing.key.publicKeyPem());
        await writeFile(join(dir, 'msg'), payload.message);
        await writeFile(join(dir, 'sig'), signature);
        const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig'), join(dir, 'msg')], { encoding: 'utf8' });
        assert.match(out, /Verified OK/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when the manifest already carries a signature', () => {
    it('replaces it, and drops a stale v2 marker when re-signing as delivery-kit', async () => {
      const once = await signed('v2');
      const twice = (await signManifest(once, { identity: pkiSigningIdentity(lab.pki), clock, format: 'delivery-kit' })).manifest;
      assert.equal(twice.annotations?.[ANNOTATIONS.signatureFormat], undefined);
      assert.equal((await verifyManifest(twice, options())).ok, true);
    });
  });

  describe('when the signing certificate has expired', () => {
    it('refuses with SIGNER_CERT_NOT_VALID', async () => {
      await assert.rejects(
        signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), clock: at('2030-01-01T00:00:00Z') }),
        (e) => isLabError(e, 'SIGNER_CERT_NOT_VALID') && e.message.includes('2030-01-01'),
      );
    });
  });
});

describe('verifyManifest', () => {
  for (const format of FORMATS) {
    describe(`when a ${format} manifest is untouched`, () => {
      it('is ok and names the signer', async () => {
        const result = await verifyManifest(await signed(format), options());
        assert.deepEqual(codes(result), []);
        assert.equal(result.ok, true);
        assert.equal(result.format, format);
        assert.match(result.signer?.subject ?? '', /image signer/);
      });
    });

    describe(`when a ${format} manifest annotation is changed after signing`, () => {
      it('fails with SIGNATURE_INVALID', async () => {
        const m = await signed(format);
        m.annotations = { ...m.annotations, 'org.opencontainers.image.title': 'evil' };
        const result = await verifyManifest(m, options());
        assert.deepEqual(codes(result), ['SIGNATURE_INVALID']);
        assert.match(result.findings[0]?.message ?? '', /registry\.lab\/app:1: the .* signature/);
      });
    });

    describe(`when two ${format} layers are swapped`, () => {
      it('fails with SIGNATURE_INVALID', async () => {
        const m = await signed(format);
        m.layers.reverse();
        assert.deepEqual(codes(await verifyManifest(m, options())), ['SIGNATURE_INVALID']);
      });
    });

    describe(`when a ${format} layer digest is replaced`, () => {
      it('fails with SIGNATURE_INVALID', async () => {
        const m = await signed(format);
        const layer = m.layers[1];
        assert.ok(layer);
        layer.digest = `sha256:${'9'.repeat(64)}`;
        assert.deepEqual(codes(await verifyManifest(m, options())), ['SIGNATURE_INVALID']);
      });
    });

    describe(`when the ${format} signature comes from a look-alike PKI`, () => {
      it('fails with CHAIN_UNTRUSTED', async () => {
        const m = await signed(format, pkiSigningIdentity(other.pki));
        const result = await verifyManifest(m, options());
        assert.deepEqual(codes(result), ['CHAIN_UNTRUSTED']);
        assert.match(result.findings[0]?.message ?? '', /intermediate CA/);
      });
    });

    describe(`when the ${format} signature is checked after the signing certificate expired`, () => {
      it('fails with CERT_EXPIRED naming the certificate', async () => {
        const result = await verifyManifest(await signed(format), options({ clock: at('2027-06-01T00:00:00Z') }));
        assert.deepEqual(codes(result), ['CERT_EXPIRED']);
        assert.match(result.findings[0]?.message ?? '', /signing certificate .*image signer.* expired at 2027-03-01/);
      });
    });
  }

  // Parsed certificates are kept between verifications (the gates verify one
  // signature at the pull, the sandbox and the container): what depends on
  // trust and time must still be decided at every call.
  describe('when the same manifest is verified again with another clock or other trusted roots', () => {
    it('decides each time from that call\'s clock and roots', async () => {
      const m = await signed('v2');
      assert.deepEqual(codes(await verifyManifest(m, options())), []);
      assert.deepEqual(codes(await verifyManifest(m, options({ clock: at('2027-06-01T00:00:00Z') }))), ['CERT_EXPIRED']);
      assert.deepEqual(codes(await verifyManifest(m, options({ trustedRoots: [other.pki.root.certificatePem] }))), ['CHAIN_UNTRUSTED']);
      assert.deepEqual(codes(await verifyManifest(m, options())), []);
    });
  });

  describe('when the clock is before the certificates were issued', () => {
    it('fails with CERT_NOT_YET_VALID for every certificate on the path', async () => {
      const result = await verifyManifest(await signed('v2'), options({ clock: at('2026-02-01T00:00:00Z') }));
      assert.deepEqual(codes(result), ['CERT_NOT_YET_VALID', 'CERT_NOT_YET_VALID', 'CERT_NOT_YET_VALID']);
    });
  });

  describe('when characters move from an annotation key to its value (finding)', () => {
    const move = (m: OciManifest): OciManifest => {
      const a = { ...m.annotations };
      assert.equal(a['a.b'], 'cd');
      delete a['a.b'];
      a['a.bc'] = 'd';
      return { ...m, annotations: a };
    };

    it('still verifies under delivery-kit: the signature cannot see the change', async () => {
      const result = await verifyManifest(move(await signed('delivery-kit')), options());
      assert.equal(result.ok, true);
    });

    it('fails under v2 with SIGNATURE_INVALID', async () => {
      assert.deepEqual(codes(await verifyManifest(move(await signed('v2')), options())), ['SIGNATURE_INVALID']);
    });
  });

  describe('when a layer root hash annotation is edited after signing', () => {
    const forged = 'f'.repeat(64);
    const edit = (m: OciManifest): OciManifest => {
      layerAnnotations(m, 0)[ANNOTATIONS.rootHash] = forged;
      return m;
    };

    it('fails under v2 with SIGNATURE_INVALID', async () => {
      assert.deepEqual(codes(await verifyManifest(edit(await signed('v2')), options())), ['SIGNATURE_INVALID']);
    });

    it('still verifies under delivery-kit, with a ROOT_HASH_NOT_SIGNED warning (finding)', async () => {
      const result = await verifyManifest(edit(await signed('delivery-kit')), options());
      assert.equal(result.ok, true);
      assert.deepEqual(result.findings.map((f) => f.code), ['ROOT_HASH_NOT_SIGNED']);
    });

    it('is caught under delivery-kit only if the verifier recomputes the root hash itself', async () => {
      const m = edit(await signed('delivery-kit'));
      const fromTrustedLayer = async (): Promise<Buffer> => Buffer.from('d'.repeat(64), 'hex');
      const fromTamperedDisk = async (): Promise<Buffer> => Buffer.from(forged, 'hex');
      assert.deepEqual(codes(await verifyManifest(m, options({ layerRootHashes: async (_l, i) => (i === 0 ? fromTrustedLayer() : Buffer.from('e'.repeat(64), 'hex')) }))), ['LAYER_ROOT_HASH_MISMATCH']);
      // An attacker who swaps layer.erofs and edits the annotation to match goes unnoticed.
      const swapped = await verifyManifest(m, options({ layerRootHashes: async (_l, i) => (i === 0 ? fromTamperedDisk() : Buffer.from('e'.repeat(64), 'hex')) }));
      assert.equal(swapped.ok, true);
    });
  });

  describe('when the v2 format marker is stripped to downgrade to delivery-kit', () => {
    it('fails with SIGNATURE_INVALID', async () => {
      const m = await signed('v2');
      const a = { ...m.annotations };
      delete a[ANNOTATIONS.signatureFormat];
      assert.deepEqual(codes(await verifyManifest({ ...m, annotations: a }, options())), ['SIGNATURE_INVALID']);
    });
  });

  describe('when the format marker names an unknown format', () => {
    it('fails with UNSUPPORTED_FORMAT', async () => {
      const m = await signed('v2');
      m.annotations = { ...m.annotations, [ANNOTATIONS.signatureFormat]: 'v3' };
      assert.deepEqual(codes(await verifyManifest(m, options())), ['UNSUPPORTED_FORMAT']);
    });
  });

  describe('when the verifier accepts only v2 and the manifest is delivery-kit', () => {
    it('fails with UNSUPPORTED_FORMAT', async () => {
      assert.deepEqual(codes(await verifyManifest(await signed('delivery-kit'), options({ allowedFormats: ['v2'] }))), ['UNSUPPORTED_FORMAT']);
    });
  });

  describe('when the manifest is unsigned', () => {
    it('fails with MISSING_SIGNATURE', async () => {
      assert.deepEqual(codes(await verifyManifest(sampleManifest(), options())), ['MISSING_SIGNATURE']);
    });
  });

  describe('when the signature annotation is not base64', () => {
    it('fails with BAD_BASE64', async () => {
      const m = await signed('v2');
      m.annotations = { ...m.annotations, [ANNOTATIONS.signature]: 'MEUC!!not base64' };
      const result = await verifyManifest(m, options());
      assert.deepEqual(codes(result), ['BAD_BASE64']);
      assert.match(result.findings[0]?.message ?? '', /io\.deckhouse\.delivery-kit\.signature: expected standard padded base64, got "MEUC!!not base64"/);
    });
  });

  describe('when the chain annotation is empty', () => {
    it('fails with EMPTY_CHAIN', async () => {
      const m = await signed('v2');
      m.annotations = { ...m.annotations, [ANNOTATIONS.chain]: '' };
      assert.deepEqual(codes(await verifyManifest(m, options())), ['EMPTY_CHAIN']);
    });
  });

  describe('when the chain annotation is absent', () => {
    it('fails with EMPTY_CHAIN', async () => {
      const m = await signed('v2');
      const a = { ...m.annotations };
      delete a[ANNOTATIONS.chain];
      assert.deepEqual(codes(await verifyManifest({ ...m, annotations: a }, options())), ['EMPTY_CHAIN']);
    });
  });

  describe('when the chain also carries the root, root first, as the delivery-kit SDK may write it', () => {
    it('still builds the path and is ok', async () => {
      const identity: SigningIdentity = { ...pkiSigningIdentity(lab.pki), chainPem: lab.pki.root.certificatePem + lab.pki.chainPem };
      assert.deepEqual(codes(await verifyManifest(await signed('v2', identity), options())), []);
    });
  });

  describe('when the chain carries a look-alike root with the trusted root\'s name', () => {
    it('fails with CHAIN_UNTRUSTED: a root is trusted for its key, not its name', async () => {
      const identity: SigningIdentity = { signer: other.pki.signing.key, certificatePem: other.pki.signing.certificatePem, chainPem: other.pki.chainPem + other.pki.root.certificatePem };
      assert.deepEqual(codes(await verifyManifest(await signed('v2', identity), options())), ['CHAIN_UNTRUSTED']);
    });
  });

  describe('when the signing certificate is issued directly by the root', () => {
    it('fails with EMPTY_CHAIN: the profile needs an intermediate', async () => {
      const key = await generateKey();
      const certificatePem = await issueCertificate({
        subject: 'CN=direct', profile: PROFILES.codeSigning, key, issuer: lab.pki.root,
        notBefore: NOW, notAfter: new Date(NOW.getTime() + 86_400_000), serial: Buffer.from('0103', 'hex'),
      });
      const identity: SigningIdentity = { signer: key, certificatePem, chainPem: lab.pki.root.certificatePem };
      assert.deepEqual(codes(await verifyManifest(await signed('v2', identity), options())), ['EMPTY_CHAIN']);
    });
  });

  describe('when the cert annotation holds something that is not a certificate', () => {
    it('fails with BAD_CERTIFICATE', async () => {
      const m = await signed('v2');
      m.annotations = { ...m.annotations, [ANNOTATIONS.cert]: encodeBase64('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n') };
      assert.deepEqual(codes(await verifyManifest(m, options())), ['BAD_CERTIFICATE']);
    });
  });

  describe('when the signing certificate is a TLS server certificate', () => {
    it('fails with BAD_KEY_USAGE', async () => {
      const identity: SigningIdentity = { signer: lab.pki.tls.key, certificatePem: lab.pki.tls.certificatePem, chainPem: lab.pki.chainPem };
      const result = await verifyManifest(await signed('v2', identity), options());
      assert.deepEqual(codes(result), ['BAD_KEY_USAGE']);
      assert.match(result.findings[0]?.message ?? '', /codeSigning/);
    });
  });

  describe('when the "intermediate" is a signing certificate, not a CA', () => {
    it('fails with BAD_KEY_USAGE', async () => {
      // The lab's real signer issues a certificate for an attacker key.
      const key = await generateKey();
      const certificatePem = await issueCertificate({
        subject: 'CN=attacker', profile: PROFILES.codeSigning, key, issuer: lab.pki.signing,
        notBefore: NOW, notAfter: new Date(NOW.getTime() + 86_400_000), serial: Buffer.from('0102', 'hex'),
      });
      const identity: SigningIdentity = { signer: key, certificatePem, chainPem: lab.pki.signing.certificatePem + lab.pki.chainPem };
      const result = await verifyManifest(await signed('v2', identity), options());
      assert.ok(codes(result).includes('BAD_KEY_USAGE'), JSON.stringify(result.findings));
      assert.match(result.findings.find((f) => f.code === 'BAD_KEY_USAGE')?.message ?? '', /not a CA/);
    });
  });

  describe('when layer root hashes are required', () => {
    it('reports a missing one with LAYER_ROOT_HASH_MISSING and a malformed one with LAYER_ROOT_HASH_MALFORMED', async () => {
      const m = sampleManifest();
      delete layerAnnotations(m, 0)[ANNOTATIONS.rootHash];
      layerAnnotations(m, 1)[ANNOTATIONS.rootHash] = 'XYZ';
      const result = await verifyManifest((await signManifest(m, { identity: pkiSigningIdentity(lab.pki), clock, format: 'v2' })).manifest, options({ requireLayerRootHashes: true }));
      assert.deepEqual(codes(result), ['LAYER_ROOT_HASH_MISSING', 'LAYER_ROOT_HASH_MALFORMED']);
      assert.deepEqual(result.findings.map((f) => f.layer), [0, 1]);
    });

    it('warns with LAYER_ROOT_HASH_UNCHECKED when the verifier has no computed hash', async () => {
      const result = await verifyManifest(await signed('v2'), options({ layerRootHashes: async () => undefined }));
      assert.equal(result.ok, true);
      assert.deepEqual(result.findings.map((f) => f.code), ['LAYER_ROOT_HASH_UNCHECKED', 'LAYER_ROOT_HASH_UNCHECKED']);
    });
  });

  describe('when a trusted root is not PEM', () => {
    it('throws PKI_BAD_PEM: that is configuration, not an attack', async () => {
      await assert.rejects(verifyManifest(await signed('v2'), options({ trustedRoots: ['nope'] })), (e) => isLabError(e, 'PKI_BAD_PEM'));
    });
  });
});

describe('verifyManifestBytes', () => {
  describe('when the bytes are the signed manifest and the digest matches', () => {
    it('is ok and reports the digest', async () => {
      const bytes = serializeManifest(await signed('v2'));
      const result = await verifyManifestBytes(bytes, options({ expectedDigest: sha256Digest(bytes) } as Partial<VerifyOptions>));
      assert.equal(result.ok, true, JSON.stringify(result.findings));
      assert.equal(result.digest, sha256Digest(bytes));
    });
  });

  describe('when the bytes are not what the digest names', () => {
    it('fails with MANIFEST_DIGEST_MISMATCH', async () => {
      const bytes = serializeManifest(await signed('v2'));
      const result = await verifyManifestBytes(Buffer.concat([bytes, Buffer.from(' ')]), { ...options(), expectedDigest: sha256Digest(bytes) });
      assert.deepEqual(codes(result), ['MANIFEST_DIGEST_MISMATCH']);
    });
  });

  describe('when the bytes are not JSON', () => {
    it('fails with MANIFEST_NOT_JSON', async () => {
      const result = await verifyManifestBytes(Buffer.from('<html>not a manifest</html>'), options());
      assert.deepEqual(codes(result), ['MANIFEST_NOT_JSON']);
      assert.match(result.findings[0]?.message ?? '', /registry\.lab\/app:1: expected JSON, got 27 bytes/);
    });
  });

  describe('when the JSON is not an image manifest', () => {
    it('fails with MANIFEST_INVALID naming the field', async () => {
      const result = await verifyManifestBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] })), options());
      assert.deepEqual(codes(result), ['MANIFEST_INVALID']);
      assert.match(result.findings[0]?.message ?? '', /config\.mediaType: expected a non-empty string, got nothing/);
    });
  });
});
