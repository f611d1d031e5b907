import assert from 'node:assert/strict';
import { Given, Then, When } from '@cucumber/cucumber';
import { inspectRootfs } from '../lab/node/index.ts';
import { poll } from '../lab/wait.ts';
import type { LabProfile, Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';
import { KIND_START_TIMEOUT, nodeOf, startLab, startWorkload } from './support/substrate.ts';

// Starts the scenario's lab with the profile's components: a lab node, or a one-node kind cluster when the run's substrate is kind
// (`npm run conformance -- --substrate kind`). Step timeout 75 min.
Given('a lab node with the {profile} profile', { timeout: KIND_START_TIMEOUT }, async function (this: LabWorld, profile: LabProfile) {
  await startLab(this, profile);
});

// Starts the workload as a user would on the scenario's substrate: on a lab node its image is pushed, admission (if any) reviews it, then CRI
// runs it; on kind its pod is created through kube-apiserver and awaited up to 120 s until its container runs. Any refusal fails the step.
When('the workload {workload} is started', async function (this: LabWorld, workload: Workload) {
  this.pods.set(workload.metadata.name, await startWorkload(this, workload));
});

// Starts the workload as `When the workload … is started` does, then waits up to 5 s for CRI on its node to report its first container
// CONTAINER_RUNNING, and fails with the state it has otherwise: a scenario that says "running" goes on only with a running container.
Given('the workload {workload} is running', async function (this: LabWorld, workload: Workload) {
  const pod = await startWorkload(this, workload);
  this.pods.set(workload.metadata.name, pod);
  const cri = nodeOf(this, workload.metadata.name).cri;
  const { value: state } = await poll(() => cri.containerState(pod.containers[0]!.id), (s) => s === 'CONTAINER_RUNNING', { timeoutMs: 5_000, intervalMs: 100 });
  assert.equal(state, 'CONTAINER_RUNNING', `the container of ${workload.metadata.name} is ${state ?? 'unknown'} after its start, not running`);
});

// Checks: CRI reports the workload's first container as CONTAINER_RUNNING (the container status is attached).
Then('the workload {workload} runs', async function (this: LabWorld, workload: Workload) {
  const pod = this.pod(workload.metadata.name);
  const { status } = await nodeOf(this, workload.metadata.name).cri.containerStatus(pod.containers[0]!.id);
  this.attachJson('container-status', status);
  assert.equal(status.state, 'CONTAINER_RUNNING', `container of ${workload.metadata.name} is ${status.state}: ${status.reason} ${status.message}`);
});

// Checks, from the container's mountinfo: the root is an overlay with one lowerdir per image layer, each lowerdir an erofs mount with option ro whose source is its layer.erofs, and that file exists on the node.
Then('every layer of {workload} is a read-only erofs mount of a layer.erofs file', async function (this: LabWorld, workload: Workload) {
  const report = await inspectRootfs(nodeOf(this, workload.metadata.name), this.pod(workload.metadata.name));
  this.attachText('container-mountinfo', report.containerMountinfo);
  this.attachJson('rootfs-layers', report.layers);
  assert.equal(report.root?.fstype, 'overlay', `the container root is ${report.root?.fstype ?? 'missing'}, expected an overlay of layers`);
  assert.equal(report.layers.length, workload.spec.image.layers.length, 'one lowerdir per image layer');
  for (const layer of report.layers) {
    assert.equal(layer.mount?.fstype, 'erofs', `${layer.lowerdir} is mounted as ${layer.mount?.fstype ?? 'nothing'}, expected erofs`);
    assert.ok(layer.mount.options.includes('ro'), `${layer.lowerdir} is not mounted read-only: ${layer.mount.line}`);
    assert.equal(layer.mount.source, layer.layerFile, `${layer.lowerdir} is mounted from ${layer.mount.source}, expected its layer file`);
    assert.ok(layer.layerFileExists, `${layer.layerFile} is not a regular file on the node`);
  }
});
