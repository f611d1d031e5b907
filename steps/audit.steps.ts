/**
 * The audit detection layer on a lab's nodes (the lab node, or every node
 * of a kind cluster, each with its own daemon): scenario rules loaded into
 * the running engines, alerts asserted by rule and attached as Falco JSON
 * lines, and what the lab leaves in the kernel after teardown.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { After, Given, Status, Then, When } from '@cucumber/cucumber';
import { aboutTheAttack } from '../lab/attacks/index.ts';
import {
  alertDetection,
  auditAlerts,
  auditIdsOf,
  auditImageOf,
  auditStatus,
  awaitAuditAlerts,
  hasAudit,
  labKey,
  loadAuditRules,
  loadScenarioRules,
  parseRuleList,
  readKernelAuditState,
  rulesOfAuditIds,
  type Alert,
  type ReloadResult,
} from '../lab/audit/index.ts';
import type { LabNodeHandle } from '../lab/node/index.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import { sleep } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';
import { PROJECT_ROOT } from './support/state.ts';
import { labNodes, nodeOf, stopLab } from './support/substrate.ts';

const SCENARIOS = join(PROJECT_ROOT, 'scenarios');

function attachAlerts(world: LabWorld, alerts: readonly Alert[]): void {
  world.attach(alerts.map((a) => JSON.stringify(a)).join('\n') + '\n', { mediaType: 'application/x-ndjson', fileName: 'audit-alerts.jsonl' });
}

/** Every node's alerts (since a time), in time order. */
async function alertsOf(nodes: readonly LabNodeHandle[], since?: Date): Promise<Alert[]> {
  return (await Promise.all(nodes.map((n) => auditAlerts(n, since)))).flat().sort((a, b) => a.time.localeCompare(b.time));
}

/** Loads the rules into every node's engine; the first node's answer stands for all (they load the same files), and any node that disagrees fails. */
async function reload(world: LabWorld, name: string) {
  const sources = await loadScenarioRules(SCENARIOS, [name], PROJECT_ROOT);
  const nodes = labNodes(world);
  world.auditRulesBefore = (await auditStatus(nodes[0]!)).rules;
  const results: ReloadResult[] = [];
  for (const node of nodes) results.push(await loadAuditRules(node, sources));
  world.auditReload = results[0]!;
  world.attachJson('audit-rules-reload', results.length === 1 ? world.auditReload : Object.fromEntries(nodes.map((n, i) => [n.name, results[i]])));
  const split = results.filter((r) => r.ok !== world.auditReload!.ok);
  assert.equal(split.length, 0, `the nodes' audit engines disagree on rules "${name}": ${results.map((r, i) => `${nodes[i]!.name} ${r.ok ? 'loaded' : 'refused'}`).join(', ')}`);
  return world.auditReload;
}

// Loads scenarios/audit-rules/<name>.yaml into every node's running audit engine, after the rules in force, and fails unless every engine
// answers within 15 s and loads it. On a profile without audit it only checks that the rules file exists and attaches a note.
Given('the audit rules {string} are loaded', async function (this: LabWorld, name: string) {
  const node = labNodes(this)[0]!;
  if (!hasAudit(node)) {
    // The scenario's rules are declared on every profile; only a profile with audit runs an engine.
    await loadScenarioRules(SCENARIOS, [name], PROJECT_ROOT);
    return this.attachText('audit-rules', `profile "${node.profile.metadata.name}" runs no audit engine: rules "${name}" not loaded`);
  }
  const result = await reload(this, name);
  assert.ok(result.ok, `audit rules "${name}" did not load: ${result.error?.message}`);
});

// Loads scenarios/audit-rules/<name>.yaml into every node's running audit engine and records the answer without asserting it (the nodes must
// agree); a refusal must be asserted by `Then the audit engine refuses them, naming …` (an After hook fails the scenario otherwise).
// Fails on a profile without audit.
When('the audit rules {string} are loaded into the running engine', async function (this: LabWorld, name: string) {
  this.auditRefusalPending = !(await reload(this, name)).ok;
});

After(function (this: LabWorld, { result, pickle }) {
  if (this.auditRefusalPending && result?.status === Status.PASSED) {
    throw new Error(`scenario "${pickle.name}": the audit engine refused rules (${this.auditReload?.error?.message ?? ''}) but no step asserted it; add \`Then the audit engine refuses them, naming …\``);
  }
});

// Checks: the running engine refused the reload; the error's file ends with the given path, the rule name is exact, the position is exactly line:column, and the message contains `file:line:col: rule "name"`.
Then('the audit engine refuses them, naming {string}, the rule {string} and the position {string}', function (this: LabWorld, file: string, rule: string, position: string) {
  const r = this.auditReload;
  assert.ok(r, 'no audit rules were loaded into the running engine in this scenario');
  this.auditRefusalPending = false;
  assert.equal(r.ok, false, `the engine accepted the rules: ${r.rules.count} rules in force`);
  const loc = r.error?.location;
  assert.ok(loc, `the refusal carries no location: ${r.error?.message}`);
  assert.ok(loc.file.endsWith(file), `the refusal names ${loc.file}, expected ${file}`);
  assert.equal(loc.item?.name, rule);
  assert.equal(`${loc.line}:${loc.column}`, position, `position: ${r.error?.message}`);
  assert.ok(r.error?.message.includes(`${file}:${position}: rule "${rule}"`), `message: ${r.error?.message}`);
});

// Checks: on every node, the engine's rule summary equals (deep equality) the one before the refused load.
Then('the audit rules in force are the ones loaded before', async function (this: LabWorld) {
  for (const node of labNodes(this)) {
    const now = (await auditStatus(node)).rules;
    this.attachJson(`audit-rules-in-force-${node.name}`, now);
    assert.deepEqual(now, this.auditRulesBefore, `the rules in force on ${node.name} changed after a refused load`);
  }
});

// Checks: at least one alert of exactly this rule name in the alert log of a node of the lab. After an attack, one that
// names the attacked container or pod (its output has %container.id, or %k8s.ns.name and %k8s.pod.name) and is not about
// the harness's own commands (lab/attacks/outcome.ts aboutTheAttack).
Then('the audit rule {string} raised an alert', async function (this: LabWorld, rule: string) {
  const nodes = labNodes(this);
  assert.ok(hasAudit(nodes[0]!), `profile "${nodes[0]!.profile.metadata.name}" runs no audit engine: this step would assert nothing`);
  const alerts = await awaitAuditAlerts(nodes, new Date(0), { rule });
  attachAlerts(this, await alertsOf(nodes));
  this.attachJson('audit-status', Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, await auditStatus(n)]))));
  assert.ok(alerts.length > 0, `no alert of rule "${rule}"; the daemons raised: ${(await alertsOf(nodes)).map((a) => a.rule).join(', ') || 'none'}`);
  const attack = this.lastAttack?.observation;
  const ofAttack = attack ? alerts.filter((a) => aboutTheAttack(alertDetection(a), attack)) : alerts;
  assert.ok(
    ofAttack.length > 0,
    `no alert of rule "${rule}" is about the attack on ${attack?.target.pods.join(', ')} (a rule's output must name %container.id, or %k8s.ns.name and %k8s.pod.name, to be tied to it); those raised: ${alerts.map((a) => a.output).join(' | ')}`,
  );
  const f = ofAttack[0]!.output_fields;
  if (f['container.id'] !== undefined) {
    // Syscall and inventory alerts name the container and its pod.
    for (const field of ['container.id', 'k8s.ns.name', 'k8s.pod.name']) assert.ok(f[field] !== null && f[field] !== undefined, `alert of "${rule}" lacks ${field}: ${ofAttack[0]!.output}`);
  }
});

// Checks after waiting the given seconds: the daemon of the workload's node set rules for its container and saw events of this lab (quiet means watched and found nothing), and no node raised an alert since the container was created (an `Audit records lost` alert included: a lab that lost records cannot say it saw nothing; on kind, alerts about containers that ran before it, such as the control plane's, are attached apart).
Then('the audit engine raised no alert while {workload} ran for {int} s', async function (this: LabWorld, workload: Workload, seconds: number) {
  await sleep(seconds * 1000);
  const node = nodeOf(this, workload.metadata.name);
  const id = this.pod(workload.metadata.name).containers[0]!.id;
  const created = new Date(Number(BigInt((await node.cri.containerStatus(id)).status.createdAt) / 1_000_000n));
  const status = await auditStatus(node);
  const all = await alertsOf(labNodes(this));
  const alerts = await alertsOf(labNodes(this), created);
  this.attachJson('audit-status', status);
  attachAlerts(this, alerts);
  if (all.length > alerts.length) this.attachText('audit-alerts-before-the-workload', all.filter((a) => new Date(a.time) < created).map((a) => a.output).join('\n'));
  const watch = status.containers.find((c) => c.id === id);
  // Quiet must mean "saw it and found nothing", not "saw nothing".
  assert.ok(watch && watch.rules.length > 0, `the audit daemon set no rules for ${workload.metadata.name}: ${JSON.stringify(watch)}`);
  assert.ok(status.counters.inLab > 0, 'the audit daemon saw no event of this lab');
  assert.deepEqual(alerts.map((a) => a.output), [], 'a benign workload raised audit alerts');
});

// Tears the lab down now (the lab node, or the whole kind cluster), first recording its lab id, node image and the nodes' audit ids
// for `Then the kernel holds no audit rule of that lab`.
When('the lab is torn down', async function (this: LabWorld) {
  const nodes = labNodes(this);
  this.auditTornDown = { labId: nodes[0]!.labId, image: await auditImageOf(nodes[0]!), auditIds: auditIdsOf(nodes) };
  await stopLab(this);
});

// Checks: `auditctl -l` after teardown lists no rule carrying the key of any node of the torn-down lab.
Then('the kernel holds no audit rule of that lab', async function (this: LabWorld) {
  const torn = this.auditTornDown;
  assert.ok(torn, 'no lab was torn down in this scenario');
  const state = await readKernelAuditState(torn.image, `${torn.labId}-check`);
  this.attachText('auditctl-l-after-teardown', `${state.rulesText}\nenabled ${state.enabled}`);
  const left = rulesOfAuditIds(parseRuleList(state.rulesText), torn.auditIds);
  assert.deepEqual(left.map((r) => r.text), [], `rules with key ${torn.auditIds.map(labKey).join(' or ')} outlived the lab`);
});
