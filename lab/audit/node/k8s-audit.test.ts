import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, loadLabState, type DecisionRecord } from '../../admission/index.ts';
import { AuditEngine } from '../engine.ts';
import { k8sAuditField } from '../k8saudit.ts';
import { decisionToK8sAuditEvent } from './k8s-audit.ts';

const ROOT = join(import.meta.dirname, '../../..');
const deniedRule = { name: 'k8s-denied-pods.yaml', content: readFileSync(join(ROOT, 'scenarios/audit-rules/k8s-denied-pods.yaml'), 'utf8') };

const privilegedPod = {
  apiVersion: 'v1',
  kind: 'Pod' as const,
  metadata: { name: 'privileged-tool', namespace: 'baseline-ns' },
  spec: {
    containers: [{ name: 'privileged-tool', image: '127.0.0.1:5000/lab/tool:1.0', securityContext: { privileged: true } }],
    volumes: [{ name: 'etc', hostPath: { path: '/etc' } }],
  },
};

/** A decision record as lab/admission's own engine makes it, over the scenario policies. */
async function decide(object: typeof privilegedPod, namespace: string): Promise<DecisionRecord> {
  const engine = createEngine(await loadLabState(join(ROOT, 'scenarios/policies')), { now: () => new Date('2026-11-22T12:00:00.123Z') });
  const records: DecisionRecord[] = [];
  engine.onDecision((r) => records.push(r));
  await engine.review({ uid: 'u-1', operation: 'CREATE', namespace, object });
  assert.equal(records.length, 1);
  return records[0]!;
}

describe('decisionToK8sAuditEvent', () => {
  describe('when lab/admission denies a privileged pod (a record from its engine)', async () => {
    const record = await decide(privilegedPod, 'baseline-ns');
    const event = decisionToK8sAuditEvent(record, privilegedPod);
    const f = (name: string) => k8sAuditField(event, name);
    it('gives the k8saudit fields of a refused create', () => {
      assert.equal(record.outcome, 'denied');
      assert.equal(event.source, 'k8s_audit');
      assert.equal(f('ka.verb'), 'create');
      assert.equal(f('ka.uri'), '/api/v1/namespaces/baseline-ns/pods');
      assert.equal(f('ka.target.resource'), 'pods');
      assert.equal(f('ka.target.name'), 'privileged-tool');
      assert.equal(f('ka.response.code'), '403');
      assert.equal(event['evt.time'], '2026-11-22T12:00:00.123000000Z');
      assert.deepEqual(f('ka.req.pod.containers.image'), ['127.0.0.1:5000/lab/tool:1.0']);
      assert.deepEqual(f('ka.req.pod.containers.privileged'), ['true']);
      assert.deepEqual(f('ka.req.pod.volumes.hostpath'), ['/etc']);
    });
    it('makes the scenario rule "Pod creation denied by admission" fire', () => {
      const e = new AuditEngine({ hostname: 'lab' });
      e.load([deniedRule]);
      const alerts = e.evaluate(event);
      assert.deepEqual(alerts.map((a) => a.rule), ['Pod creation denied by admission']);
      assert.equal(alerts[0]!.source, 'k8s_audit');
    });
  });
  describe('when Falco\'s own k8s_audit rules are loaded', async () => {
    const record = await decide(privilegedPod, 'baseline-ns');
    it('fires the upstream pod rules on the decision, as on a real API server event', () => {
      const e = new AuditEngine({ hostname: 'lab' });
      e.load([{ name: 'k8s_audit_rules.yaml', content: readFileSync(join(ROOT, 'lab/audit/fixtures/k8saudit/k8s_audit_rules.yaml'), 'utf8') }]);
      const fired = e.evaluate(decisionToK8sAuditEvent(record, privilegedPod)).map((a) => a.rule);
      assert.ok(fired.includes('Create Privileged Pod'), fired.join(', '));
      assert.ok(fired.includes('Create Sensitive Mount Pod'), fired.join(', '));
    });
  });
  describe('when admission admits the pod', async () => {
    const ordinary = { ...privilegedPod, metadata: { name: 'app', namespace: 'apps' }, spec: { containers: [{ name: 'app', image: '127.0.0.1:5000/lab/app:1.0' }] } };
    const record = await decide(ordinary as typeof privilegedPod, 'apps');
    it('reports 201 and the rule stays quiet', () => {
      const event = decisionToK8sAuditEvent(record);
      const f = (name: string) => k8sAuditField(event, name);
      assert.equal(f('ka.response.code'), '201');
      assert.deepEqual(f('ka.req.pod.containers.image'), ['127.0.0.1:5000/lab/app:1.0'], 'the record names the images');
      assert.deepEqual(f('ka.req.pod.containers.privileged'), [], 'without the object, no securityContext is known');
      const e = new AuditEngine({ hostname: 'lab' });
      e.load([deniedRule]);
      assert.deepEqual(e.evaluate(event), []);
    });
  });
  describe('when the object is a workload', () => {
    it('names its resource; like the k8saudit plugin, ka.req.pod.* read a Pod spec only, not a template', () => {
      const record: DecisionRecord = { time: '2026-11-22T12:00:00Z', uid: 'u', operation: 'UPDATE', namespace: 'apps', kind: 'Deployment', name: 'web', images: ['x'], policy: 'none', action: 'allow', outcome: 'admitted', violations: [] };
      const event = decisionToK8sAuditEvent(record, { kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } });
      const f = (name: string) => k8sAuditField(event, name);
      assert.equal(f('ka.uri'), '/apis/apps/v1/namespaces/apps/deployments/web');
      assert.equal(f('ka.verb'), 'update');
      assert.equal(f('ka.response.code'), '200');
      assert.equal(f('ka.req.pod.containers.privileged'), undefined);
      assert.equal(f('jevt.value[/requestObject/spec/template/spec/containers/0/image]'), 'x');
    });
  });
});
