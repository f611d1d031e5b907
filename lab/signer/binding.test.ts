import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { bindingOf, repositoryPath } from './binding.ts';
import { ANNOTATIONS, serializeManifest } from './manifest.ts';
import { pkiSigningIdentity, signManifest } from './sign.ts';
import { clock, sampleManifest, tempPki, type TempPki } from './test-fixtures.ts';
import { verifyManifestBytes } from './verify.ts';

let lab: TempPki;
before(async () => {
  lab = await tempPki();
});
after(async () => {
  await lab.cleanup();
});

describe('repositoryPath', () => {
  const cases: [string, string | undefined][] = [
    ['127.0.0.1:5000/system/agent:1.0', 'system/agent'],
    ['registry.example/system/agent@sha256:' + 'a'.repeat(64), 'system/agent'],
    ['localhost/app', 'app'],
    ['system/agent:1.0', 'system/agent'],
    ['127.0.0.1:5000/system/pause:3.10', 'system/pause'],
    ['127.0.0.1:5000/System/Agent:1', undefined],
    ['', undefined],
  ];
  for (const [reference, want] of cases) {
    it(`${JSON.stringify(reference)} → ${JSON.stringify(want)}`, () => assert.equal(repositoryPath(reference), want));
  }
});

describe('signManifest with a binding', () => {
  const binding = { repository: 'system/agent', version: 1_764_936_000_000 };
  describe('when the format is v2', () => {
    it('writes the repository and version, and the signature covers them', async () => {
      const s = await signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), format: 'v2', clock, binding });
      assert.equal(s.manifest.annotations?.[ANNOTATIONS.repository], 'system/agent');
      assert.equal(s.manifest.annotations?.[ANNOTATIONS.version], '1764936000000');
      assert.deepEqual(bindingOf(s.manifest), binding);
      const roots = [lab.pki.root.certificatePem];
      assert.ok((await verifyManifestBytes(serializeManifest(s.manifest), { trustedRoots: roots, clock })).ok);
      // A registry that rewrites the name or the version breaks the signature.
      for (const [key, value] of [[ANNOTATIONS.repository, 'system/other'], [ANNOTATIONS.version, '1']] as const) {
        const edited = { ...s.manifest, annotations: { ...s.manifest.annotations, [key]: value } };
        const r = await verifyManifestBytes(serializeManifest(edited), { trustedRoots: roots, clock });
        assert.equal(r.ok, false, `${key} edited`);
        assert.ok(r.findings.some((f) => f.code === 'SIGNATURE_INVALID'));
      }
    });
    it('drops a binding left from an earlier signature when none is given', async () => {
      const first = await signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), format: 'v2', clock, binding });
      const again = await signManifest(first.manifest, { identity: pkiSigningIdentity(lab.pki), format: 'v2', clock });
      assert.equal(bindingOf(again.manifest), undefined);
    });
  });
  describe('when the format is delivery-kit', () => {
    it('refuses: delivery-kit has no separators, so it cannot bind them reliably', async () => {
      await assert.rejects(
        signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), format: 'delivery-kit', clock, binding }),
        (err) => isLabError(err, 'UNSUPPORTED_FORMAT') && /v2 format only/.test(err.message),
      );
    });
  });
  describe('when the binding is malformed', () => {
    it('refuses a repository with a host or tag, and a fractional version', async () => {
      for (const bad of [{ repository: '127.0.0.1:5000/system/agent', version: 1 }, { repository: 'system/agent:1', version: 1 }, { repository: 'system/agent', version: 1.5 }]) {
        await assert.rejects(signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), format: 'v2', clock, binding: bad }), (err) => isLabError(err, 'MANIFEST_INVALID'));
      }
    });
  });
});

describe('bindingOf', () => {
  const withAnnotations = (a: Record<string, string>) => ({ ...sampleManifest(), annotations: { ...sampleManifest().annotations, ...a } });
  it('is undefined for a manifest with neither annotation', () => assert.equal(bindingOf(sampleManifest()), undefined));
  it('names the missing half', () => {
    assert.match(String(bindingOf(withAnnotations({ [ANNOTATIONS.repository]: 'system/agent' }))), /io.integrity-lab.image.version: expected a decimal version, got "\(absent\)"/);
  });
  it('refuses a version that is not a plain decimal', () => {
    assert.equal(typeof bindingOf(withAnnotations({ [ANNOTATIONS.repository]: 'system/agent', [ANNOTATIONS.version]: '1e3' })), 'string');
  });
});
