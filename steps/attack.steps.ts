import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import * as allure from 'allure-js-commons';
import { runAttack } from '../lab/attacks/index.ts';
import type { Attack } from '../lab/spec/schemas.ts';
import { getWorkload } from '../lab/spec/loader.ts';
import type { LabWorld } from './support/world.ts';
import { labState } from './support/state.ts';

When('the attacker carries out {attack}', async function (this: LabWorld, attack: Attack) {
  await allure.story(attack.metadata.name);
  await allure.severity(attack.spec.severity);
  const workload = getWorkload(this.catalog, attack.spec.target.workload);
  this.lastAttack = await runAttack(this.lab, attack, workload, this.pods);
  this.outcomePending = true;
  this.attachJson('attack-evidence', { ...this.lastAttack.evidence, containerMountinfo: undefined });
  if (typeof this.lastAttack.evidence.containerMountinfo === 'string') this.attachText('container-mountinfo', this.lastAttack.evidence.containerMountinfo);
});

// Checks: the observed outcome equals the attack's spec.expected for this profile exactly (succeeded, blocked or detected); records the row of the summary table. Every scenario that runs an attack must end with it (an After hook fails the scenario otherwise).
Then('the attack has the outcome expected on this profile', async function (this: LabWorld) {
  const run = this.lastAttack;
  assert.ok(run, 'no attack was carried out in this scenario');
  this.outcomePending = false;
  labState.recordOutcome({ attack: run.attack.metadata.name, profile: run.profile, outcome: run.outcome, expected: run.expected, scenario: this.scenarioName });
  this.attachJson('attack-outcome', { outcome: run.outcome, expected: run.expected, observation: run.observation });
  await allure.parameter('outcome', run.outcome);
  await allure.parameter('expected', run.expected ?? '(none stated)');
  assert.ok(run.expected, `attack "${run.attack.metadata.name}" states no expected outcome for profile "${run.profile}" in its spec.expected`);
  assert.equal(run.outcome, run.expected, `attack "${run.attack.metadata.name}" on "${run.profile}": ${run.observation.reason}`);
});
