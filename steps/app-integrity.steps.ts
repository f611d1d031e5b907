/**
 * The application tier: which tier a workload ran under, a second container
 * started after an attack, and the faults the start check must fail closed on.
 */
import assert from 'node:assert/strict';
import { AfterStep, Given, Then, When } from '@cucumber/cucumber';
import * as allure from 'allure-js-commons';
import { tryStart, type StartAttempt } from '../lab/attacks/techniques/start.ts';
import { APP_CHECK_FAULTS, injectAppCheckFault, workloadTiers, type AppCheckFault } from '../lab/gates/app-lab.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import * as wd from '../lab/watchdog/index.ts';
import { poll } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';
import { labStarted, nodeOf, theNode } from './support/substrate.ts';

const attempts = new WeakMap<LabWorld, { workload: string; attempt: StartAttempt }>();

function lastAttempt(world: LabWorld) {
  const a = attempts.get(world);
  assert.ok(a, 'no container was started with `When a new container of "…" is started` in this scenario');
  return a;
}

// The report shows the tier every started workload ran under, and that of a new container started beside it.
AfterStep(async function (this: LabWorld, { pickleStep }) {
  if (!labStarted(this) || !/^the workload "[^"]+" (is running|is started|is started again)$|^a new container of /.test(pickleStep.text)) return;
  const pods = new Map(this.pods);
  const added = attempts.get(this);
  if (added?.attempt.started) pods.set(`${added.workload} (new container)`, added.attempt.pod);
  const tiers = await workloadTiers(theNode(this), pods);
  this.attachJson('workload-tiers', tiers);
  for (const t of tiers) await allure.parameter(`tier of ${t.workload}`, t.tier);
});

// Checks: the tier in the start gate's last decision for the workload's first container (gate-decisions.jsonl on the node) equals the text exactly
// ("system", "application" or "none"; "none" on a profile without a start gate, "unknown" if the gate logged no decision). Reads the pod
// recorded by `the workload … is started`/`is running`, not one from `a new container of … is started`; fails on a kind cluster of more than one node.
Then('the workload {workload} ran under the {string} tier', async function (this: LabWorld, workload: Workload, tier: string) {
  const tiers = await workloadTiers(theNode(this), this.pods);
  const t = tiers.find((x) => x.workload === workload.metadata.name);
  assert.ok(t, `workload "${workload.metadata.name}" did not run in this scenario`);
  assert.equal(t.tier, tier, `workload "${workload.metadata.name}" ran under the "${t.tier}" tier (${t.rule}): ${t.reason ?? ''}`);
});

// Pushes the workload's image to the node's registry and pulls it into containerd over CRI PullImage (through the pull gate where the profile
// has one), so that a later start finds it present. Fails if the pull fails, or on a kind cluster of more than one node.
Given('the image of {workload} is on the node', async function (this: LabWorld, workload: Workload) {
  const node = theNode(this);
  await node.pushImage(workload.spec.image);
  await node.cri.pullImage(node.imageRef(workload.spec.image.repository, workload.spec.image.tag));
});

// Breaks what the start gate's application check depends on, on the node: "reference-unreadable" overwrites /var/lib/integrity-lab/pulled-digests.json
// with non-JSON, "no-digest" removes the workload's image from that record, "checker-crash" replaces /opt/integrity-lab/app-check.mjs with a
// program that dies by SIGSEGV. Any other fault name fails the step with the list of known ones.
Given('the fault {string} hits the application check of {workload}', async function (this: LabWorld, fault: string, workload: Workload) {
  assert.ok((APP_CHECK_FAULTS as readonly string[]).includes(fault), `unknown fault "${fault}"; known: ${APP_CHECK_FAULTS.join(', ')}`);
  const node = theNode(this);
  this.attachText('fault', await injectAppCheckFault(node, fault as AppCheckFault, node.imageRef(workload.spec.image.repository, workload.spec.image.tag)));
});

// Starts a second pod of the workload directly over CRI on the node (no admission; the image is pulled only if absent; on kind the node's kubelet
// is stopped first); the pod already running stays, and the new one is not recorded as the workload's pod. A refused start (pull, sandbox, create
// or start) is recorded, not raised: `Then that container runs` or `Then its start was refused with "…"` must assert which.
When('a new container of {workload} is started', async function (this: LabWorld, workload: Workload) {
  // A second pod, so that the one already running (if any) stays as it is.
  const pods = new Map(this.pods);
  const attempt = await tryStart(theNode(this), workload, pods);
  attempts.set(this, { workload: workload.metadata.name, attempt });
  this.attachJson('start-attempt', attempt.started ? { started: true, pod: attempt.pod } : attempt);
});

// Checks: the container from `a new container of … is started` started, and CRI on the node reports it CONTAINER_RUNNING (read once, no wait).
Then('that container runs', async function (this: LabWorld) {
  const { workload, attempt } = lastAttempt(this);
  assert.ok(attempt.started, `the new container of ${workload} was refused (${attempt.started ? '' : `${attempt.stage}: ${attempt.reason}`})`);
  const { status } = await theNode(this).cri.containerStatus(attempt.pod.containers[0]!.id);
  assert.equal(status.state, 'CONTAINER_RUNNING', `the new container of ${workload} is ${status.state}: ${status.reason} ${status.message}`);
});

// Checks: the container from `a new container of … is started` did not start, and the CRI error of the stage that failed (pull, sandbox,
// create or start) contains the text (substring, case-sensitive), e.g. the start gate's code "APP_LAYER_MISMATCH".
Then('its start was refused with {string}', function (this: LabWorld, text: string) {
  const { workload, attempt } = lastAttempt(this);
  assert.ok(!attempt.started, `the new container of ${workload} started; expected a refusal containing "${text}"`);
  assert.ok(attempt.reason.includes(text), `the refusal of ${workload} does not contain "${text}": ${attempt.reason}`);
});

// Checks: no component reported anything since the lab was ready (what the lab's own bring-up raised, on kind the control plane's static pods, is attached apart).
Then('no integrity component reported anything', async function (this: LabWorld) {
  const since = this.labReadyAt ?? new Date(0);
  const all = await theNode(this).detections(new Date(0));
  const detections = all.filter((d) => new Date(d.time) >= since);
  this.attachJson('detections', detections);
  if (all.length > detections.length) this.attachJson('detections-during-lab-bring-up', all.filter((d) => new Date(d.time) < since));
  assert.deepEqual(detections.map((d) => `${d.component}: ${d.message}`), [], 'a component reported something during a benign scenario');
});

// Checks, waiting up to 15 s: the watchdog on the workload's node logged a trust decision for its first container whose message contains
// "application tier" and that covers exactly as many layer files as the image has layers; then, polling up to 30 s, that the watchdog's
// status shows each of those files re-verified successfully (hashed and matched) at least once.
Then('the watchdog re-verified every layer of {workload} against its reference', async function (this: LabWorld, workload: Workload) {
  const id = this.pod(workload.metadata.name).containers[0]!.id;
  const node = nodeOf(this, workload.metadata.name);
  const { record: trust, layers } = await wd.awaitTrustDecision(node, id, 15_000);
  this.attachJson('watchdog-trust', trust ?? { missing: `no trust record for ${id} within 15000 ms` });
  assert.ok(trust, `the watchdog did not decide on the layers of ${workload.metadata.name} within 15000 ms`);
  assert.match(trust.message, /application tier/, `the watchdog did not use the application tier's references: ${trust.message}`);
  assert.equal(layers.length, workload.spec.image.layers.length, `the watchdog re-verifies ${layers.length} layers of ${workload.metadata.name}: ${trust.message}`);
  // Not only scheduled: each layer file was hashed and matched at least once.
  const polled = await poll(
    () => wd.watchdogStatus(node),
    (status) => layers.every((l) => status?.reverify.layers.some((s) => s.file === l.file && s.ok === true)),
    { timeoutMs: 30_000, intervalMs: 1000 },
  );
  const status = polled.value;
  this.attachJson('watchdog-reverify', status?.reverify);
  assert.ok(polled.ok, `within 30000 ms the watchdog did not re-verify every layer of ${workload.metadata.name} successfully: ${JSON.stringify(status?.reverify.layers)}`);
});

// Checks, among the detections collected with the last attack (no further wait): one from the named component (exact name) whose message
// contains both the workload's pod as namespace/name and the layer file the attack recorded in its evidence (substrings, case-sensitive).
Then('the {string} reported it, naming the pod and the layer file of {workload}', function (this: LabWorld, component: string, workload: Workload) {
  const run = this.lastAttack;
  assert.ok(run, 'no attack was carried out in this scenario');
  const pod = this.pod(workload.metadata.name);
  const layerFile = String(run.evidence.layerFile ?? '');
  const named = run.observation.detections.filter((d) => d.component === component && d.message.includes(`${pod.namespace}/${pod.name}`) && d.message.includes(layerFile));
  this.attachJson('detections', run.observation.detections);
  assert.ok(layerFile, 'the attack recorded no layer file in its evidence');
  assert.ok(named.length > 0, `no detection from ${component} names ${pod.namespace}/${pod.name} and ${layerFile}; got: ${run.observation.detections.map((d) => `${d.component}: ${d.message}`).join(' | ') || 'none'}`);
});
