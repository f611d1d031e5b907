import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEngine } from './engine.ts';
import { loadLabStateFromTexts } from './loader.ts';
import { podObjectOf, withApiDefaults, withContainerSecurityContext } from './node-pod.ts';
import { securityPolicyViolations } from './policies/security-policy.ts';
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

describe('withApiDefaults', () => {
  const hostNetworkPod = (port: Record<string, unknown>, hostNetwork = true) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { hostNetwork, containers: [{ name: 'a', image: 'x:1', ports: [port] }], initContainers: [{ name: 'i', image: 'x:1', ports: [{ containerPort: 9000 }] }] },
  });
  const ports = (o: Record<string, unknown>) => ((o['spec'] as { containers: { ports: unknown[] }[]; initContainers: { ports: unknown[] }[] }));
  describe('when a hostNetwork pod declares a containerPort without hostPort', () => {
    it('sets hostPort to the containerPort, as the API server does, and leaves the input alone', () => {
      const input = hostNetworkPod({ containerPort: 8080 });
      const out = withApiDefaults(input);
      assert.deepEqual(ports(out).containers[0]!.ports, [{ containerPort: 8080, hostPort: 8080 }]);
      assert.deepEqual(ports(out).initContainers[0]!.ports, [{ containerPort: 9000, hostPort: 9000 }]);
      assert.deepEqual(ports(input).containers[0]!.ports, [{ containerPort: 8080 }]);
    });
  });
  describe('when the pod does not use the host network', () => {
    it('defaults nothing', () => {
      assert.deepEqual(ports(withApiDefaults(hostNetworkPod({ containerPort: 8080 }, false))).containers[0]!.ports, [{ containerPort: 8080 }]);
    });
  });
  describe('when the defaulted pod meets allowedHostPorts', () => {
    it('is refused for the port it will bind', async () => {
      const d = decodeAdmissionObject(withApiDefaults(hostNetworkPod({ containerPort: 8080 })));
      assert.ok(d.ok);
      const v = securityPolicyViolations({ allowedHostPorts: [{ min: 2000, max: 4000 }] }, d.object);
      assert.deepEqual(v.filter((m) => m.includes('8080')), ['container "a" uses hostPort 8080, allowed ranges are 2000-4000']);
    });
  });
});
