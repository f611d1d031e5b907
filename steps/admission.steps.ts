/**
 * Admission on a lab node: pods are submitted the way a user would (through
 * the webhook registered by the ValidatingWebhookConfiguration, then CRI);
 * the outcome is asserted on the answer and at CRI level.
 */
import assert from 'node:assert/strict';
import { After, Before, Given, Status, Then, When } from '@cucumber/cucumber';
import {
  admissionOf,
  cosignPolicyDocument,
  criFootprint,
  inNamespace,
  podObjectOf,
  submitPodObject,
  submitWorkload,
  withContainerPort,
  withContainerSecurityContext,
  withImageVolume,
  type PodSubmission,
} from '../lab/admission/index.ts';
import type { Detection } from '../lab/node/index.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import * as trust from '../lab/trust/index.ts';
import { poll } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';

function record(world: LabWorld, workload: Workload, s: PodSubmission): void {
  world.submission = s;
  world.refusalPending = s.refused !== undefined;
  if (s.running) world.pods.set(workload.metadata.name, s.running);
  const exchange = s.review?.data.exchanges[0];
  if (exchange) world.attachJson('admission-review', exchange);
  if (s.review) world.attachJson('admission-answer', { allowed: s.review.allowed, reason: s.review.reason, warnings: s.review.warnings, webhooks: s.review.data.dispatch.webhooks });
}

function submitted(world: LabWorld): PodSubmission {
  assert.ok(world.submission, 'no pod was submitted in this scenario');
  return world.submission;
}

/** Admission detections, polled briefly: the webhook appends its record after answering. */
async function admissionDetections(world: LabWorld, match: (d: Detection) => boolean): Promise<Detection[]> {
  const polled = await poll(
    async () => (await world.lab.detections(world.admissionSince ?? new Date(0))).filter((d) => d.component === 'admission'),
    (found) => found.some(match),
    { timeoutMs: 5_000, intervalMs: 200 },
  );
  const found: Detection[] = polled.value ?? [];
  world.attachJson('admission-detections', found);
  return found;
}

Before(function (this: LabWorld) {
  this.admissionSince = new Date();
});

After(function (this: LabWorld, { result, pickle }) {
  if (this.refusalPending && result?.status === Status.PASSED) {
    throw new Error(`scenario "${pickle.name}": a pod was refused (${this.submission?.refused?.answer.reason ?? ''}) but no step asserted it; add \`Then the pod is refused with "…"\``);
  }
});

// ------------------------------------------------------------ submitting pods

// Submits the workload's pod on the lab node (node substrate only) as a user would: its image is pushed, the admission webhook (if the profile
// has one) reviews the Pod object, then CRI runs it. An admission refusal is recorded, not raised (other start errors fail the step): a later
// `Then the pod is created` or `Then the pod is refused with "…"` must assert which (an After hook fails an unasserted refusal).
When('the workload {workload} is submitted', async function (this: LabWorld, workload: Workload) {
  record(this, workload, await submitWorkload(this.lab, workload));
});

// Same as `When the workload … is submitted`, with the pod placed in the given namespace (only spec.namespace changes).
When('the workload {workload} is submitted in the namespace {string}', async function (this: LabWorld, workload: Workload, namespace: string) {
  record(this, workload, await submitWorkload(this.lab, inNamespace(workload, namespace)));
});

// runAsUser is not part of a CRI pod spec here: the webhook sees it in the
// Pod object; CRI runs the image's default user, which is root (uid 0).
When('a pod of {workload} that runs as root is submitted in the namespace {string}', async function (this: LabWorld, workload: Workload, namespace: string) {
  await this.lab.pushImage(workload.spec.image);
  const pod = this.lab.podSpecOf(inNamespace(workload, namespace));
  record(this, workload, await submitPodObject(this.lab, pod, withContainerSecurityContext(podObjectOf(pod), { runAsUser: 0 })));
});

// An image volume exists only in the Kubernetes object: CRI here does not mount it.
When('a pod of {workload} that mounts the image {string} as a volume is submitted in the namespace {string}', async function (this: LabWorld, workload: Workload, reference: string, namespace: string) {
  await this.lab.pushImage(workload.spec.image);
  const pod = this.lab.podSpecOf(inNamespace(workload, namespace));
  record(this, workload, await submitPodObject(this.lab, pod, withImageVolume(podObjectOf(pod), 'tools', reference)));
});

// The port as written (no hostPort): the API server defaults hostPort for a host-network pod.
When('a host-network pod of {workload} declaring container port {int} is submitted in the namespace {string}', async function (this: LabWorld, workload: Workload, port: number, namespace: string) {
  await this.lab.pushImage(workload.spec.image);
  const pod = { ...this.lab.podSpecOf(inNamespace(workload, namespace)), hostNetwork: true };
  record(this, workload, await submitPodObject(this.lab, pod, withContainerPort(podObjectOf(pod), port)));
});

// ------------------------------------------------------------------ outcomes

// Checks: the webhook (if any) admitted the pod and CRI runs it: "created" means its first container is CONTAINER_RUNNING, not merely accepted.
Then('the pod is created', async function (this: LabWorld) {
  const s = submitted(this);
  assert.ok(s.running, `the pod ${s.pod.namespace}/${s.pod.name} was refused by ${s.refused?.component}: ${s.refused?.answer.reason}`);
  const { status } = await this.lab.cri.containerStatus(s.running.containers[0]!.id);
  this.attachJson('container-status', status);
  assert.equal(status.state, 'CONTAINER_RUNNING', `container of ${s.pod.name} is ${status.state}: ${status.reason} ${status.message}`);
});

// Checks: the admission component refused the pod, its reason contains the text (substring, case-sensitive), and CRI holds no sandbox or container of it.
Then('the pod is refused with {string}', async function (this: LabWorld, text: string) {
  const s = submitted(this);
  this.refusalPending = false;
  assert.ok(s.refused, `the pod ${s.pod.namespace}/${s.pod.name} was created; expected a refusal with "${text}"`);
  assert.equal(s.refused.component, 'admission');
  assert.ok(s.refused.answer.reason?.includes(text), `the refusal does not contain "${text}": ${s.refused.answer.reason}`);
  const footprint = await criFootprint(this.lab, s.pod);
  this.attachJson('cri-footprint', { pod: `${s.pod.namespace}/${s.pod.name}`, ...footprint });
  assert.deepEqual(footprint, { sandboxes: [], containers: [] }, 'a refused pod left a sandbox or a container in CRI');
});

// Checks: `id -u` inside the pod's first container prints exactly 0.
Then('the pod runs as root', async function (this: LabWorld) {
  const s = submitted(this);
  assert.ok(s.running, 'the pod is not running');
  const r = await this.lab.cri.execSync(s.running.containers[0]!.id, ['/bin/busybox', 'id', '-u']);
  this.attachText('id-u', `exit ${r.exitCode}: ${r.stdout.toString()}${r.stderr.toString()}`);
  assert.equal(r.stdout.toString().trim(), '0');
});

// Checks: the webhook was called and answered allowed=true.
Then('the admission webhook admitted the pod', function (this: LabWorld) {
  const review = submitted(this).review;
  assert.ok(review, 'no admission answer: this node has no admission webhook');
  assert.equal(review.data.dispatch.webhookCalled, true, `the webhook was not called: ${JSON.stringify(review.data.dispatch.webhooks)}`);
  assert.equal(review.allowed, true, review.reason);
});

// Checks: the pod was admitted and one of its warnings contains the text (substring).
Then('the pod was admitted with the warning {string}', function (this: LabWorld, text: string) {
  const review = submitted(this).review;
  assert.ok(review?.allowed, `not admitted: ${review?.reason}`);
  assert.ok(review.warnings.some((w) => w.includes(text)), `no warning contains "${text}": ${JSON.stringify(review.warnings)}`);
});

// Checks: the pod was admitted with an empty warning list.
Then('the pod was admitted without a warning', function (this: LabWorld) {
  const review = submitted(this).review;
  assert.ok(review?.allowed, `not admitted: ${review?.reason}`);
  assert.deepEqual(review.warnings, []);
});

// Checks, polling up to 5 s: an admission detection record with exactly this action for this pod's namespace/name.
Then('the admission webhook recorded a {string} decision for the pod', async function (this: LabWorld, action: string) {
  const { pod } = submitted(this);
  const mine = (d: Detection) => {
    const r = d.data as { action?: string; namespace?: string; name?: string } | undefined;
    return r?.action === action && r.namespace === pod.namespace && r.name === pod.name;
  };
  const found = await admissionDetections(this, mine);
  assert.ok(found.some(mine), `no ${action} record for ${pod.namespace}/${pod.name}; records: ${found.map((d) => d.message).join(' | ') || 'none'}`);
});

// Checks, polling up to 5 s: an admission detection that refused this pod (exact namespace and name): the webhook's decision record with
// outcome "denied", or the apiserver stand-in's record of a webhook it could not call under failurePolicy Fail. A warn or dryrun record
// does not count.
Then('the admission component reported the refusal', async function (this: LabWorld) {
  const { pod } = submitted(this);
  const mine = (d: Detection) => {
    const r = d.data as { outcome?: string; namespace?: string; name?: string; failurePolicy?: string } | undefined;
    if (r?.outcome !== undefined) return r.outcome === 'denied' && r.namespace === pod.namespace && r.name === pod.name;
    return r?.failurePolicy === 'Fail' && d.message.startsWith(`${pod.namespace}/${pod.name}: `);
  };
  const found = await admissionDetections(this, mine);
  assert.ok(found.some(mine), `no admission refusal of ${pod.namespace}/${pod.name}; detections: ${found.map((d) => d.message).join(' | ') || 'none'}`);
});

// -------------------------------------------------------------------- cosign

async function cosignKey(world: LabWorld, name: string) {
  let key = world.cosignKeys.get(name);
  if (!key) {
    key = await trust.nodeCosignKeyPair(world.lab, name);
    world.cosignKeys.set(name, key);
  }
  return key;
}

// Pushes the workload's image to the lab node's registry and signs its manifest digest with the real cosign binary in the node, using the key pair
// of that name (made once per scenario by `cosign generate-key-pair`, empty password, shared with the SecurityPolicy step). Node substrate only.
Given('the cosign binary on the node signs the image of {workload} with the {string} key', async function (this: LabWorld, workload: Workload, name: string) {
  const image = await this.lab.pushImage(workload.spec.image);
  const key = await cosignKey(this, name);
  const r = await trust.nodeCosignSign(this.lab, workload.spec.image.repository, image.manifestDigest, key.privateKeyPath);
  this.attachText('cosign-sign', r.stderr);
});

// Applies a SecurityPolicy `cosign-<key name>` (enforcementAction Deny, for the namespace by its kubernetes.io/metadata.name label) requiring images
// under the reference (`*` matches any characters, `/` included) to verify with that key's public key, and restarts the webhook to load it.
// On a profile without an admission webhook it applies nothing and only attaches a note (the step passes). Node substrate only.
Given('a SecurityPolicy requires images under {string} in the namespace {string} to be signed with the {string} cosign key', async function (this: LabWorld, reference: string, namespace: string, name: string) {
  const key = await cosignKey(this, name);
  const doc = cosignPolicyDocument({ name: `cosign-${name}`, namespace, reference, publicKeys: [key.publicKeyPem] });
  this.attachText('security-policy', doc.text);
  const admission = admissionOf(this.lab);
  if (!admission) return this.attachText('security-policy-not-applied', `profile ${this.lab.profile.metadata.name} has no admission webhook: nothing enforces the SecurityPolicy`);
  await admission.applyPolicies(this.lab, [doc]);
});

// ---------------------------------------------------------------- outages

// Stops the admission webhook process in the lab node (SIGTERM, SIGKILL after 5 s) and fails unless it was running and `kill -0` on it then fails.
// On a profile without an admission webhook it does nothing and only attaches a note (the step passes). Node substrate only.
When('the attacker stops the admission webhook', async function (this: LabWorld) {
  const admission = admissionOf(this.lab);
  if (!admission) return this.attachText('admission-webhook', `profile ${this.lab.profile.metadata.name} has no admission webhook: nothing to stop`);
  const pid = await admission.stopWebhook(this.lab);
  assert.ok(pid, 'the admission webhook was not running');
  const alive = await this.lab.exec.run(['kill', '-0', String(pid)]);
  this.attachJson('admission-webhook-stopped', { pid, alive: alive.exitCode === 0 });
  assert.notEqual(alive.exitCode, 0, `webhook process ${pid} is still alive`);
});
