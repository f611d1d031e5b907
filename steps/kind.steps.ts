/**
 * Steps of the kind substrate: a real Kubernetes cluster (kind, with
 * Kubernetes built from source) whose workloads go through kube-apiserver,
 * the scheduler and the kubelet to containerd with EROFS.
 */
import assert from 'node:assert/strict';
import { After, AfterAll, Given, Then, When } from '@cucumber/cucumber';
import * as allure from 'allure-js-commons';
import type { KindLabNode } from '../lab/kind/cluster.ts';
import { GATE_DECISION_LOG } from '../lab/gates/component.ts';
import { PULL_DECISION_LOG } from '../lab/gates/pull-gate.ts';
import { inspectRootfs, parseMountinfo } from '../lab/node/index.ts';
import { poll } from '../lab/wait.ts';
import { PodNotRunning } from '../lab/kind/workloads.ts';
import { alertsFor, evaluateApiServerAudit } from '../lab/kind/apiserver-audit.ts';
import { describeError } from '../lab/errors.ts';
import { toStderr } from '../lab/progress.ts';
import type { LabProfile, Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';
import { activeClusters, attackNode, KIND_START_TIMEOUT, kindOf, nodeOf, setKind, startKind, startWorkload, submitToApiServer } from './support/substrate.ts';


// Starts a kind cluster of one control-plane node and no worker, with the profile's components, and registers the profile's admission webhook
// (if any) with its kube-apiserver. The first start builds Kubernetes and the node image (step timeout 75 min).
Given('a kind cluster with the {profile} profile', { timeout: KIND_START_TIMEOUT }, async function (this: LabWorld, profile: LabProfile) {
  await startKind(this, profile, 0);
});

// Same as `Given a kind cluster with the … profile`, with one worker node beside the control plane.
Given('a kind cluster of a control plane and a worker with the {profile} profile', { timeout: KIND_START_TIMEOUT }, async function (this: LabWorld, profile: LabProfile) {
  await startKind(this, profile, 1);
});

// Creates the workload's pod through kube-apiserver pinned to the worker node (spec.nodeName) and waits up to 120 s for its container to run;
// fails when the cluster has no worker, or when Kubernetes refuses the pod or does not run it.
When('the workload {workload} is started on the worker node', async function (this: LabWorld, workload: Workload) {
  const kind = kindOf(this);
  const worker = kind?.cluster.nodes.find((n) => n.role === 'worker');
  if (!worker) throw new Error('this scenario has no kind worker node: use `Given a kind cluster of a control plane and a worker …`');
  this.pods.set(workload.metadata.name, await startWorkload(this, workload, { nodeName: worker.name }));
});

// Checks, read once from kube-apiserver: the workload's pod (its name and namespace) is in phase exactly "Running" on a node whose role
// equals the word exactly ("control-plane" or "worker").
Then('the apiserver reports the workload {workload} Running on a {word} node', async function (this: LabWorld, workload: Workload, role: string) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const pod = await kind.workloads.core.readNamespacedPod({ name: workload.metadata.name, namespace: workload.spec.namespace });
  this.attachJson(`pod-${workload.metadata.name}-status`, pod.status);
  assert.equal(pod.status?.phase, 'Running', `pod ${workload.metadata.name} is ${pod.status?.phase}`);
  const node = kind.cluster.nodes.find((n) => n.name === pod.spec?.nodeName);
  assert.equal(node?.role, role, `pod ${workload.metadata.name} runs on ${pod.spec?.nodeName} (${node?.role ?? 'unknown role'}), expected a ${role} node`);
});

After(async function (this: LabWorld, { result }) {
  const kind = kindOf(this);
  if (!kind) return;
  if (result?.status !== 'PASSED') {
    const diagnosis = await kind.cluster.diagnose().catch((e: unknown) => describeError(e));
    this.attachText('kind-diagnosis', diagnosis);
  }
  setKind(this, undefined);
  if (!kind.cluster.keep) await kind.cluster.stop();
});

AfterAll({ timeout: 300_000 }, async function () {
  for (const cluster of [...activeClusters]) {
    await cluster.stop().catch((e: unknown) => toStderr({ phase: 'CLEANUP', status: 'ERROR', message: describeError(e) }));
  }
});

// Ctrl-C is handled with the lab nodes' in support/hooks.ts.

// Checks: within 15 s, kube-apiserver's own audit log (log backend) holds an event on which Falco's upstream k8s_audit rule of exactly this name fires, naming the workload's namespace and pod.
Then('the Falco k8s_audit rule {string} fired on kube-apiserver\'s audit events for {workload}', async function (this: LabWorld, rule: string, workload: Workload) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const polled = await poll(
    async () => evaluateApiServerAudit(await kind.cluster.apiServerAuditLog()),
    (v) => alertsFor(v.alerts, rule, workload.spec.namespace, workload.metadata.name).length > 0,
    { timeoutMs: 15_000, intervalMs: 1000 },
  );
  const verdict = polled.value!;
  const mine = alertsFor(verdict.alerts, rule, workload.spec.namespace, workload.metadata.name);
  this.attachJson('k8s-audit-alerts', { events: verdict.events, alerts: mine });
  assert.ok(mine.length > 0, `rule "${rule}" did not fire for ${workload.spec.namespace}/${workload.metadata.name} on ${verdict.events} apiserver audit events; rules that fired: ${[...new Set(verdict.alerts.map((a) => a.rule))].join(', ') || 'none'}`);
});

// Checks: the apiserver's audit log has events for the workload's pod (so the rule had something to read), and none makes the rule fire for it.
Then('the Falco k8s_audit rule {string} did not fire on kube-apiserver\'s audit events for {workload}', async function (this: LabWorld, rule: string, workload: Workload) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const log = await kind.cluster.apiServerAuditLog();
  const verdict = await evaluateApiServerAudit(log);
  const seen = log.split('\n').filter((l) => l.includes(`"name":"${workload.metadata.name}"`) && l.includes(`"namespace":"${workload.spec.namespace}"`)).length;
  this.attachJson('k8s-audit-alerts', { events: verdict.events, eventsNamingThePod: seen, alerts: alertsFor(verdict.alerts, rule, workload.spec.namespace, workload.metadata.name) });
  assert.ok(seen > 0, `the apiserver's audit log has no event for ${workload.spec.namespace}/${workload.metadata.name}: the rule had nothing to read`);
  assert.equal(alertsFor(verdict.alerts, rule, workload.spec.namespace, workload.metadata.name).length, 0, `rule "${rule}" fired for ${workload.metadata.name}`);
});

// Checks, from each node's start-gate decision log: kube-apiserver, kube-controller-manager, kube-scheduler and etcd in kube-system were allowed with a valid v2 signature and no upperdir (exact container names; the reason text "signature valid (v2)" and "no upperdir" as substrings).
Then('the start gate admitted every control-plane container from its lab-CA signature', async function (this: LabWorld) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const log = (await kind.cluster.controlPlane.readFile(GATE_DECISION_LOG)).toString();
  const decisions = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { action: string; container: string; namespace: string; reason: string });
  this.attachText('gate-decisions', log);
  for (const container of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) {
    const mine = decisions.filter((d) => d.container === container && d.namespace === 'kube-system');
    assert.ok(mine.length > 0, `the start gate on ${kind.cluster.controlPlane.name} made no decision for ${container}: it did not gate the control plane`);
    for (const d of mine) {
      assert.equal(d.action, 'allow', `the start gate refused ${container}: ${d.reason}`);
      assert.ok(d.reason.includes('signature valid (v2)') && d.reason.includes('no upperdir'), `the start gate allowed ${container} for another reason: ${d.reason}`);
    }
  }
});

// Checks: the workload's pod reports restartCount >= 1 within 90 s and its container runs again (a new container id); the restart count and the watchdog's record of the stop are attached.
Then('the kubelet restarted {workload} after the watchdog stopped it', { timeout: 120_000 }, async function (this: LabWorld, workload: Workload) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const before = this.pod(workload.metadata.name).containers[0]!.id;
  assert.equal(this.lastAttack?.earnedBy, 'watchdog', `the watchdog did not earn the last verdict (${this.lastAttack?.outcome ?? 'no attack'} by ${this.lastAttack?.earnedBy ?? 'nobody'})`);
  const r = await poll(
    () => kind.workloads.core.readNamespacedPod({ name: workload.metadata.name, namespace: workload.spec.namespace }),
    (pod) => {
      const cs = pod.status?.containerStatuses?.[0];
      return (cs?.restartCount ?? 0) >= 1 && Boolean(cs?.state?.running) && cs?.containerID?.endsWith(before) === false;
    },
    { timeoutMs: 90_000, intervalMs: 1000 },
  );
  const cs = r.value?.status?.containerStatuses?.[0];
  this.attachJson('restart', { restartCount: cs?.restartCount ?? 0, lastState: cs?.lastState, state: cs?.state, stoppedContainer: before, stoppedBy: this.lastAttack?.judgement.evidence ?? null });
  await allure.parameter('restart count', String(cs?.restartCount ?? 0));
  assert.ok(r.ok, `the kubelet did not restart ${workload.metadata.name} within 90 s: restartCount ${cs?.restartCount ?? 0}, state ${JSON.stringify(cs?.state)}`);
});

// Checks, from the container's mountinfo on its node: the root is an overlay with no upperdir, and the kubelet's own mounts are there: the service-account token directory, /etc/hosts and /dev/termination-log (exact mount points).
Then('{workload} runs with the kubelet\'s mounts on a root file system with no upperdir', async function (this: LabWorld, workload: Workload) {
  const report = await inspectRootfs(nodeOf(this, workload.metadata.name), this.pod(workload.metadata.name));
  this.attachText('container-mountinfo', report.containerMountinfo);
  assert.equal(report.root?.fstype, 'overlay', `the container root is ${report.root?.fstype ?? 'missing'}`);
  assert.ok(!report.root.options.some((o) => o.startsWith('upperdir=')), `the container root has an upperdir: ${report.root.line}`);
  const mounts = new Set(parseMountinfo(report.containerMountinfo).map((m) => m.mountPoint));
  for (const point of ['/var/run/secrets/kubernetes.io/serviceaccount', '/etc/hosts', '/dev/termination-log']) {
    assert.ok(mounts.has(point), `the kubelet's mount ${point} is missing in ${workload.metadata.name}`);
  }
});

// Checks: the last attack was carried out on a node of this role (the node the target's pod runs on).
Then('the attack was carried out on the {word} node', function (this: LabWorld, role: string) {
  const kind = kindOf(this);
  assert.ok(kind && this.lastAttack, 'this step needs a kind cluster and an attack');
  const node = attackNode(this, this.lastAttack.attack.spec.target.workload) as KindLabNode;
  this.attachText('attacked-node', `${node.name} (${node.role})`);
  assert.equal(node.role, role, `the attack ran on ${node.name}, a ${node.role} node`);
});

// Starts the workload through kube-apiserver and records whether it ran or how Kubernetes refused it (the apiserver's denial or the kubelet's waiting reason); a later step must assert which.
When('the workload {workload} is submitted through kube-apiserver', { timeout: 180_000 }, async function (this: LabWorld, workload: Workload) {
  await submitToApiServer(this, workload);
});

// Checks: the pod was admitted but its container did not run, and the kubelet's waiting message (or a pod event) carries the reason of a refusal that the named gate ("pull gate" or "start gate") logged on the pod's node for this pod (start gate) or its image (pull gate); substring match of the gate's reason.
Then('the kubelet reports that {workload} did not run, with the {gate}\'s refusal', async function (this: LabWorld, workload: Workload, gate: 'pull gate' | 'start gate') {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const refusal = kind.refusals.get(workload.metadata.name);
  assert.ok(refusal instanceof PodNotRunning, refusal ? `the apiserver refused it instead: ${refusal.message}` : `${workload.metadata.name} ran`);
  const node = kind.cluster.nodes.find((n) => n.name === refusal.nodeName) ?? kind.cluster.controlPlane;
  const { repository, tag } = workload.spec.image;
  const log = (await node.exec.run(['cat', gate === 'pull gate' ? PULL_DECISION_LOG : GATE_DECISION_LOG])).stdout.toString();
  type Decision = { action: string; pod?: string; namespace?: string; image?: string; reason: string };
  const mine = (d: Decision) => (gate === 'pull gate' ? d.image === node.imageRef(repository, tag) : d.pod === workload.metadata.name && d.namespace === workload.spec.namespace);
  const refusals = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision).filter((d) => d.action === 'refuse' && mine(d));
  this.attachJson(`${gate.replace(' ', '-')}-refusals`, refusals);
  assert.ok(refusals.length > 0, `the ${gate} on ${node.name} logged no refusal for ${workload.spec.namespace}/${workload.metadata.name}; the kubelet said ${refusal.reason}: ${refusal.kubeletMessage}`);
  const said = [refusal.kubeletMessage, ...refusal.events.map((e) => e.message ?? '')].join('\n');
  assert.ok(refusals.some((d) => said.includes(d.reason.slice(0, 60))), `Kubernetes did not carry the ${gate}'s reason: the kubelet said "${refusal.reason}: ${refusal.kubeletMessage}", the gate said "${refusals[0]!.reason}"`);
});

// Checks: within 120 s the start gate on the pod's node logs a refusal for this pod (whose first start it allowed), and the pod's container is not running, its waiting reason one of the kubelet's failure reasons; the restart count and the kubelet's message are attached (and put in the report as a parameter).
Then('the kubelet\'s restart of {workload} is refused by the start gate, and the report shows the restart count', { timeout: 180_000 }, async function (this: LabWorld, workload: Workload) {
  const kind = kindOf(this);
  assert.ok(kind && this.lastAttack, 'this step needs a kind cluster and an attack');
  const node = attackNode(this, workload.metadata.name);
  // The pod's first start was allowed (it was running for the attack): any refusal for it came after.
  type Decision = { time: string; action: string; pod?: string; namespace?: string; reason: string };
  const refusalsSince = async () =>
    (await node.exec.run(['cat', GATE_DECISION_LOG])).stdout.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Decision)
      .filter((d) => d.action === 'refuse' && d.pod === workload.metadata.name && d.namespace === workload.spec.namespace);
  const r = await poll(
    async () => ({ refusals: await refusalsSince(), pod: await kind.workloads.core.readNamespacedPod({ name: workload.metadata.name, namespace: workload.spec.namespace }) }),
    (v) => v.refusals.length > 0 && !v.pod.status?.containerStatuses?.[0]?.state?.running,
    { timeoutMs: 120_000, intervalMs: 1000 },
  );
  const cs = r.value?.pod.status?.containerStatuses?.[0];
  this.attachJson('restart-refused', { restartCount: cs?.restartCount ?? 0, state: cs?.state, lastState: cs?.lastState, gateRefusals: r.value?.refusals ?? [] });
  await allure.parameter('restart count', String(cs?.restartCount ?? 0));
  assert.ok(r.value?.refusals.length, `the start gate on ${node.name} logged no refusal for ${workload.spec.namespace}/${workload.metadata.name} after the attack`);
  assert.ok(!cs?.state?.running, `${workload.metadata.name} runs again (restart count ${cs?.restartCount}): the tampered restart was not refused`);
});
