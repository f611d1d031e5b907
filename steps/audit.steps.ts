/**
 * The audit detection layer on a lab node: scenario rules loaded into the
 * running engine, alerts asserted by rule and attached as Falco JSON lines,
 * and what the lab leaves in the kernel after teardown.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { After, Given, Status, Then, When } from '@cucumber/cucumber';
import {
  auditAlerts,
  auditStatus,
  awaitAuditAlerts,
  hasAudit,
  labKey,
  loadAuditRules,
  loadScenarioRules,
  parseRuleList,
  readKernelAuditState,
  rulesOfLab,
  type Alert,
} from '../lab/audit/index.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';
import { PROJECT_ROOT } from './support/state.ts';

const SCENARIOS = join(PROJECT_ROOT, 'scenarios');

function attachAlerts(world: LabWorld, alerts: readonly Alert[]): void {
  world.attach(alerts.map((a) => JSON.stringify(a)).join('\n') + '\n', { mediaType: 'application/x-ndjson', fileName: 'audit-alerts.jsonl' });
}

async function reload(world: LabWorld, name: string) {
  const sources = await loadScenarioRules(SCENARIOS, [name], PROJECT_ROOT);
  world.auditRulesBefore = (await auditStatus(world.lab)).rules;
  world.auditReload = await loadAuditRules(world.lab, sources);
  world.attachJson('audit-rules-reload', world.auditReload);
  return world.auditReload;
}

Given('the audit rules {string} are loaded', async function (this: LabWorld, name: string) {
  if (!hasAudit(this.lab)) {
    // The scenario's rules are declared on every profile; only a profile with audit runs an engine.
    await loadScenarioRules(SCENARIOS, [name], PROJECT_ROOT);
    return this.attachText('audit-rules', `profile "${this.lab.profile.metadata.name}" runs no audit engine: rules "${name}" not loaded`);
  }
  const result = await reload(this, name);
  assert.ok(result.ok, `audit rules "${name}" did not load: ${result.error?.message}`);
});

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

// Checks: the engine's rule summary equals (deep equality) the one before the refused load.
Then('the audit rules in force are the ones loaded before', async function (this: LabWorld) {
  const now = (await auditStatus(this.lab)).rules;
  this.attachJson('audit-rules-in-force', now);
  assert.deepEqual(now, this.auditRulesBefore, 'the rules in force changed after a refused load');
});

// Checks: at least one alert of exactly this rule name in the lab's alert log.
Then('the audit rule {string} raised an alert', async function (this: LabWorld, rule: string) {
  assert.ok(hasAudit(this.lab), `profile "${this.lab.profile.metadata.name}" runs no audit engine: this step would assert nothing`);
  const alerts = await awaitAuditAlerts(this.lab, new Date(0), { rule });
  attachAlerts(this, await auditAlerts(this.lab));
  this.attachJson('audit-status', await auditStatus(this.lab));
  assert.ok(alerts.length > 0, `no alert of rule "${rule}"; the daemon raised: ${(await auditAlerts(this.lab)).map((a) => a.rule).join(', ') || 'none'}`);
  const f = alerts[0]!.output_fields;
  if (f['container.id'] !== undefined) {
    // Syscall and inventory alerts name the container and its pod.
    for (const field of ['container.id', 'k8s.ns.name', 'k8s.pod.name']) assert.ok(f[field] !== null && f[field] !== undefined, `alert of "${rule}" lacks ${field}: ${alerts[0]!.output}`);
  }
});

// Checks after waiting the given seconds: the daemon set rules for the container and saw events of this lab (quiet means watched and found nothing), and the alert list is empty.
Then('the audit engine raised no alert while {workload} ran for {int} s', async function (this: LabWorld, workload: Workload, seconds: number) {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const status = await auditStatus(this.lab);
  const alerts = await auditAlerts(this.lab);
  this.attachJson('audit-status', status);
  attachAlerts(this, alerts);
  const id = this.pod(workload.metadata.name).containers[0]!.id;
  const watch = status.containers.find((c) => c.id === id);
  // Quiet must mean "saw it and found nothing", not "saw nothing".
  assert.ok(watch && watch.rules.length > 0, `the audit daemon set no rules for ${workload.metadata.name}: ${JSON.stringify(watch)}`);
  assert.ok(status.counters.inLab > 0, 'the audit daemon saw no event of this lab');
  assert.deepEqual(alerts.map((a) => a.output), [], 'a benign workload raised audit alerts');
});

When('the lab is torn down', async function (this: LabWorld) {
  const node = this.lab;
  this.auditTornDown = { labId: node.labId, image: node.imageTag };
  await node.stop({ force: true });
  this.node = undefined;
});

// Checks: `auditctl -l` after teardown lists no rule carrying the torn-down lab's key.
Then('the kernel holds no audit rule of that lab', async function (this: LabWorld) {
  const torn = this.auditTornDown;
  assert.ok(torn, 'no lab was torn down in this scenario');
  const state = await readKernelAuditState(torn.image, `${torn.labId}-check`);
  this.attachText('auditctl-l-after-teardown', `${state.rulesText}\nenabled ${state.enabled}`);
  const left = rulesOfLab(parseRuleList(state.rulesText), torn.labId);
  assert.deepEqual(left.map((r) => r.text), [], `rules with key ${labKey(torn.labId)} outlived the lab`);
});
