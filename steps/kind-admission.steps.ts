/**
 * Admission through a real kube-apiserver (kind substrate): pods are created
 * through the apiserver, which calls the lab's webhook on the control-plane
 * node as the shipped ValidatingWebhookConfiguration says; refusals are
 * asserted as the apiserver words them, with the webhook's decision record
 * as evidence.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ApiException } from '@kubernetes/client-node';
import { Then, When } from '@cucumber/cucumber';
import { admissionOf, inNamespace } from '../lab/admission/index.ts';
import { decisionFor, readWebhookDecisions, registerAdmissionWebhook, WebhookRegistrationError, webhookLogTail } from '../lab/kind/admission.ts';
import { ApiServerDenied } from '../lab/kind/workloads.ts';
import type { LabNodeHandle } from '../lab/node/handle.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import { poll } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';
import { kindOf, startWorkload, type KindScenario } from './support/substrate.ts';

interface ApiServerSubmission {
  namespace: string;
  name: string;
  denied?: ApiServerDenied;
}

const submissions = new WeakMap<LabWorld, ApiServerSubmission>();
const registrationErrors = new WeakMap<LabWorld, WebhookRegistrationError>();

function kind(world: LabWorld): KindScenario {
  const k = kindOf(world);
  assert.ok(k, 'this step needs a kind cluster: start the scenario with `Given a kind cluster with the "integrity" profile`');
  return k;
}

/** The control-plane node, where the admission component runs the webhook. */
function controlPlane(k: KindScenario): LabNodeHandle {
  return k.cluster.controlPlane as unknown as LabNodeHandle;
}

function submitted(world: LabWorld): ApiServerSubmission {
  const s = submissions.get(world);
  assert.ok(s, 'no pod was created through kube-apiserver in this scenario');
  return s;
}

async function create(world: LabWorld, workload: Workload): Promise<void> {
  const s: ApiServerSubmission = { namespace: workload.spec.namespace, name: workload.metadata.name };
  submissions.set(world, s);
  try {
    await startWorkload(world, workload);
  } catch (err) {
    if (!(err instanceof ApiServerDenied)) throw err;
    s.denied = err;
    world.refusalPending = true;
    world.attachJson('apiserver-refusal', { status: err.status, body: err.body });
  }
}

// -------------------------------------------------------------- submitting

When('the workload {workload} is created through kube-apiserver', async function (this: LabWorld, workload: Workload) {
  await create(this, workload);
});

When('the workload {workload} is created through kube-apiserver in the namespace {string}', async function (this: LabWorld, workload: Workload, namespace: string) {
  await create(this, inNamespace(workload, namespace));
});

// ---------------------------------------------------------------- outcomes

// Checks: the apiserver refused the create (an HTTP error, not a pod that failed later), its message contains the text (substring, case-sensitive), and the apiserver holds no such pod.
Then('kube-apiserver refuses the pod with {string}', async function (this: LabWorld, text: string) {
  const s = submitted(this);
  this.refusalPending = false;
  assert.ok(s.denied, `kube-apiserver created the pod ${s.namespace}/${s.name}; expected a refusal with "${text}"`);
  assert.ok(s.denied.apiMessage.includes(text), `the apiserver's refusal does not contain "${text}": ${s.denied.apiMessage}`);
  const k = kind(this);
  const left = await k.workloads.core.readNamespacedPod({ namespace: s.namespace, name: s.name }).then(
    (p) => p.metadata?.uid ?? 'exists',
    (err: unknown) => {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    },
  );
  assert.equal(left, undefined, `a refused pod ${s.namespace}/${s.name} exists in the apiserver (uid ${left})`);
  const admission = admissionOf(controlPlane(k));
  if (admission) {
    const decision = decisionFor(await readWebhookDecisions(controlPlane(k)), s.namespace, s.name);
    this.attachJson('admission-decision', decision ?? { none: `the webhook's log has no decision for ${s.namespace}/${s.name}` });
  }
});

// Checks: the apiserver accepted the create and the pod's container is running (the kubelet's state, read back from the apiserver).
Then('kube-apiserver admitted the pod and it runs', async function (this: LabWorld) {
  const s = submitted(this);
  assert.equal(s.denied, undefined, `kube-apiserver refused ${s.namespace}/${s.name}: ${s.denied?.apiMessage}`);
  const pod = await kind(this).workloads.core.readNamespacedPod({ namespace: s.namespace, name: s.name });
  this.attachJson(`pod-${s.name}-status`, pod.status);
  assert.ok(pod.status?.containerStatuses?.[0]?.state?.running, `pod ${s.namespace}/${s.name} is not running: ${JSON.stringify(pod.status?.containerStatuses?.[0]?.state)}`);
});

// Checks, polling up to 5 s: the webhook's decision log on the control-plane node has a record for this pod's namespace/name whose outcome is exactly the text ("denied" or "admitted"): the decision is the webhook's, not the apiserver's own.
Then('the webhook on the control-plane node recorded the pod as {string}', async function (this: LabWorld, outcome: string) {
  assert.ok(outcome === 'denied' || outcome === 'admitted', `the outcome should be "denied" or "admitted", got "${outcome}"`);
  const s = submitted(this);
  const node = controlPlane(kind(this));
  const polled = await poll(async () => decisionFor(await readWebhookDecisions(node), s.namespace, s.name), (d) => d !== undefined, { timeoutMs: 5_000, intervalMs: 200 });
  this.attachJson('admission-decision', polled.value ?? null);
  assert.ok(polled.value, `the webhook's decision log on ${node.name} has no record for ${s.namespace}/${s.name}`);
  assert.equal(polled.value.outcome, outcome, `the webhook's record for ${s.namespace}/${s.name} says ${polled.value.outcome}`);
});

// ------------------------------------------------------------------ faults

When('the attacker kills the admission webhook process on the control-plane node', async function (this: LabWorld) {
  const node = controlPlane(kind(this));
  const admission = admissionOf(node);
  assert.ok(admission, `profile ${node.profile.metadata.name} runs no admission webhook on ${node.name}`);
  const pid = await admission.stopWebhook(node);
  assert.ok(pid, `the admission webhook was not running on ${node.name}`);
  const alive = await node.exec.run(['kill', '-0', String(pid)]);
  this.attachJson('admission-webhook-killed', { node: node.name, pid, alive: alive.exitCode === 0 });
  assert.notEqual(alive.exitCode, 0, `webhook process ${pid} on ${node.name} is still alive`);
});

async function registerWithFault(world: LabWorld, fault: { caPem?: string; serviceName?: string }): Promise<void> {
  const k = kind(world);
  const node = controlPlane(k);
  const admission = admissionOf(node);
  assert.ok(admission, `profile ${node.profile.metadata.name} runs no admission webhook on ${node.name}`);
  const { manifest, manifestFile, port } = admission.registration(node);
  try {
    const r = await registerAdmissionWebhook(k.cluster, { manifest, manifestFile, port, timeoutMs: 15_000, ...fault });
    world.attachJson('admission-registration', { effectiveAfterMs: r.effectiveAfterMs, probeAnswer: r.probeAnswer });
  } catch (err) {
    if (!(err instanceof WebhookRegistrationError)) throw err;
    registrationErrors.set(world, err);
    world.attachText('admission-registration-error', err.message);
  }
}

When('the admission webhook is registered with the caBundle of another CA', async function (this: LabWorld) {
  const { generateLabPki } = await import('../lab/signer/index.ts');
  // Another lab's root: a well-formed CA that did not issue the webhook's certificate. Kept in the cluster's state directory, removed with it.
  const other = await generateLabPki(join(kind(this).cluster.stateDir, 'other-ca'), { clock: () => new Date() });
  await registerWithFault(this, { caPem: other.root.certificatePem });
});

When('the admission webhook is registered behind the Service {string}', async function (this: LabWorld, serviceName: string) {
  await registerWithFault(this, { serviceName });
});

// Checks: the registration never became effective, the lab named the stuck part as TLS, and its message contains the text (the apiserver's own TLS error).
Then('the registration fails naming the TLS problem {string}', async function (this: LabWorld, text: string) {
  const err = registrationErrors.get(this);
  assert.ok(err, 'the registration became effective; expected it to fail on TLS');
  assert.equal(err.stuck, 'tls', `the lab named ${err.stuck} as the stuck part: ${err.message}`);
  assert.ok(err.message.includes(text), `the registration error does not contain "${text}": ${err.message}`);
  this.attachText('webhook-log-tail', await webhookLogTail(controlPlane(kind(this))));
});
