/**
 * The substrate seam for steps: a scenario runs on a single lab node
 * (World.node) or on a kind cluster. Steps ask here where a workload runs
 * and how to start one, and never branch on the substrate themselves.
 *
 * Kind state is kept per World in a WeakMap, so the World class stays the
 * same for both substrates.
 */
import { type RunningPod } from '../../lab/cri/index.ts';
import type { StartedKindCluster } from '../../lab/kind/cluster.ts';
import * as allure from 'allure-js-commons';
import { ApiServerDenied, KindWorkloads, PodNotRunning, type KindRunningPod } from '../../lab/kind/workloads.ts';
import { startKindCluster, startLabNode } from '../../lab/start.ts';
import { labState } from './state.ts';
import { toStderr } from '../../lab/progress.ts';
import { nodeLogsOf, type LabNodeHandle } from '../../lab/node/index.ts';
import { restartContainer as restartLabNodeContainer } from '../../lab/watchdog/index.ts';
import type { LabProfile, Workload } from '../../lab/spec/schemas.ts';
import type { LabWorld } from './world.ts';

export interface KindScenario {
  cluster: StartedKindCluster;
  workloads: KindWorkloads;
  /** Pods started through the apiserver, by workload name. */
  pods: Map<string, KindRunningPod>;
  /** Workloads Kubernetes refused (the apiserver or the kubelet), by name. */
  refusals: Map<string, Error>;
}

const kindScenarios = new WeakMap<LabWorld, KindScenario>();
/** Every cluster this process started and has not stopped (for AfterAll and Ctrl-C). */
export const activeClusters = new Set<StartedKindCluster>();

export function setKind(world: LabWorld, scenario: KindScenario | undefined): void {
  if (scenario) {
    kindScenarios.set(world, scenario);
    activeClusters.add(scenario.cluster);
  } else {
    const old = kindScenarios.get(world);
    if (old) activeClusters.delete(old.cluster);
    kindScenarios.delete(world);
  }
}

export function kindOf(world: LabWorld): KindScenario | undefined {
  return kindScenarios.get(world);
}

/** Starts a workload the way a user would on this scenario's substrate. */
export async function startWorkload(world: LabWorld, workload: Workload, options: { nodeName?: string } = {}): Promise<RunningPod> {
  const kind = kindOf(world);
  if (!kind) return world.lab.startWorkload(workload);
  const pod = await kind.workloads.start(workload, options);
  kind.pods.set(workload.metadata.name, pod);
  world.attachJson(`pod-${workload.metadata.name}`, { node: pod.node.name, status: pod.object.status });
  return pod;
}

/** Every node of the scenario's lab: the lab node, or each node of the kind cluster. */
export function labNodes(world: LabWorld): LabNodeHandle[] {
  const kind = kindOf(world);
  return kind ? kind.cluster.nodes : [world.lab];
}

/**
 * Where an attack on a workload runs, as root: the lab node, or on kind the
 * node the workload's pod runs on (the attack has to be carried out where
 * the target is; an attack that starts its target itself runs on the control
 * plane).
 */
export function attackNode(world: LabWorld, workload: string): LabNodeHandle {
  const kind = kindOf(world);
  if (!kind) return world.lab;
  return kind.pods.get(workload)?.node ?? kind.cluster.controlPlane;
}

/** The node a workload runs on: the lab node, or the kind node the scheduler chose. */
export function nodeOf(world: LabWorld, workload: string): LabNodeHandle {
  const kind = kindOf(world);
  if (!kind) return world.lab;
  const pod = kind.pods.get(workload);
  if (!pod) throw new Error(`workload "${workload}" was not started on the kind cluster in this scenario`);
  return pod.node;
}

/** Tears the scenario's lab down now: the lab node, or the whole kind cluster. */
export async function stopLab(world: LabWorld): Promise<void> {
  const kind = kindOf(world);
  if (kind) {
    setKind(world, undefined);
    await kind.cluster.stop();
    return;
  }
  await world.lab.stop({ force: true });
  world.node = undefined;
}

/**
 * "The node" of a scenario that started one (`Given a lab node with …`): the
 * lab node, or the only node of the one-node kind cluster that Given starts
 * on kind. Steps about a workload's node use nodeOf.
 */
export function theNode(world: LabWorld): LabNodeHandle {
  const kind = kindOf(world);
  if (!kind) return world.lab;
  const [only, ...more] = kind.cluster.nodes;
  if (!only || more.length > 0) throw new Error(`"the node" is ambiguous on a kind cluster of ${kind.cluster.nodes.length} nodes (${kind.cluster.nodes.map((n) => n.name).join(', ')}): name the workload whose node is meant`);
  return only;
}

/** Whether this scenario started a lab, on either substrate. */
export function labStarted(world: LabWorld): boolean {
  return world.node !== undefined || kindOf(world) !== undefined;
}

/**
 * Restarts a workload's container the way the kubelet does (a new container,
 * attempt + 1, in the same sandbox). On the lab node the harness plays the
 * kubelet; on kind the container is stopped and the real kubelet restarts it.
 */
export async function restartContainer(world: LabWorld, workload: string): Promise<RunningPod> {
  const kind = kindOf(world);
  const pod = world.pod(workload);
  if (!kind) return restartLabNodeContainer(world.lab, pod);
  const restarted = await kind.workloads.restart(kind.pods.get(workload) ?? (pod as KindRunningPod));
  kind.pods.set(workload, restarted);
  world.attachJson(`pod-${workload}-restarted`, { node: restarted.node.name, status: restarted.object.status });
  return restarted;
}

/** The first kind start builds Kubernetes and the node image: tens of minutes on 2 cores. */
export const KIND_START_TIMEOUT = 75 * 60_000;

/**
 * The substrate of this run (`npm run conformance -- --substrate kind|node`
 * sets it for the scenarios it runs): on `kind`, the Gherkin
 * `Given a lab node with the … profile` starts a one-node kind cluster, so a
 * feature tagged @any-substrate runs unchanged on both.
 */
export function runSubstrate(): 'node' | 'kind' {
  return process.env.INTEGRITY_LAB_SUBSTRATE === 'kind' ? 'kind' : 'node';
}

/**
 * Starts the scenario's lab on this run's substrate: a lab node, or on kind a
 * one-node cluster (`Given a lab node with the … profile`).
 */
export async function startLab(world: LabWorld, profile: LabProfile): Promise<void> {
  if (runSubstrate() === 'kind') return startKind(world, profile, 0);
  try {
    world.node = await startLabNode(profile, { progress: toStderr });
  } catch (err) {
    // The node is gone: its logs, read before it was removed, are the evidence.
    const logs = nodeLogsOf(err);
    if (logs) world.attachText('node-logs-at-failed-start', logs);
    throw err;
  }
  await allure.parameter('profile', profile.metadata.name);
  const status = await world.node.status();
  labState.noteStatus({ ...status, image: world.node.imageTag });
  world.attachJson('node-status', status);
  world.labReadyAt = new Date();
}

/**
 * Starts containers that exit a moment after they start. On the lab node
 * the harness starts them as any workload; on kind they are started over
 * CRI on the node, without the apiserver, because the kubelet would restart
 * each exited container of a Pod (CrashLoopBackOff) rather than let it go.
 */
export async function startExitingWorkload(world: LabWorld, workload: Workload): Promise<RunningPod> {
  if (!kindOf(world)) return world.lab.startWorkload(workload);
  const node = theNode(world);
  await node.pushImage(workload.spec.image);
  return node.runCriPod(node.podSpecOf(workload));
}

/** Starts a kind cluster of one control plane and `workers` workers for this scenario. */
export async function startKind(world: LabWorld, profile: LabProfile, workers: number): Promise<void> {
  const cluster = await startKindCluster(profile, { workers, progress: toStderr });
  setKind(world, { cluster, workloads: new KindWorkloads(cluster), pods: new Map(), refusals: new Map() });
  await allure.parameter('profile', profile.metadata.name);
  await allure.parameter('substrate', 'kind');
  if (cluster.notInstalled.length > 0) world.attachJson('components-not-installed-on-kind', cluster.notInstalled);
  const nodes = await cluster.kubectl(['get', 'nodes', '-o', 'wide']);
  world.attachText('kubectl-get-nodes', nodes.stdout.toString());
  world.labReadyAt = new Date();
}

/**
 * Creates a workload through kube-apiserver and records whether it ran (in
 * world.pods) or how Kubernetes refused it (the apiserver's denial or the
 * kubelet's waiting reason, in the scenario's refusals, attached); a later
 * step must assert which.
 */
export async function submitToApiServer(world: LabWorld, workload: Workload, as: Workload = workload): Promise<void> {
  const kind = kindOf(world);
  if (!kind) throw new Error('this step needs a kind cluster: use `Given a kind cluster with the … profile`');
  kind.refusals.delete(workload.metadata.name);
  try {
    world.pods.set(workload.metadata.name, await startWorkload(world, as));
  } catch (err) {
    if (!(err instanceof PodNotRunning || err instanceof ApiServerDenied)) throw err;
    kind.refusals.set(workload.metadata.name, err);
    world.attachJson(`refusal-${workload.metadata.name}`, err instanceof PodNotRunning ? { reason: err.reason, message: err.kubeletMessage, events: err.events.map((e) => `${e.reason}: ${e.message}`) } : { status: err.status, message: err.apiMessage });
  }
}
