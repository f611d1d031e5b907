import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import type { SpecError } from './loader.ts';
import { loadScenariosWith } from './test-catalog.ts';
import { manifestOfWorkload, podOfWorkload } from './pod.ts';
import type { Workload } from './schemas.ts';

const IMAGE = '127.0.0.1:5000/lab/web:1.0';

const head = `apiVersion: integrity-lab.io/v1alpha1
kind: Workload
metadata:
  name: extra
spec:
  namespace: apps
  image:
    repository: lab/web
    tag: "1.0"
    layers: [{ busybox: true }]
    entrypoint: [/bin/sh]
`;

function loadWithWorkload(yaml: string): Promise<SpecError | undefined> {
  return loadScenariosWith('workloads', 'zz-extra.yaml', yaml);
}

function workload(yaml: string): Workload {
  return parse(head + yaml) as Workload;
}

describe('loadCatalog on a Workload with an embedded pod', () => {
  describe('when the pod is a valid Kubernetes pod template', () => {
    it('loads', async () => {
      assert.equal(await loadWithWorkload(head + '  pod:\n    spec:\n      containers: [{ name: web, ports: [{ containerPort: 80, hostPort: 8080 }] }]\n'), undefined);
    });
  });
  for (const [name, yaml, code, pattern] of [
    ['a field has the wrong type', '  pod:\n    spec:\n      containers:\n        - name: web\n          ports: [{ containerPort: eighty }]\n', 'SPEC_KUBERNETES', /zz-extra\.yaml:16:\d+: spec\.pod\.spec\.containers\.0\.ports\.0\.containerPort: should be of type integer \(Kubernetes core\/v1 PodTemplateSpec schema\), got "eighty"/],
    ['a quantity is not one', '  pod:\n    spec:\n      containers:\n        - name: web\n          resources: { limits: { memory: lots } }\n', 'SPEC_KUBERNETES', /spec\.pod\.spec\.containers\.0\.resources\.limits\.memory: should be a Kubernetes quantity .*got "lots"/],
    ['a container has no name', '  pod:\n    spec:\n      containers: [{ ports: [] }]\n', 'SPEC_KUBERNETES', /spec\.pod\.spec\.containers\.0\.name: is required/],
    ['a field is misspelt', '  pod:\n    spec:\n      containers:\n        - name: web\n          livenesProbe: { tcpSocket: { port: 80 } }\n', 'SPEC_KUBERNETES', /zz-extra\.yaml:16:\d+: spec\.pod\.spec\.containers\.0\.livenesProbe: is not a field of Kubernetes v1 Container/],
    ['a Deployment template has a bad field', '  manifest:\n    apiVersion: apps/v1\n    kind: Deployment\n    spec:\n      selector: { matchLabels: { a: b } }\n      template:\n        spec:\n          containers: [{ name: web, imagePullPolicy: 3 }]\n', 'SPEC_KUBERNETES', /spec\.manifest\.spec\.template\.spec\.containers\.0\.imagePullPolicy: should be of type string \(Kubernetes apps\/v1 Deployment schema\)/],
    ['every container names its own image', '  pod:\n    spec:\n      containers: [{ name: web, image: other:1 }]\n', 'SPEC_SEMANTIC', /spec\.pod\.spec\.containers: no container runs the image the lab builds/],
    ['a shorthand field is given with a pod', '  privileged: true\n  pod:\n    spec:\n      containers: [{ name: web }]\n', 'SPEC_SEMANTIC', /spec\.privileged: not with spec\.pod/],
    ['both pod and manifest are given', '  pod:\n    spec: { containers: [{ name: web }] }\n  manifest:\n    apiVersion: v1\n    kind: Pod\n    spec: { containers: [{ name: web }] }\n', 'SPEC_SEMANTIC', /give either spec\.pod or spec\.manifest, not both/],
    ['the manifest is another kind', '  manifest:\n    apiVersion: v1\n    kind: Service\n    spec: {}\n', 'SPEC_KUBERNETES', /spec\.manifest\.kind: should be "Pod" \(v1\) or "Deployment" \(apps\/v1\), got "Service"/],
    ['the manifest is in another namespace', '  manifest:\n    apiVersion: v1\n    kind: Pod\n    metadata: { namespace: kube-system }\n    spec: { containers: [{ name: web }] }\n', 'SPEC_SEMANTIC', /spec\.manifest\.metadata\.namespace: is "kube-system" but the workload's spec\.namespace is "apps"/],
  ] as const) {
    describe(`when ${name}`, () => {
      it(`fails with ${code} at the field`, async () => {
        const err = await loadWithWorkload(head + yaml);
        assert.ok(err, 'the workload was accepted');
        assert.equal(err.code, code);
        assert.match(err.message, pattern);
      });
    });
  }
});

describe('podOfWorkload', () => {
  describe('when the workload uses the shorthand fields', () => {
    it('gives one container named after the workload, with hostPath volumes', () => {
      const pod = podOfWorkload(workload('  privileged: true\n  hostPathMounts: [{ hostPath: /etc, containerPath: /host/etc, readOnly: true }]\n'), IMAGE);
      assert.deepEqual(pod, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'extra', namespace: 'apps' },
        spec: {
          containers: [{ name: 'extra', image: IMAGE, securityContext: { privileged: true }, volumeMounts: [{ name: 'host-0-0', mountPath: '/host/etc', readOnly: true }] }],
          volumes: [{ name: 'host-0-0', hostPath: { path: '/etc' } }],
        },
      });
    });
  });
  describe('when the workload embeds a pod template', () => {
    it('fills the lab image into containers without one, keeps labels and every other field', () => {
      const w = workload('  pod:\n    metadata: { labels: { app: web } }\n    spec:\n      initContainers: [{ name: init }]\n      containers:\n        - { name: web, ports: [{ containerPort: 80, hostPort: 8080 }], readinessProbe: { tcpSocket: { port: 80 } } }\n        - { name: side, image: "127.0.0.1:5000/lab/side:1" }\n');
      const pod = podOfWorkload(w, IMAGE);
      assert.deepEqual(pod.metadata, { labels: { app: 'web' }, name: 'extra', namespace: 'apps' });
      assert.deepEqual(pod.spec?.containers.map((c) => c.image), [IMAGE, '127.0.0.1:5000/lab/side:1']);
      assert.equal(pod.spec?.initContainers?.[0]?.image, IMAGE);
      assert.deepEqual(pod.spec?.containers[0]?.readinessProbe, { tcpSocket: { port: 80 } });
      assert.equal(w.spec.pod?.spec?.containers[0]?.image, undefined, 'the workload itself is not modified');
    });
  });
  describe('when the workload embeds a Deployment', () => {
    const w = workload('  manifest:\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: { name: web-deploy }\n    spec:\n      replicas: 3\n      selector: { matchLabels: { app: web } }\n      template:\n        metadata: { labels: { app: web } }\n        spec: { containers: [{ name: web }] }\n');
    it('runs one pod of its template, named after the workload', () => {
      const pod = podOfWorkload(w, IMAGE);
      assert.equal(pod.kind, 'Pod');
      assert.deepEqual(pod.metadata, { labels: { app: 'web' }, name: 'extra', namespace: 'apps' });
      assert.equal(pod.spec?.containers[0]?.image, IMAGE);
    });
    it('sends the Deployment itself to an apiserver, image filled in', () => {
      const m = manifestOfWorkload(w, IMAGE);
      assert.equal(m.kind, 'Deployment');
      assert.deepEqual(m.metadata, { name: 'web-deploy', namespace: 'apps' });
      assert.equal((m as { spec: { replicas: number } }).spec.replicas, 3);
      assert.equal((m as { spec: { template: { spec: { containers: { image: string }[] } } } }).spec.template.spec.containers[0]?.image, IMAGE);
    });
  });
});
