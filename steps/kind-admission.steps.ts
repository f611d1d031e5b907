/**
 * Admission through a real kube-apiserver (kind substrate): pods go through
 * the apiserver (`When the workload … is submitted through kube-apiserver`,
 * steps/kind.steps.ts), which calls the lab's webhook on the control-plane
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
import { ApiServerDenied, PodNotRunning } from '../lab/kind/workloads.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import { poll } from '../lab/wait.ts';
import type { LabWorld } from './support/world.ts';
import { kindOf, submitToApiServer, type KindScenario } from './support/substrate.ts';

const registrationErrors = new WeakMap<LabWorld, WebhookRegistrationError>();

function kind(world: LabWorld): KindScenario {
  const k = kindOf(world);
  assert.ok(k, 'this step needs a kind cluster: start the scenario with `Given a kind cluster with the "integrity" profile`');
  return k;
}

/** The apiserver's refusal of a workload submitted in this scenario, if it refused it. */
function denial(world: LabWorld, workload: Workload): ApiServerDenied | undefined {
  const refusal = kind(world).refusals.get(workload.metadata.name);
  assert.ok(!(refusal instanceof PodNotRunning), `kube-apiserver admitted ${workload.metadata.name}, then the kubelet did not run it: ${refusal?.message}`);
  return refusal instanceof ApiServerDenied ? refusal : undefined;
}

/** Namespace and name of a workload as it was last submitted (the refusal names the pod it refused). */
function submittedAs(world: LabWorld, workload: Workload): { namespace: string; name: string } {
  const refused = denial(world, workload);
  if (refused) {
    const [namespace, name] = refused.pod.split('/') as [string, string];
    return { namespace, name };
  }
  const pod = kind(world).pods.get(workload.metadata.name);
  assert.ok(pod, `${workload.metadata.name} was not submitted through kube-apiserver in this scenario`);
  return { namespace: pod.namespace, name: pod.name };
}

// Like `the workload … is submitted through kube-apiserver`, in another namespace: records whether it ran or how Kubernetes refused it; a later step must assert which.
When('the workload {workload} is submitted through kube-apiserver in the namespace {string}', { timeout: 180_000 }, async function (this: LabWorld, workload: Workload, namespace: string) {
  await submitToApiServer(this, workload, inNamespace(workload, namespace));
});

// Checks: the apiserver refused the create (an HTTP error, not a pod that failed later), its message contains the text (substring, case-sensitive), and the apiserver holds no such pod; the webhook's decision record for the pod, if it made one, is attached.
Then('kube-apiserver refused {workload} with {string}', async function (this: LabWorld, workload: Workload, text: string) {
  const refused = denial(this, workload);
  assert.ok(refused, `kube-apiserver created the pod of ${workload.metadata.name}; expected a refusal with "${text}"`);
  assert.ok(refused.apiMessage.includes(text), `the apiserver's refusal does not contain "${text}": ${refused.apiMessage}`);
  const { namespace, name } = submittedAs(this, workload);
  const k = kind(this);
  const left = await k.workloads.core.readNamespacedPod({ namespace, name }).then(
    (p) => p.metadata?.uid ?? 'exists',
    (err: unknown) => {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    },
  );
  this.attachJson('apiserver-refusal', { status: refused.status, body: refused.body });
  assert.equal(left, undefined, `a refused pod ${namespace}/${name} exists in the apiserver (uid ${left})`);
  if (admissionOf(k.cluster.controlPlane)) {
    const decision = decisionFor(await readWebhookDecisions(k.cluster.controlPlane), namespace, name);
    this.attachJson('admission-decision', decision ?? { none: `the webhook's log has no decision for ${namespace}/${name}` });
  }
});

// Checks: the apiserver accepted the create and the pod's container is running (the kubelet's state, read back from the apiserver).
Then('kube-apiserver admitted {workload} and it runs', async function (this: LabWorld, workload: Workload) {
  const refused = denial(this, workload);
  assert.equal(refused, undefined, `kube-apiserver refused ${workload.metadata.name}: ${refused?.apiMessage}`);
  const { namespace, name } = submittedAs(this, workload);
  const pod = await kind(this).workloads.core.readNamespacedPod({ namespace, name });
  this.attachJson(`pod-${name}-status`, pod.status);
  assert.ok(pod.status?.containerStatuses?.[0]?.state?.running, `pod ${namespace}/${name} is not running: ${JSON.stringify(pod.status?.containerStatuses?.[0]?.state)}`);
});

// Checks, polling up to 5 s: the webhook's decision log on the control-plane node has a record for the pod (namespace/name as submitted) whose outcome is exactly the text ("denied" or "admitted"): the decision is the webhook's, not the apiserver's own.
Then('the webhook on the control-plane node recorded {workload} as {string}', async function (this: LabWorld, workload: Workload, outcome: string) {
  assert.ok(outcome === 'denied' || outcome === 'admitted', `the outcome should be "denied" or "admitted", got "${outcome}"`);
  const { namespace, name } = submittedAs(this, workload);
  const node = kind(this).cluster.controlPlane;
  const polled = await poll(async () => decisionFor(await readWebhookDecisions(node), namespace, name), (d) => d !== undefined, { timeoutMs: 5_000, intervalMs: 200 });
  this.attachJson('admission-decision', polled.value ?? null);
  assert.ok(polled.value, `the webhook's decision log on ${node.name} has no record for ${namespace}/${name}`);
  assert.equal(polled.value.outcome, outcome, `the webhook's record for ${namespace}/${name} says ${polled.value.outcome}`);
});

// ------------------------------------------------------------------ faults

// Stops the admission webhook process on the kind control-plane node (SIGTERM, SIGKILL after 5 s); fails unless the profile runs a webhook
// there, it was running, and `kill -0` on its pid then fails. Its registration with kube-apiserver is left as it is.
When('the attacker kills the admission webhook process on the control-plane node', async function (this: LabWorld) {
  const node = kind(this).cluster.controlPlane;
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
  const node = k.cluster.controlPlane;
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

// Re-registers the control plane's admission webhook with kube-apiserver, its caBundle set to a freshly generated CA that did not issue the
// webhook's certificate, and waits up to 15 s for a dry-run probe pod to get the webhook's answer. A registration that never becomes effective
// is recorded, not raised, for `Then the registration fails naming the TLS problem "…"`; other errors fail the step.
When('the admission webhook is registered with the caBundle of another CA', async function (this: LabWorld) {
  const { generateLabPki } = await import('../lab/signer/index.ts');
  // Another lab's root: a well-formed CA that did not issue the webhook's certificate. Kept in the cluster's state directory, removed with it.
  const other = await generateLabPki(join(kind(this).cluster.stateDir, 'other-ca'), { clock: () => new Date() });
  await registerWithFault(this, { caPem: other.root.certificatePem });
});

// Re-registers the control plane's admission webhook with every webhook's Service renamed to the given name (the serving certificate names only
// the shipped one), waiting up to 15 s as above; a registration that never becomes effective is recorded for `Then the registration fails …`.
When('the admission webhook is registered behind the Service {string}', async function (this: LabWorld, serviceName: string) {
  await registerWithFault(this, { serviceName });
});

// Checks: the registration never became effective, the lab named the stuck part as TLS, and its message contains the text (the apiserver's own TLS error).
Then('the registration fails naming the TLS problem {string}', async function (this: LabWorld, text: string) {
  const err = registrationErrors.get(this);
  assert.ok(err, 'the registration became effective; expected it to fail on TLS');
  assert.equal(err.stuck, 'tls', `the lab named ${err.stuck} as the stuck part: ${err.message}`);
  assert.ok(err.message.includes(text), `the registration error does not contain "${text}": ${err.message}`);
  this.attachText('webhook-log-tail', await webhookLogTail(kind(this).cluster.controlPlane));
});
