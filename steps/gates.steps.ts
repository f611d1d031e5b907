import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import type { Workload } from '../lab/spec/schemas.ts';
import { poll } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';
import { startWorkload, theNode } from './support/substrate.ts';

// Checks: the attack's observed reason contains the text (substring, case-sensitive).
Then('the attack\'s observed reason contains {string}', function (this: LabWorld, text: string) {
  const reason = this.lastAttack?.observation.reason ?? '';
  assert.ok(reason.includes(text), `the observed reason does not contain "${text}": ${reason}`);
});

// Checks: the observed reason contains one of the two texts (substring, case-sensitive).
Then('the attack\'s observed reason contains {string} or {string}', function (this: LabWorld, a: string, b: string) {
  const reason = this.lastAttack?.observation.reason ?? '';
  assert.ok(reason.includes(a) || reason.includes(b), `the observed reason contains neither "${a}" nor "${b}": ${reason}`);
});

// Checks: the component that earned this attack's verdict (its own evidence: a refusal, a kernel error, an alert naming the target) is
// exactly the named one, e.g. "start-gate", "watchdog", "audit"; the attack's detections are attached.
Then('the {string} reported it', function (this: LabWorld, component: string) {
  const run = this.lastAttack;
  this.attachJson('detections', run?.observation.detections ?? []);
  assert.equal(run?.earnedBy, component, `the verdict ${run?.outcome ?? '(no attack)'} was earned by ${run?.earnedBy ?? 'no component'}, expected ${component}: ${run?.judgement.reason ?? ''}`);
});

// Checks, polling every 500 ms up to 30 s: `ctr -n k8s.io images ls` on the node lists the workload's image reference with exactly the digest
// the lab signed (`Given the lab signs the image of …` must have run). Fails on a kind cluster of more than one node.
Then('the node holds the signed image of {workload} again', async function (this: LabWorld, workload: Workload) {
  const signed = this.signedImage(workload.metadata.name).digest;
  const node = theNode(this);
  const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
  const listed = await poll(
    async () => (await node.exec.run(['ctr', '-n', 'k8s.io', 'images', 'ls', `name==${ref}`])).stdout.toString().split('\n')[1]?.trim().split(/\s+/)[2] ?? '',
    (digest) => digest === signed,
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  const seen = listed.value ?? '';
  this.attachText('image-after-repull', `${ref} -> ${seen || '(absent)'}; signed ${signed}`);
  assert.equal(seen, signed, `after 30000 ms the node holds ${ref} as ${seen || 'nothing'}, expected the signed ${signed}`);
});

// Starts the workload exactly as `When the workload … is started` does, and records the new pod in place of any earlier one.
When('the workload {workload} is started again', async function (this: LabWorld, workload: Workload) {
  this.pods.set(workload.metadata.name, await startWorkload(this, workload));
});
