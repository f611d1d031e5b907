import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeAdmissionObject, type AdmissionObject } from '../pod.ts';
import type { OperationPolicies } from '../schema.ts';
import { defaultPullPolicy, operationPolicyViolations } from './operation-policy.ts';

function obj(value: Record<string, unknown>): AdmissionObject {
  const d = decodeAdmissionObject(value);
  if (!d.ok) throw new Error(d.reason);
  return d.object;
}
const pod = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p' }) => obj({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
const c = (extra: Record<string, unknown> = {}) => ({ name: 'app', image: 'registry.deckhouse.io/app:1', ...extra });

const CASES: [string, OperationPolicies, AdmissionObject, AdmissionObject, string][] = [
  ['allowedRepos', { allowedRepos: ['registry.deckhouse.io'] }, pod({ containers: [c()] }), pod({ initContainers: [c({ name: 'init', image: 'evil.io/x:1' })], containers: [c()] }), 'container <init> has an invalid image repo <evil.io/x:1>, allowed repos are ["registry.deckhouse.io"]'],
  ['disallowedImageTags', { disallowedImageTags: ['latest'] }, pod({ containers: [c({ image: 'registry.deckhouse.io/app@sha256:' + 'b'.repeat(64) })] }), pod({ containers: [c({ image: 'registry.deckhouse.io/app:latest' })] }), 'uses a disallowed tag <registry.deckhouse.io/app:latest>'],
  ['requiredResources', { requiredResources: { limits: ['memory'], requests: ['cpu'] } }, pod({ containers: [c({ resources: { limits: { memory: '1Gi' }, requests: { cpu: 1 } } })] }), pod({ containers: [c({ resources: { limits: { memory: '1Gi' } } })] }), 'does not have <cpu> requests defined'],
  ['disallowedCustomResources', { disallowedCustomResources: ['nvidia.com/*'] }, pod({ containers: [c({ resources: { limits: { cpu: 1 } } })] }), pod({ containers: [c({ resources: { limits: { 'nvidia.com/gpu': 1 } } })] }), 'disallowed resource <nvidia.com/gpu>'],
  ['requiredProbes', { requiredProbes: ['readinessProbe'] }, pod({ containers: [c({ readinessProbe: { exec: { command: ['true'] } } })] }), pod({ containers: [c()] }), 'Container <app> in your <Pod> <p> has no <readinessProbe>'],
  ['imagePullPolicy', { imagePullPolicy: 'Always' }, pod({ containers: [c({ image: 'registry.deckhouse.io/app' })] }), pod({ containers: [c({ imagePullPolicy: 'Never' })] }), 'imagePullPolicy <Never>, required <Always>'],
  ['priorityClassNames', { priorityClassNames: ['production-high'] }, pod({ priorityClassName: 'production-high', containers: [c()] }), pod({ priorityClassName: 'best-effort', containers: [c()] }), 'priorityClassName <best-effort>'],
  ['checkHostNetworkDNSPolicy', { checkHostNetworkDNSPolicy: true }, pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet', containers: [c()] }), pod({ hostNetwork: true, containers: [c()] }), 'must be <ClusterFirstWithHostNet>'],
  ['checkContainerDuplicates', { checkContainerDuplicates: true }, pod({ containers: [c({ env: [{ name: 'A' }, { name: 'B' }] })] }), pod({ containers: [c({ env: [{ name: 'A' }, { name: 'A' }] })] }), 'duplicate env variable <A>'],
  ['disallowedTolerations', { disallowedTolerations: [{ key: 'node-role.kubernetes.io/control-plane' }] }, pod({ tolerations: [{ key: 'dedicated', operator: 'Exists' }], containers: [c()] }), pod({ tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }], containers: [c()] }), 'is not allowed'],
  ['requiredLabels', { requiredLabels: { labels: [{ key: 'app', allowedRegex: '^[a-z]+$' }] } }, pod({ containers: [c()] }, { name: 'p', labels: { app: 'web' } }), pod({ containers: [c()] }, { name: 'p', labels: { app: 'Web1' } }), 'does not satisfy allowed regex'],
  ['requiredAnnotations', { requiredAnnotations: { annotations: [{ key: 'owner' }] } }, pod({ containers: [c()] }, { name: 'p', annotations: { owner: 'me' } }), pod({ containers: [c()] }), 'you must provide annotation <owner>'],
];

describe('operationPolicyViolations', () => {
  describe('when allowedRepos names a registry without a trailing slash', () => {
    it('refuses a host that merely starts with the same text (the shipped policy)', () => {
      const v = operationPolicyViolations({ allowedRepos: ['registry.deckhouse.io'] }, pod({ containers: [c({ image: 'registry.deckhouse.io.evil.example/miner:1.0' })] }));
      assert.deepEqual(v, ['container <app> has an invalid image repo <registry.deckhouse.io.evil.example/miner:1.0>, allowed repos are ["registry.deckhouse.io"]']);
    });
  });
  describe('when the pod mounts an image volume', () => {
    const p = pod({ containers: [c()], volumes: [{ name: 'tools', image: { reference: 'evil.io/tools:latest' } }] });
    it('checks its reference against allowedRepos, disallowedImageTags and imagePullPolicy', () => {
      assert.deepEqual(operationPolicyViolations({ allowedRepos: ['registry.deckhouse.io'] }, p), ['volume <tools> has an invalid image repo <evil.io/tools:latest>, allowed repos are ["registry.deckhouse.io"]']);
      assert.match(operationPolicyViolations({ disallowedImageTags: ['latest'] }, p)[0] ?? '', /^volume <tools> uses a disallowed tag/);
      assert.match(operationPolicyViolations({ imagePullPolicy: 'IfNotPresent' }, p)[0] ?? '', /^volume <tools> has imagePullPolicy <Always> \(defaulted\)/);
    });
    it('refuses an image volume with no reference', () => {
      const none = pod({ containers: [c()], volumes: [{ name: 'tools', image: {} }] });
      assert.equal(operationPolicyViolations({ allowedRepos: ['registry.deckhouse.io'] }, none).length, 1);
    });
  });
  for (const [field, policy, good, bad, text] of CASES) {
    describe(`when ${field} is set`, () => {
      it('admits a conforming object', () => assert.deepEqual(operationPolicyViolations(policy, good), []));
      it('refuses an object that breaks it', () => {
        const v = operationPolicyViolations(policy, bad);
        assert.ok(v.some((m) => m.includes(text)), `expected ${JSON.stringify(text)} in ${JSON.stringify(v)}`);
      });
    });
  }

  describe('when the object is a workload', () => {
    const deployment = (spec: Record<string, unknown>) => obj({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { containers: [c()] } }, ...spec } });
    it('checks maxRevisionHistoryLimit with the API default of 10', () => {
      assert.deepEqual(operationPolicyViolations({ maxRevisionHistoryLimit: 3 }, deployment({ revisionHistoryLimit: 2 })), []);
      assert.match(operationPolicyViolations({ maxRevisionHistoryLimit: 3 }, deployment({}))[0] ?? '', /revisionHistoryLimit <10> \(defaulted\)/);
    });
    it('checks replicaLimits', () => {
      assert.match(operationPolicyViolations({ replicaLimits: { maxReplicas: 3 } }, deployment({ replicas: 5 }))[0] ?? '', /5 replicas/);
    });
    it('does not apply them to pods', () => {
      assert.deepEqual(operationPolicyViolations({ maxRevisionHistoryLimit: 0, replicaLimits: { minReplicas: 5 } }, pod({ containers: [c()] })), []);
    });
  });

  describe('when requiredLabels watches other kinds', () => {
    it('ignores a Pod', () => {
      assert.deepEqual(operationPolicyViolations({ requiredLabels: { labels: [{ key: 'app' }], watchKinds: ['apps/Deployment'] } }, pod({ containers: [c()] })), []);
    });
  });
});

describe('defaultPullPolicy', () => {
  describe('when the API server would default it', () => {
    it('is Always for latest or no tag and IfNotPresent otherwise', () => {
      assert.deepEqual(['app', 'app:latest', 'app:1', `app@sha256:${'c'.repeat(64)}`].map(defaultPullPolicy), ['Always', 'Always', 'IfNotPresent', 'IfNotPresent']);
    });
  });
});
