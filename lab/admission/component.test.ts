import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateLabPki } from '../signer/index.ts';
import { AdmissionNodeComponent, NODE_PATHS, parseDecisionLog, renderWebhookManifest, serviceDnsNames } from './component.ts';
import { AdmissionDispatcher, CA_BUNDLE_PLACEHOLDER, parseWebhookConfiguration } from './dispatcher.ts';
import { createEngine } from './engine.ts';
import { loadLabState } from './loader.ts';
import { WebhookServer } from './server.ts';
import { StaticImageVerifier } from './verifiers.ts';
import type { NodePreparation } from '../node/component.ts';

const MANIFEST = join(import.meta.dirname, 'manifests/validating-webhook.yaml');

describe('renderWebhookManifest', () => {
  describe('when the manifest has the caBundle placeholder', () => {
    it('fills it with the base64 of the CA PEM, which the dispatcher then trusts as shipped', async () => {
      const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      const text = renderWebhookManifest(await readFile(MANIFEST, 'utf8'), ca);
      assert.equal(text.includes(CA_BUNDLE_PLACEHOLDER), false);
      assert.ok(text.includes(`caBundle: ${Buffer.from(ca).toString('base64')}`));
      const config = parseWebhookConfiguration(text, 'rendered.yaml');
      assert.equal(config.webhooks[0]?.caPem, ca);
      assert.deepEqual(serviceDnsNames(config), ['integrity-webhook.integrity-admission.svc']);
    });
  });
});

describe('parseDecisionLog', () => {
  describe('when the log has progress lines and a torn last line', () => {
    it('returns the complete records only', () => {
      const record = { time: '2026-01-01T00:00:00.000Z', uid: 'u', operation: 'CREATE', namespace: 'ns', kind: 'Pod', name: 'p', images: [], policy: 'none', action: 'allow', outcome: 'admitted', violations: [] };
      const text = `${JSON.stringify(record)}\nadmission serve: listening\n{"time":"2026-01-01T00:00:01`;
      assert.deepEqual(parseDecisionLog(text), [record]);
    });
  });
});

describe('AdmissionNodeComponent.prepare', () => {
  let dir: string;
  let prepared: NodePreparation;
  let rootPem: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'admission-component-'));
    const pki = await generateLabPki(join(dir, 'pki'), { clock: () => new Date() });
    rootPem = pki.root.certificatePem;
    prepared = await new AdmissionNodeComponent().prepare({ stateDir: dir, trustedRootsPem: rootPem });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const file = (target: string): string => {
    const f = prepared.files.find((x) => x.target === target);
    assert.ok(f?.content !== undefined, `no inline file ${target}`);
    return f.content;
  };

  describe('when the lab PKI exists', () => {
    it('ships a serving certificate from the lab intermediate CA for the service name, with its key readable by root only', () => {
      const [leaf, intermediate] = file(NODE_PATHS.cert).split(/(?<=-----END CERTIFICATE-----\n)/).map((p) => new X509Certificate(p));
      assert.ok(leaf && intermediate);
      assert.equal(leaf.subjectAltName, 'DNS:integrity-webhook.integrity-admission.svc');
      assert.ok(leaf.checkIssued(intermediate));
      assert.ok(intermediate.checkIssued(new X509Certificate(rootPem)));
      assert.equal(prepared.files.find((f) => f.target === NODE_PATHS.key)?.mode, 0o600);
      assert.equal(file(NODE_PATHS.trustedRoots), rootPem);
    });

    it('ships every policy file and the bundled webhook', async () => {
      const shipped = prepared.files.filter((f) => f.target.startsWith(`${NODE_PATHS.policies}/`)).map((f) => f.target.slice(NODE_PATHS.policies.length + 1)).sort();
      assert.deepEqual(shipped, (await loadLabState(join(import.meta.dirname, '../../scenarios/policies'))).files.map((f) => f.split('/').at(-1)).sort());
      assert.match(prepared.files.find((f) => f.target === NODE_PATHS.bundle)?.source ?? '', /admission-webhook-[0-9a-f]{16}\.mjs$/);
    });

    it('is served in a way the rendered configuration accepts: TLS verified for the service name, the answer passed back', async () => {
      const state = await loadLabState(join(import.meta.dirname, '../../scenarios/policies'));
      const engine = createEngine(state, { imageVerifier: new StaticImageVerifier([]) });
      const server = await new WebhookServer({ engine, cert: file(NODE_PATHS.cert), key: file(NODE_PATHS.key) }).start();
      const dispatcher = new AdmissionDispatcher(parseWebhookConfiguration(file(NODE_PATHS.manifest), 'shipped.yaml'), { namespaces: state.namespaces, serviceUrl: () => server.url });
      try {
        const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: '127.0.0.1:5000/system/agent:1.0' }] } };
        const r = await dispatcher.dispatch({ object: pod, namespace: 'kube-system' });
        assert.equal(r.webhooks[0]?.error, undefined);
        assert.equal(r.allowed, false);
        assert.match(r.reason ?? '', /\[verify-image-signatures\] Image signature verification failed: 127\.0\.0\.1:5000\/system\/agent:1\.0/);
      } finally {
        dispatcher.close();
        await server.close();
      }
    });
  });
});
