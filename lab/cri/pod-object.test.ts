import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { criPodOf, parseQuantity } from './pod-object.ts';

const pod = (spec: Partial<NonNullable<V1Pod['spec']>>, metadata: V1Pod['metadata'] = {}): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'apps', ...metadata },
  spec: { containers: [{ name: 'web', image: 'img:1' }], ...spec },
});

describe('parseQuantity', () => {
  for (const [q, v] of [['250m', 0.25], ['1', 1], ['1.5Gi', 1.5 * 2 ** 30], ['64Mi', 64 * 2 ** 20], ['1G', 1e9], ['2e3', 2000], [3, 3]] as const) {
    it(`reads ${JSON.stringify(q)} as ${v}`, () => assert.equal(parseQuantity(q), v));
  }
  it('refuses what is not a quantity', () => assert.throws(() => parseQuantity('lots'), { code: 'POD_OBJECT_UNSUPPORTED' }));
});

describe('criPodOf', () => {
  describe('when the pod publishes a host port and sets labels', () => {
    const { spec, notCarried } = criPodOf(
      pod({ containers: [{ name: 'web', image: 'img:1', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9090, protocol: 'UDP' }] }] }, { labels: { app: 'web' }, annotations: { a: 'b' } }),
    );
    it('maps only ports with a host port into the sandbox, as the kubelet does', () => {
      assert.deepEqual(spec.portMappings, [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]);
    });
    it('carries labels and annotations to the sandbox', () => {
      assert.deepEqual(spec.labels, { app: 'web' });
      assert.deepEqual(spec.annotations, { a: 'b' });
      assert.deepEqual(notCarried, []);
    });
  });
  describe('when a container has resources and a security context', () => {
    const { spec } = criPodOf(
      pod({
        securityContext: { runAsUser: 150, supplementalGroups: [130], sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] },
        hostPID: true,
        containers: [
          {
            name: 'web',
            image: 'img:1',
            resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m' } },
            securityContext: { runAsGroup: 7, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } },
          },
        ],
      }),
    );
    it('converts cpu and memory as the kubelet (shares from the request, quota from the limit)', () => {
      assert.deepEqual(spec.containers[0]?.resources, { cpuShares: 102, cpuPeriod: 100000, cpuQuota: 50000, memoryLimitInBytes: 64 * 2 ** 20 });
    });
    it('takes the pod-level user where the container sets none, and carries the rest', () => {
      const c = spec.containers[0]!;
      assert.equal(c.runAsUser, 150);
      assert.equal(c.runAsGroup, 7);
      assert.deepEqual(c.supplementalGroups, [130]);
      assert.equal(c.noNewPrivs, true);
      assert.equal(c.readOnlyRootFilesystem, true);
      assert.deepEqual(c.capabilities, { add: ['NET_BIND_SERVICE'], drop: ['ALL'] });
      assert.equal(spec.hostPID, true);
      assert.deepEqual(spec.sysctls, { 'kernel.shm_rmid_forced': '1' });
    });
  });
  describe('when the pod has what CRI has no place for', () => {
    const { spec, notCarried } = criPodOf(
      pod({
        restartPolicy: 'Always',
        volumes: [{ name: 'etc', hostPath: { path: '/etc' } }, { name: 'scratch', emptyDir: {} }],
        containers: [
          {
            name: 'web',
            image: 'img:1',
            livenessProbe: { tcpSocket: { port: 80 } },
            env: [{ name: 'A', value: '1' }, { name: 'B', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
            volumeMounts: [{ name: 'etc', mountPath: '/host/etc', readOnly: true }, { name: 'scratch', mountPath: '/tmp' }],
            securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: '../p.json' } },
          },
        ],
      }),
    );
    it('lists every field it does not apply, by path', () => {
      assert.deepEqual(notCarried.sort(), [
        'spec.containers[0].env[1].valueFrom (B)',
        'spec.containers[0].livenessProbe',
        'spec.containers[0].securityContext.seccompProfile (Localhost "../p.json": a relative path without ".." is needed)',
        'spec.containers[0].volumeMounts[1] (scratch: not a hostPath volume)',
        'spec.restartPolicy',
        'spec.volumes[1] (scratch: only hostPath volumes)',
      ]);
    });
    it('still applies what it can', () => {
      assert.deepEqual(spec.containers[0]?.mounts, [{ hostPath: '/etc', containerPath: '/host/etc', readonly: true }]);
      assert.deepEqual(spec.containers[0]?.env, { A: '1' });
    });
  });

  describe('a seccomp profile', () => {
    const pod = (podProfile?: string, containerProfile?: string): V1Pod => ({
      metadata: { name: 'p', namespace: 'ns' },
      spec: {
        ...(podProfile ? { securityContext: { seccompProfile: { type: podProfile } } } : {}),
        containers: [{ name: 'c', image: 'img:1', ...(containerProfile ? { securityContext: { seccompProfile: { type: containerProfile } } } : {}) }],
      },
    });
    it("is the pod's when the container names none, and the container's when it does", () => {
      assert.equal(criPodOf(pod('RuntimeDefault')).spec.containers[0]?.seccomp, 'RuntimeDefault');
      assert.equal(criPodOf(pod('RuntimeDefault', 'Unconfined')).spec.containers[0]?.seccomp, 'Unconfined');
      assert.equal(criPodOf(pod()).spec.containers[0]?.seccomp, undefined);
      assert.deepEqual(criPodOf(pod('RuntimeDefault')).notCarried, []);
    });
    it("is Localhost with the file under the kubelet's seccomp root, as the kubelet joins it", () => {
      const localhost: V1Pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [{ name: 'c', image: 'img:1', securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'integrity-lab/./agent.json' } } }] } };
      const { spec, notCarried } = criPodOf(localhost);
      assert.deepEqual(spec.containers[0]?.seccomp, { localhost: '/var/lib/kubelet/seccomp/integrity-lab/agent.json' });
      assert.deepEqual(notCarried, []);
    });
  });
  describe('when a container has no image', () => {
    it('fails naming the container', () => {
      assert.throws(() => criPodOf(pod({ containers: [{ name: 'web' }] })), /spec\.containers\[0\] \(web\): has no image/);
    });
  });
});
