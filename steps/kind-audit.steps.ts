/**
 * The audit engine on a kind cluster: which node's daemon raised an alert,
 * and k8s_audit alerts raised from kube-apiserver's own audit events (the
 * control-plane daemon reads the apiserver's log).
 */
import assert from 'node:assert/strict';
import { Given, Then } from '@cucumber/cucumber';
import { readFile } from 'node:fs/promises';
import { aboutTheAttack } from '../lab/attacks/index.ts';
import { alertDetection, auditAlerts, awaitAuditAlerts, loadAuditRules, type Alert } from '../lab/audit/index.ts';
import { UPSTREAM_K8S_AUDIT_RULES } from '../lab/kind/apiserver-audit.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';
import { kindOf } from './support/substrate.ts';

function cluster(world: LabWorld) {
  const kind = kindOf(world);
  assert.ok(kind, 'this step needs a kind cluster: use `Given a kind cluster with the … profile`');
  return kind.cluster;
}

function attachAlerts(world: LabWorld, name: string, alerts: readonly Alert[]): void {
  world.attach(alerts.map((a) => JSON.stringify(a)).join('\n') + '\n', { mediaType: 'application/x-ndjson', fileName: `${name}.jsonl` });
}

// Loads lab/audit/fixtures/k8saudit/k8s_audit_rules.yaml (Falco's own file, unchanged) into every node's running engine, after the rules in force.
Given('Falco\'s upstream k8s_audit rules are loaded into the audit engine', async function (this: LabWorld) {
  const content = await readFile(UPSTREAM_K8S_AUDIT_RULES, 'utf8');
  for (const node of cluster(this).nodes) {
    const result = await loadAuditRules(node, [{ name: 'k8s_audit_rules.yaml', content }]);
    assert.ok(result.ok, `Falco's k8s_audit rules did not load on ${node.name}: ${result.error?.message}`);
  }
});

// Checks: the audit daemon of the node of that role (its own alert log, hostname = the node's name) raised an alert of exactly this rule (after an attack, one about the attacked container, not the harness's own commands); the daemons of the other nodes raised none.
Then('the audit rule {string} raised an alert on the {word} node', async function (this: LabWorld, rule: string, role: string) {
  const nodes = cluster(this).nodes;
  const there = nodes.filter((n) => n.role === role);
  assert.ok(there.length > 0, `the cluster has no ${role} node: ${nodes.map((n) => `${n.name} (${n.role})`).join(', ')}`);
  const alerts = await awaitAuditAlerts(there, new Date(0), { rule });
  attachAlerts(this, `audit-alerts-${role}`, alerts);
  assert.ok(alerts.length > 0, `no alert of rule "${rule}" from the audit daemon of ${there.map((n) => n.name).join(', ')}`);
  for (const a of alerts) assert.ok(there.some((n) => n.name === a.hostname), `alert of "${rule}" names host ${a.hostname}, not a ${role} node`);
  const attack = this.lastAttack?.observation;
  if (attack) assert.ok(alerts.some((a) => aboutTheAttack(alertDetection(a), attack)), `no alert of rule "${rule}" is about the attack on ${attack.target.pods.join(', ')}: ${alerts.map((a) => a.output).join(' | ')}`);
  const elsewhere = (await Promise.all(nodes.filter((n) => n.role !== role).map((n) => auditAlerts(n)))).flat().filter((a) => a.rule === rule);
  assert.deepEqual(elsewhere.map((a) => `${a.hostname}: ${a.output}`), [], 'the rule fired on a node the container does not run on');
});

// Checks: the control plane's audit daemon raised an alert of exactly this rule for the namespace (ka.target.namespace) naming a requesting user (ka.user.name: only the apiserver's own event carries one, the webhook's decision record does not), and the apiserver's audit log holds a create of the workload's pod by that user.
Then('the audit rule {string} raised an alert on kube-apiserver\'s own audit event for {workload} in the namespace {string}', async function (this: LabWorld, rule: string, workload: Workload, namespace: string) {
  const c = cluster(this);
  const fired = (await awaitAuditAlerts(c.controlPlane, new Date(0), { rule, graceMs: 15_000 })).filter((a) => a.output_fields['ka.target.namespace'] === namespace);
  attachAlerts(this, 'audit-alerts-k8s_audit', fired);
  const byUser = fired.filter((a) => typeof a.output_fields['ka.user.name'] === 'string' && a.output_fields['ka.user.name'] !== '');
  assert.ok(byUser.length > 0, `no alert of "${rule}" in ${namespace} naming a user from the control plane's audit daemon; alerts of the rule there: ${fired.map((a) => a.output).join(' | ') || 'none'}`);
  const user = byUser[0]!.output_fields['ka.user.name'] as string;
  const events = (await c.apiServerAuditLog()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { verb?: string; user?: { username?: string }; objectRef?: { resource?: string; namespace?: string; name?: string } });
  const create = events.find((e) => e.verb === 'create' && e.objectRef?.resource === 'pods' && e.objectRef.namespace === namespace && e.objectRef.name === workload.metadata.name && e.user?.username === user);
  assert.ok(create, `kube-apiserver's audit log has no create of pod ${namespace}/${workload.metadata.name} by ${user}`);
  this.attachJson('kube-apiserver-audit-event', create);
});
