import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngine } from './engine.ts';
import { loadLabStateFromTexts } from './loader.ts';
import { podObjectOf, withContainerSecurityContext } from './node-pod.ts';
import { decodeAdmissionObject } from './pod.ts';

const state = loadLabStateFromTexts([
  {
    file: 'ns.yaml',
    text: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: restricted-ns, labels: { security.deckhouse.io/pod-policy: restricted } }',
  },
]);

async function review(object: Record<string, unknown>) {
  const decoded = decodeAdmissionObject(object);
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason);
  return createEngine(state).review({ uid: 'u', operation: 'CREATE', namespace: 'restricted-ns', object: decoded.object });
}

describe('podObjectOf', () => {
  describe('when the CRI pod has a plain container', () => {
    it('is a minimal core/v1 Pod with no invented fields', () => {
      assert.deepEqual(podObjectOf({ name: 'app', namespace: 'apps', containers: [{ name: 'app', image: '127.0.0.1:5000/lab/app:1.0' }] }), {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'app', namespace: 'apps' },
        spec: { containers: [{ name: 'app', image: '127.0.0.1:5000/lab/app:1.0' }] },
      });
    });
  });

  describe('when the CRI pod is privileged, mounts host paths and uses the host network', () => {
    it('carries each as the field the policies read', async () => {
      const object = podObjectOf({
        name: 'p',
        namespace: 'restricted-ns',
        hostNetwork: true,
        containers: [
          {
            name: 'c',
            image: 'x:1',
            privileged: true,
            readOnlyRootFilesystem: true,
            env: { A: '1' },
            mounts: [{ hostPath: '/etc', containerPath: '/host/etc', readonly: true }, { hostPath: '/var/run', containerPath: '/run/host' }],
          },
        ],
      });
      assert.deepEqual(object['spec'], {
        hostNetwork: true,
        volumes: [{ name: 'host-0-0', hostPath: { path: '/etc' } }, { name: 'host-0-1', hostPath: { path: '/var/run' } }],
        containers: [
          {
            name: 'c',
            image: 'x:1',
            env: [{ name: 'A', value: '1' }],
            securityContext: { privileged: true, readOnlyRootFilesystem: true },
            volumeMounts: [{ name: 'host-0-0', mountPath: '/host/etc', readOnly: true }, { name: 'host-0-1', mountPath: '/run/host' }],
          },
        ],
      });
      const decision = await review(object);
      for (const check of ['privileged', 'hostNetwork', 'restricted volume types']) assert.match(decision.message ?? '', new RegExp(check));
    });
  });
});

describe('withContainerSecurityContext', () => {
  describe('when a pod runs as root (a field CRI specs do not carry)', () => {
    it('sets it on every container, without touching the input, and restricted refuses it for that reason', async () => {
      const base = podObjectOf({ name: 'p', namespace: 'restricted-ns', containers: [{ name: 'a', image: 'x:1', privileged: false }, { name: 'b', image: 'y:1' }] });
      const root = withContainerSecurityContext(base, { runAsUser: 0 });
      assert.equal(JSON.stringify(base).includes('runAsUser'), false);
      const spec = root['spec'] as { containers: { securityContext: Record<string, unknown> }[] };
      assert.deepEqual(spec.containers.map((c) => c.securityContext), [{ privileged: false, runAsUser: 0 }, { runAsUser: 0 }]);
      assert.match((await review(root)).message ?? '', /runAsUser=0 \(containers "a", "b" must not set runAsUser=0\)/);
      assert.doesNotMatch((await review(base)).message ?? '', /runAsUser=0/);
    });
  });
});

describe('cosignPolicyDocument', () => {
  describe('when made for a lab key', () => {
    it('loads as a SecurityPolicy that selects the namespace and requires the key for the reference', async () => {
      const { generateKeyPairSync } = await import('node:crypto');
      const { cosignPolicyDocument } = await import('./policy-docs.ts');
      const pem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
      const doc = cosignPolicyDocument({ name: 'cosign-vendor', namespace: 'signed-apps', reference: '127.0.0.1:5000/lab/*', publicKeys: [pem] });
      assert.equal(doc.file, 'cosign-vendor.yaml');
      const loaded = loadLabStateFromTexts([doc]);
      assert.equal(loaded.securityPolicies.length, 1);
      const sp = loaded.securityPolicies[0]!;
      assert.deepEqual(sp.spec.match.namespaceSelector, { labelSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'signed-apps' } } });
      assert.deepEqual(sp.spec.policies.verifyImageSignatures, [{ reference: '127.0.0.1:5000/lab/*', publicKeys: [pem.trim()] }]);
    });
  });
});
