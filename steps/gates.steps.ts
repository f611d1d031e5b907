import assert from 'node:assert/strict';
import { Then, When } from '@cucumber/cucumber';
import type { Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';

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

// Checks: some detection of this attack came from the named component (exact component name, e.g. "gates", "watchdog", "audit").
Then('the {string} reported it', function (this: LabWorld, component: string) {
  const detections = this.lastAttack?.observation.detections ?? [];
  this.attachJson('detections', detections);
  assert.ok(detections.some((d) => d.component === component), `no detection from ${component}; got: ${detections.map((d) => d.component).join(', ') || 'none'}`);
});

Then('the node holds the signed image of {workload} again', async function (this: LabWorld, workload: Workload) {
  const signed = this.signedImage(workload.metadata.name).digest;
  const ref = this.lab.imageRef(workload.spec.image.repository, workload.spec.image.tag);
  const deadline = Date.now() + 30_000;
  let seen = '';
  while (Date.now() < deadline) {
    const r = await this.lab.exec.run(['ctr', '-n', 'k8s.io', 'images', 'ls', `name==${ref}`]);
    seen = r.stdout.toString().split('\n')[1]?.trim().split(/\s+/)[2] ?? '';
    if (seen === signed) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  this.attachText('image-after-repull', `${ref} -> ${seen || '(absent)'}; signed ${signed}`);
  assert.equal(seen, signed, `after 30000 ms the node holds ${ref} as ${seen || 'nothing'}, expected the signed ${signed}`);
});

When('the workload {workload} is started again', async function (this: LabWorld, workload: Workload) {
  this.pods.set(workload.metadata.name, await this.lab.startWorkload(workload, { pushImage: false }));
});
