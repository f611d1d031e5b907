/**
 * Steps of the kind substrate: a real Kubernetes cluster (kind, with
 * Kubernetes built from source) whose workloads go through kube-apiserver,
 * the scheduler and the kubelet to containerd with EROFS.
 */
import assert from 'node:assert/strict';
import { After, AfterAll, Given, Then, When } from '@cucumber/cucumber';
import * as allure from 'allure-js-commons';
import { KindCluster } from '../lab/kind/cluster.ts';
import { componentsFor } from '../lab/components.ts';
import { KindWorkloads } from '../lab/kind/workloads.ts';
import { alertsFor, evaluateApiServerAudit } from '../lab/kind/apiserver-audit.ts';
import { describeError } from '../lab/errors.ts';
import { toStderr } from '../lab/progress.ts';
import type { LabProfile, Workload } from '../lab/spec/schemas.ts';
import type { LabWorld } from './support/world.ts';
import { activeClusters, kindOf, setKind, startWorkload } from './support/substrate.ts';

/** The first run builds Kubernetes and the node image: tens of minutes on 2 cores. */
const CLUSTER_TIMEOUT = 75 * 60_000;

async function startCluster(world: LabWorld, profile: LabProfile, workers: number): Promise<void> {
  const cluster = await new KindCluster(profile).withComponents(componentsFor(profile)).withWorkers(workers).withProgress(toStderr).withKeep(process.env.INTEGRITY_LAB_KEEP === '1').start();
  setKind(world, { cluster, workloads: new KindWorkloads(cluster), pods: new Map() });
  await allure.parameter('profile', profile.metadata.name);
  await allure.parameter('substrate', 'kind');
  if (cluster.notInstalled.length > 0) world.attachJson('components-not-installed-on-kind', cluster.notInstalled);
  const nodes = await cluster.kubectl(['get', 'nodes', '-o', 'wide']);
  world.attachText('kubectl-get-nodes', nodes.stdout.toString());
}

Given('a kind cluster with the {profile} profile', { timeout: CLUSTER_TIMEOUT }, async function (this: LabWorld, profile: LabProfile) {
  await startCluster(this, profile, 0);
});

Given('a kind cluster of a control plane and a worker with the {profile} profile', { timeout: CLUSTER_TIMEOUT }, async function (this: LabWorld, profile: LabProfile) {
  await startCluster(this, profile, 1);
});

When('the workload {workload} is started on the worker node', async function (this: LabWorld, workload: Workload) {
  const kind = kindOf(this);
  const worker = kind?.cluster.nodes.find((n) => n.role === 'worker');
  if (!worker) throw new Error('this scenario has no kind worker node: use `Given a kind cluster of a control plane and a worker …`');
  this.pods.set(workload.metadata.name, await startWorkload(this, workload, { nodeName: worker.name }));
});

Then('the apiserver reports the workload {workload} Running on a {word} node', async function (this: LabWorld, workload: Workload, role: string) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  const pod = await kind.workloads.core.readNamespacedPod({ name: workload.metadata.name, namespace: workload.spec.namespace });
  this.attachJson(`pod-${workload.metadata.name}-status`, pod.status);
  assert.equal(pod.status?.phase, 'Running', `pod ${workload.metadata.name} is ${pod.status?.phase}`);
  const node = kind.cluster.nodes.find((n) => n.name === pod.spec?.nodeName);
  assert.equal(node?.role, role, `pod ${workload.metadata.name} runs on ${pod.spec?.nodeName} (${node?.role ?? 'unknown role'}), expected a ${role} node`);
});

After({ tags: '@kind' }, async function (this: LabWorld, { result }) {
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

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (activeClusters.size === 0) return;
    toStderr({ phase: 'CLEANUP', status: 'RUN', message: `${signal}: deleting ${activeClusters.size} kind cluster(s)` });
    void Promise.allSettled([...activeClusters].map((c) => c.stop()));
  });
}

// Checks: within 15 s, kube-apiserver's own audit log (log backend) holds an event on which Falco's upstream k8s_audit rule of exactly this name fires, naming the workload's namespace and pod.
Then('the Falco k8s_audit rule {string} fired on kube-apiserver\'s audit events for {workload}', async function (this: LabWorld, rule: string, workload: Workload) {
  const kind = kindOf(this);
  assert.ok(kind, 'this step needs a kind cluster');
  let verdict = await evaluateApiServerAudit(await kind.cluster.apiServerAuditLog());
  const deadline = Date.now() + 15_000;
  while (alertsFor(verdict.alerts, rule, workload.spec.namespace, workload.metadata.name).length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    verdict = await evaluateApiServerAudit(await kind.cluster.apiServerAuditLog());
  }
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
