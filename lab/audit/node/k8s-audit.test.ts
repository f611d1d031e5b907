import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine, loadLabState, type DecisionRecord } from '../../admission/index.ts';
import { AuditEngine } from '../engine.ts';
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
    it('gives the k8saudit fields of a refused create', () => {
      assert.equal(record.outcome, 'denied');
      assert.equal(event.source, 'k8s_audit');
      assert.equal(event['ka.verb'], 'create');
      assert.equal(event['ka.uri'], '/api/v1/namespaces/baseline-ns/pods');
      assert.equal(event['ka.target.resource'], 'pods');
      assert.equal(event['ka.target.name'], 'privileged-tool');
      assert.equal(event['ka.response.code'], '403');
      assert.equal(event['evt.time'], '2026-11-22T12:00:00.123000000Z');
      assert.deepEqual(event['ka.req.pod.containers.image'], ['127.0.0.1:5000/lab/tool:1.0']);
      assert.deepEqual(event['ka.req.pod.containers.privileged'], ['true']);
      assert.deepEqual(event['ka.req.pod.volumes.hostpath'], ['/etc']);
    });
    it('makes the scenario rule "Pod creation denied by admission" fire', () => {
      const e = new AuditEngine({ hostname: 'lab' });
      e.load([deniedRule]);
      const alerts = e.evaluate(event);
      assert.deepEqual(alerts.map((a) => a.rule), ['Pod creation denied by admission']);
      assert.equal(alerts[0]!.source, 'k8s_audit');
    });
  });
  describe('when admission admits the pod', async () => {
    const ordinary = { ...privilegedPod, metadata: { name: 'app', namespace: 'apps' }, spec: { containers: [{ name: 'app', image: '127.0.0.1:5000/lab/app:1.0' }] } };
    const record = await decide(ordinary as typeof privilegedPod, 'apps');
    it('reports 201 and the rule stays quiet', () => {
      const event = decisionToK8sAuditEvent(record);
      assert.equal(event['ka.response.code'], '201');
      assert.equal(event['ka.req.pod.containers.privileged'], undefined, 'without the object, the spec is unknown');
      const e = new AuditEngine({ hostname: 'lab' });
      e.load([deniedRule]);
      assert.deepEqual(e.evaluate(event), []);
    });
  });
  describe('when the object is a workload', () => {
    it('names its resource and reads the pod template', () => {
      const record: DecisionRecord = { time: '2026-11-22T12:00:00Z', uid: 'u', operation: 'UPDATE', namespace: 'apps', kind: 'Deployment', name: 'web', images: ['x'], policy: 'none', action: 'allow', outcome: 'admitted', violations: [] };
      const event = decisionToK8sAuditEvent(record, { kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } });
      assert.equal(event['ka.uri'], '/apis/apps/v1/namespaces/apps/deployments/web');
      assert.equal(event['ka.verb'], 'update');
      assert.equal(event['ka.response.code'], '200');
      assert.deepEqual(event['ka.req.pod.containers.privileged'], ['false']);
    });
  });
});
