import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import * as allure from 'allure-js-commons';
import { runAttack } from '../lab/attacks/index.ts';
import type { Attack } from '../lab/spec/schemas.ts';
import { getWorkload } from '../lab/spec/loader.ts';
import { ATTACK_TECHNIQUES, attackTechniqueUrl } from '../lab/spec/mitre.ts';
import type { LabWorld } from './support/world.ts';
import { labState } from './support/state.ts';
import { attackNode } from './support/substrate.ts';

// Carries out the attack's technique (or its declared steps) as root on the lab node, or on kind on the node the target's pod runs on, then reads
// that node's component detections since 1 s before it and judges the verdict. Fails only if the attack could not be carried out, not on its
// verdict: `Then the attack has the outcome expected on this profile` must follow (an After hook fails the scenario otherwise).
When('the attacker carries out {attack}', async function (this: LabWorld, attack: Attack) {
  await allure.story(attack.metadata.name);
  await allure.severity(attack.spec.severity);
  await attackTechniqueLabels(attack);
  const workload = getWorkload(this.catalog, attack.spec.target.workload);
  this.lastAttack = await runAttack(attackNode(this, workload.metadata.name), attack, workload, this.pods);
  this.outcomePending = true;
  this.attachJson('attack-evidence', { ...this.lastAttack.evidence, containerMountinfo: undefined });
  if (typeof this.lastAttack.evidence.containerMountinfo === 'string') this.attachText('container-mountinfo', this.lastAttack.evidence.containerMountinfo);
});

// Checks: the observed outcome equals the attack's spec.expected for this profile exactly (succeeded, blocked or detected); records the row of the summary table. Every scenario that runs an attack must end with it (an After hook fails the scenario otherwise).
Then('the attack has the outcome expected on this profile', async function (this: LabWorld) {
  const run = this.lastAttack;
  assert.ok(run, 'no attack was carried out in this scenario');
  this.outcomePending = false;
  labState.recordOutcome({ attack: run.attack.metadata.name, profile: run.profile, outcome: run.outcome, expected: run.expected, scenario: this.scenarioName, earnedBy: run.earnedBy });
  this.attachJson('attack-outcome', { outcome: run.outcome, earnedBy: run.earnedBy ?? null, evidence: run.judgement.evidence ?? null, expected: run.expected, reason: run.judgement.reason, observation: run.observation, ignored: run.judgement.ignored });
  await allure.parameter('outcome', run.outcome);
  await allure.parameter('earned by', run.earnedBy ?? '(none)');
  await allure.parameter('expected', run.expected ?? '(none stated)');
  assert.ok(run.expected, `attack "${run.attack.metadata.name}" states no expected outcome for profile "${run.profile}" in its spec.expected`);
  assert.equal(run.outcome, run.expected, `attack "${run.attack.metadata.name}" on "${run.profile}": ${run.judgement.reason}`);
});

/**
 * The attack's MITRE ATT&CK techniques in the report: a link and a tag per
 * id, and the Suites tab as the coverage view (parent suite "MITRE ATT&CK",
 * one suite per technique; a scenario appears under each of its ids).
 */
async function attackTechniqueLabels(attack: Attack): Promise<void> {
  const ids = attack.spec.attack ?? [];
  if (ids.length > 0) await allure.parentSuite('MITRE ATT&CK');
  for (const id of ids) {
    const title = `${id} ${ATTACK_TECHNIQUES[id] ?? ''}`.trim();
    await allure.suite(title);
    await allure.tag(`ATT&CK:${id}`);
    await allure.link(attackTechniqueUrl(id), title, 'attack');
  }
}
