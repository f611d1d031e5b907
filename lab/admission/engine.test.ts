import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionEngine, createEngine, DecisionLog } from './engine.ts';
import { loadLabStateFromTexts } from './loader.ts';
import { decodeAdmissionObject, type AdmissionObject } from './pod.ts';
import type { Policy, Violation } from './types.ts';
import { StaticImageVerifier } from './verifiers.ts';

function pod(spec: Record<string, unknown>, name = 'p'): AdmissionObject {
  const d = decodeAdmissionObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec });
  if (!d.ok) throw new Error(d.reason);
  return d.object;
}
const fixed = () => new Date('2030-01-02T03:04:05Z');
const fixedPolicy = (name: string, violations: Violation[]): Policy => ({ name, evaluate: () => violations });

const state = loadLabStateFromTexts([
  {
    file: 'ns.yaml',
    text: [
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: kube-system, labels: { security.deckhouse.io/pod-policy: privileged } }',
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: dry, labels: { security.deckhouse.io/pod-policy: restricted, security.deckhouse.io/pod-policy-action: dryrun } }',
    ].join('\n---\n'),
  },
]);

describe('AdmissionEngine.review', () => {
  describe('when a kube-system pod with a signed image mounts an unsigned image volume', () => {
    it('denies it, and the decision record lists the volume\'s image', async () => {
      const log = new DecisionLog();
      const engine = createEngine(state, { imageVerifier: new StaticImageVerifier(['registry.deckhouse.io/kube/coredns:v1.11.1']), now: fixed });
      engine.onDecision(log.listener);
      const object = pod({ containers: [{ name: 'c', image: 'registry.deckhouse.io/kube/coredns:v1.11.1' }], volumes: [{ name: 'v', image: { reference: 'unlisted.example/tools:1' } }] });
      const d = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'kube-system', object });
      assert.equal(d.allowed, false);
      assert.match(d.message ?? '', /Image signature verification failed: unlisted\.example\/tools:1/);
      assert.deepEqual(log.records[0]?.images, ['registry.deckhouse.io/kube/coredns:v1.11.1', 'unlisted.example/tools:1']);
    });
  });

  describe('when a policy throws', () => {
    it('denies with code 500 instead of admitting', async () => {
      const engine = new AdmissionEngine({
        policies: [{ name: 'broken', evaluate: () => { throw new Error('boom'); } }],
        namespaces: new Map(),
      });
      const d = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'apps', object: pod({ containers: [{ name: 'a', image: 'x' }] }) });
      assert.equal(d.allowed, false);
      assert.equal(d.code, 500);
      assert.match(d.message ?? '', /\[broken\] internal error .* boom/);
    });
    it('denies when a policy returns something that is not a list', async () => {
      const engine = new AdmissionEngine({ policies: [{ name: 'odd', evaluate: () => undefined as unknown as Violation[] }], namespaces: new Map() });
      const d = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'apps', object: pod({ containers: [{ name: 'a', image: 'x' }] }) });
      assert.equal(d.allowed, false);
    });
  });

  describe('when violations come in several modes', () => {
    it('denies on deny, turns warn into warnings and only records dryrun', async () => {
      const log = new DecisionLog();
      const engine = new AdmissionEngine({
        policies: [
          fixedPolicy('w', [{ policy: 'w', mode: 'warn', message: '[w] careful' }]),
          fixedPolicy('d', [{ policy: 'd', mode: 'dryrun', message: '[d] noted' }]),
        ],
        namespaces: new Map(),
        now: fixed,
      });
      engine.onDecision(log.listener);
      const d = await engine.review({ uid: 'u1', operation: 'CREATE', namespace: 'apps', object: pod({ containers: [{ name: 'a', image: 'img:1' }] }) });
      assert.deepEqual({ allowed: d.allowed, warnings: d.warnings }, { allowed: true, warnings: ['[w] careful'] });
      assert.equal(log.records.length, 1);
      assert.deepEqual(
        { ...log.records[0], violations: log.records[0]?.violations.length },
        { time: '2030-01-02T03:04:05.000Z', uid: 'u1', operation: 'CREATE', namespace: 'apps', kind: 'Pod', name: 'p', images: ['img:1'], policy: 'w', action: 'warn', outcome: 'admitted', violations: 2 },
      );
    });
  });

  describe('when a listener throws', () => {
    it('still answers', async () => {
      const engine = new AdmissionEngine({ policies: [], namespaces: new Map() });
      engine.onDecision(() => { throw new Error('listener bug'); });
      const d = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'apps', object: pod({ containers: [{ name: 'a', image: 'x' }] }) });
      assert.equal(d.allowed, true);
    });
  });
});

describe('createEngine', () => {
  describe('when a pod in kube-system runs an image without attached signature', () => {
    it('refuses it with the Deckhouse message, whatever the PSS level', async () => {
      const engine = createEngine(state, { imageVerifier: new StaticImageVerifier(['signed:1']) });
      const d = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'kube-system', object: pod({ containers: [{ name: 'a', image: 'signed:1' }, { name: 'b', image: 'nginx:1.17.2' }] }) });
      assert.equal(d.allowed, false);
      assert.equal(d.message, '[verify-image-signatures] Image signature verification failed: nginx:1.17.2: no valid attached signature');
    });
  });

  describe('when no verifier is wired', () => {
    it('fails closed in protected namespaces', async () => {
      const d = await createEngine(state).review({ uid: 'u', operation: 'CREATE', namespace: 'd8-anything', object: pod({ containers: [{ name: 'a', image: 'x:1' }] }) });
      assert.equal(d.allowed, false);
      assert.match(d.message ?? '', /no attached-signature verifier is configured/);
    });
  });

  describe('when the namespace is in dryrun mode', () => {
    it('admits and records the would-be denial', async () => {
      const log = new DecisionLog();
      const engine = createEngine(state, { now: fixed });
      engine.onDecision(log.listener);
      const d = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'dry', object: pod({ containers: [{ name: 'a', image: 'x:1', securityContext: { privileged: true } }] }) });
      assert.deepEqual({ allowed: d.allowed, warnings: d.warnings }, { allowed: true, warnings: [] });
      assert.deepEqual([log.records[0]?.policy, log.records[0]?.action, log.records[0]?.outcome], ['pod-security-standards', 'dryrun', 'admitted']);
      assert.match(log.records[0]?.violations[0]?.message ?? '', /would violate PodSecurity "restricted:latest"/);
    });
  });
});
