import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import {
  MEDIA_TYPES,
  RegistryClient,
  cosignPayload,
  cosignSignPayload,
  generateKey,
  pkiSigningIdentity,
  pushCosignSignature,
  serializeManifest,
  signManifest,
  type PayloadFormat,
} from '../signer/index.ts';
import { clock, sampleManifest, tempPki, type TempPki } from '../signer/test-fixtures.ts';
import { startFakeRegistry, type FakeRegistry } from '../signer/test-registry.ts';
import { parseRegistryMap, RegistryCosignVerifier, RegistryImageVerifier } from './registry-verifiers.ts';

let registry: FakeRegistry;
let client: RegistryClient;
let lab: TempPki;
let foreign: TempPki;
let host: string;

before(async () => {
  registry = await startFakeRegistry();
  client = new RegistryClient(registry.url);
  host = new URL(registry.url).host;
  lab = await tempPki();
  foreign = await tempPki({ subject: 'look-alike' });
});
after(async () => {
  await registry.close();
  await lab.cleanup();
  await foreign.cleanup();
});
beforeEach(() => registry.reset());

async function pushSigned(repo: string, tag: string, format: PayloadFormat | 'unsigned', pki = lab): Promise<string> {
  const manifest = format === 'unsigned' ? sampleManifest() : (await signManifest(sampleManifest(), { identity: pkiSigningIdentity(pki.pki), format, clock })).manifest;
  return client.putManifest(repo, tag, serializeManifest(manifest), MEDIA_TYPES.dockerManifest);
}

const attached = (extra: Partial<ConstructorParameters<typeof RegistryImageVerifier>[0]> = {}) =>
  new RegistryImageVerifier({ registries: { [host]: registry.url }, trustedRoots: [lab.pki.root.certificatePem], clock, ...extra });

describe('RegistryImageVerifier', () => {
  describe('when the manifest carries a v2 signature from the lab PKI', () => {
    it('admits it by tag and by digest', async () => {
      const digest = await pushSigned('system/agent', '1.0', 'v2');
      assert.deepEqual(await attached().verify(`${host}/system/agent:1.0`), { ok: true });
      assert.deepEqual(await attached().verify(`${host}/system/agent@${digest}`), { ok: true });
    });
  });

  describe('when the manifest is not signed', () => {
    it('refuses with MISSING_SIGNATURE', async () => {
      await pushSigned('system/unsigned', '1.0', 'unsigned');
      const r = await attached().verify(`${host}/system/unsigned:1.0`);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /^MISSING_SIGNATURE/);
    });
  });

  describe('when the signature chains to a CA the lab does not trust', () => {
    it('refuses with CHAIN_UNTRUSTED', async () => {
      await pushSigned('system/foreign', '1.0', 'v2', foreign);
      const r = await attached().verify(`${host}/system/foreign:1.0`);
      assert.match(r.ok ? '' : r.reason, /CHAIN_UNTRUSTED/);
    });
  });

  describe('when the signature is in the delivery-kit format', () => {
    it('refuses it by default (root hashes are not signed) and admits it when the format is allowed', async () => {
      await pushSigned('system/dk', '1.0', 'delivery-kit');
      const r = await attached().verify(`${host}/system/dk:1.0`);
      assert.match(r.ok ? '' : r.reason, /UNSUPPORTED_FORMAT/);
      assert.deepEqual(await attached({ allowedFormats: ['delivery-kit', 'v2'] }).verify(`${host}/system/dk:1.0`), { ok: true });
    });
  });

  describe('when the registry answers with bytes that do not match the pinned digest', () => {
    it('refuses', async () => {
      const digest = await pushSigned('system/agent', '1.1', 'v2');
      registry.evil.wrongManifestBytes = true;
      const r = await attached().verify(`${host}/system/agent@${digest}`);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /digest/);
    });
  });

  describe('when the tag does not exist', () => {
    it('refuses, naming the manifest', async () => {
      const r = await attached().verify(`${host}/system/agent:9.9`);
      assert.deepEqual(r, { ok: false, reason: 'manifest system/agent:9.9 not found in the registry' });
    });
  });

  describe('when the image is in a registry the webhook may not contact', () => {
    it('refuses without sending any request', async () => {
      for (const image of ['nginx:1.17.2', 'evil.example.org/app:1.0', '127.0.0.1:1/app:1.0', 'Not A Reference']) {
        const r = await attached().verify(image);
        assert.equal(r.ok, false, image);
      }
      assert.equal(registry.requests.length, 0);
    });
  });

  describe('when the registry is unreachable', () => {
    it('refuses and does not remember the outage', async () => {
      const v = new RegistryImageVerifier({ registries: { 'reg.lab:5000': 'http://127.0.0.1:1' }, trustedRoots: [lab.pki.root.certificatePem], clock });
      for (const image of ['reg.lab:5000/system/agent:1.0', `reg.lab:5000/system/agent@sha256:${'a'.repeat(64)}`]) {
        const r = await v.verify(image);
        assert.equal(r.ok, false);
        assert.match(r.ok ? '' : r.reason, /unreachable|ECONNREFUSED|fetch failed/i);
      }
      assert.equal(v.cache.stats().size, 0);
    });
  });

  describe('with its decision cache (keyed by digest)', () => {
    it('answers a digest-pinned image from the cache without a request', async () => {
      const digest = await pushSigned('system/agent', '2.0', 'v2');
      const v = attached();
      for (let i = 0; i < 3; i++) assert.deepEqual(await v.verify(`${host}/system/agent@${digest}`), { ok: true });
      assert.equal(registry.requests.filter((r) => r.method === 'GET').length, 1);
      assert.equal(v.cache.stats().hits, 2);
    });
    it('resolves a tag on every review, so a tag re-pointed at unsigned content is refused at once', async () => {
      await pushSigned('system/agent', '3.0', 'v2');
      const v = attached();
      assert.deepEqual(await v.verify(`${host}/system/agent:3.0`), { ok: true });
      await pushSigned('system/agent', '3.0', 'unsigned');
      const r = await v.verify(`${host}/system/agent:3.0`);
      assert.match(r.ok ? '' : r.reason, /^MISSING_SIGNATURE/);
    });
    it('admits at once an image signed after it was refused (signing changes the digest)', async () => {
      await pushSigned('system/agent', '4.0', 'unsigned');
      const v = attached();
      assert.equal((await v.verify(`${host}/system/agent:4.0`)).ok, false);
      await pushSigned('system/agent', '4.0', 'v2');
      assert.deepEqual(await v.verify(`${host}/system/agent:4.0`), { ok: true });
    });
  });

  describe('when configured without a trust anchor', () => {
    it('throws ADMISSION_VERIFIER_CONFIG_INVALID', () => {
      assert.throws(() => attached({ trustedRoots: [] }), (e) => isLabError(e, 'ADMISSION_VERIFIER_CONFIG_INVALID'));
      assert.throws(() => attached({ trustedRoots: ['not pem'] }), (e) => isLabError(e, 'ADMISSION_VERIFIER_CONFIG_INVALID'));
    });
  });
});

describe('RegistryCosignVerifier', () => {
  const cosign = () => new RegistryCosignVerifier({ registries: { [host]: registry.url } });

  async function cosignSigned(repo: string, tag: string) {
    const digest = await pushSigned(repo, tag, 'unsigned');
    const key = await generateKey();
    const payload = cosignPayload(`${host}/${repo}`, digest);
    await pushCosignSignature(client, repo, digest, { payload, signatureB64: await cosignSignPayload(payload, key) });
    return { digest, publicKeyPem: key.publicKeyPem() };
  }

  describe('when the image is signed with the policy key', () => {
    it('admits it by tag and by digest', async () => {
      const { digest, publicKeyPem } = await cosignSigned('lab/app', '1.0');
      assert.deepEqual(await cosign().verify(`${host}/lab/app:1.0`, publicKeyPem), { ok: true });
      assert.deepEqual(await cosign().verify(`${host}/lab/app@${digest}`, publicKeyPem), { ok: true });
    });
  });

  describe('when the image is signed with another key', () => {
    it('refuses with SIGNATURE_INVALID', async () => {
      await cosignSigned('lab/other', '1.0');
      const other = (await generateKey()).publicKeyPem();
      const r = await cosign().verify(`${host}/lab/other:1.0`, other);
      assert.match(r.ok ? '' : r.reason, /^SIGNATURE_INVALID/);
    });
  });

  describe('when the image has no .sig tag', () => {
    it('refuses with MISSING_SIGNATURE', async () => {
      await pushSigned('lab/plain', '1.0', 'unsigned');
      const r = await cosign().verify(`${host}/lab/plain:1.0`, (await generateKey()).publicKeyPem());
      assert.match(r.ok ? '' : r.reason, /^MISSING_SIGNATURE/);
    });
  });

  describe('when the policy key is not a usable public key', () => {
    it('refuses instead of throwing', async () => {
      await pushSigned('lab/plain', '1.1', 'unsigned');
      const r = await cosign().verify(`${host}/lab/plain:1.1`, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
      assert.match(r.ok ? '' : r.reason, /public key is unusable/);
    });
  });

  describe('when the image is in a registry the webhook may not contact', () => {
    it('refuses without sending any request', async () => {
      const r = await cosign().verify('registry.private.com/labs/application/app:1.0', (await generateKey()).publicKeyPem());
      assert.equal(r.ok, false);
      assert.equal(registry.requests.length, 0);
    });
  });
});

describe('parseRegistryMap', () => {
  describe('when given HOST=URL pairs', () => {
    it('maps hosts to base URLs', () => {
      assert.deepEqual(parseRegistryMap(['127.0.0.1:5000=http://127.0.0.1:5000']), { '127.0.0.1:5000': 'http://127.0.0.1:5000' });
    });
  });
  describe('when a pair is malformed', () => {
    it('throws ADMISSION_VERIFIER_CONFIG_INVALID', () => {
      for (const bad of ['127.0.0.1:5000', '=http://x', 'h=', 'h=ftp://x', 'h=not a url']) {
        assert.throws(() => parseRegistryMap([bad]), (e) => isLabError(e, 'ADMISSION_VERIFIER_CONFIG_INVALID'), bad);
      }
    });
  });
});
