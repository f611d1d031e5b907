/**
 * Workloads on the kind substrate, the way a user creates them: a Pod
 * object sent to kube-apiserver with @kubernetes/client-node, so admission
 * webhooks, the scheduler, the kubelet and CRI all take part. A refusal
 * comes back as Kubernetes says it: the apiserver's admission denial, or the
 * kubelet's container state and events (for example `CreateContainerError`
 * carrying the start gate's reason).
 */
import { ApiException, CoreV1Api, KubeConfig, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import { LabError } from '../errors.ts';
import { poll } from '../wait.ts';
import { podOfWorkload } from '../spec/pod.ts';
import type { BuiltImage } from '../images/index.ts';
import type { RunningPod } from '../cri/index.ts';
import { REGISTRY_HOST } from '../node/containerd-config.ts';
import type { Workload } from '../spec/schemas.ts';
import type { KindErrorCode } from './errors.ts';
import type { KindLabNode, StartedKindCluster } from './cluster.ts';

/** Container waiting reasons after which the kubelet will not start the container by itself. */
const FAILED_WAITING = new Set(['CreateContainerError', 'CreateContainerConfigError', 'RunContainerError', 'ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CrashLoopBackOff', 'ErrImageNeverPull']);

/** The apiserver refused the pod (admission): the message is the apiserver's. */
export class ApiServerDenied extends LabError<KindErrorCode> {
  readonly pod: string;
  readonly status: number;
  readonly apiMessage: string;
  readonly body: unknown;
  constructor(pod: string, status: number, apiMessage: string, body: unknown) {
    super('KIND_CLUSTER_FAILED', `the apiserver refused pod ${pod} (HTTP ${status}): ${apiMessage}`);
    this.pod = pod;
    this.status = status;
    this.apiMessage = apiMessage;
    this.body = body;
  }
}

/** The pod was admitted but its container did not run: the kubelet's reason and the pod's events. */
export class PodNotRunning extends LabError<KindErrorCode> {
  readonly pod: string;
  readonly reason: string;
  readonly kubeletMessage: string;
  readonly events: CoreV1Event[];
  /** The node the scheduler placed it on, if any. */
  readonly nodeName?: string;
  constructor(pod: string, reason: string, kubeletMessage: string, events: CoreV1Event[], nodeName?: string) {
    super('KIND_CLUSTER_FAILED', `pod ${pod} did not run: ${reason}: ${kubeletMessage}`);
    this.pod = pod;
    this.nodeName = nodeName;
    this.reason = reason;
    this.kubeletMessage = kubeletMessage;
    this.events = events;
  }
}

export interface KindRunningPod extends RunningPod {
  /** The node the scheduler placed it on. */
  node: KindLabNode;
  /** The Pod object as the apiserver last reported it. */
  object: V1Pod;
}

export class KindWorkloads {
  readonly core: CoreV1Api;

  readonly cluster: StartedKindCluster;

  constructor(cluster: StartedKindCluster) {
    this.cluster = cluster;
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Builds the workload's image and pushes it to every node's registry (the scheduler picks the node). */
  async pushImage(image: Workload['spec']['image']): Promise<BuiltImage> {
    let built: BuiltImage | undefined;
    for (const node of this.cluster.nodes) built = await node.pushImage(image);
    return built!;
  }

  async ensureNamespace(name: string): Promise<void> {
    try {
      await this.core.readNamespace({ name });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
      await this.core.createNamespace({ body: { metadata: { name } } });
    }
  }

  /**
   * The Pod object for a workload (lab/spec/pod.ts: shorthand fields or an
   * embedded Kubernetes pod, merged with the image the lab builds): the same
   * object the node substrate's admission sees.
   */
  podObject(workload: Workload, nodeName?: string): V1Pod {
    const image = workload.spec.image;
    const pod = podOfWorkload(workload, `${REGISTRY_HOST}/${image.repository}:${image.tag}`);
    for (const c of pod.spec!.containers) c.imagePullPolicy ??= 'IfNotPresent';
    if (nodeName) pod.spec!.nodeName = nodeName;
    return pod;
  }

  /**
   * Creates the workload's pod through the apiserver and waits until its
   * container runs. `nodeName` pins it to a node (as a user would with
   * nodeName or a selector).
   */
  async start(workload: Workload, options: { nodeName?: string; timeoutMs?: number } = {}): Promise<KindRunningPod> {
    await this.pushImage(workload.spec.image);
    const namespace = workload.spec.namespace;
    const name = workload.metadata.name;
    // An attack that started a pod over CRI stopped the kubelet (KindLabNode.runCriPod).
    for (const node of this.cluster.nodes) await node.ensureKubelet();
    await this.ensureNamespace(namespace);
    try {
      await this.core.createNamespacedPod({ namespace, body: this.podObject(workload, options.nodeName) });
    } catch (err) {
      if (err instanceof ApiException) {
        const body = typeof err.body === 'string' ? safeJson(err.body) : err.body;
        const message = (body as { message?: string } | undefined)?.message ?? String(err.body);
        throw new ApiServerDenied(`${namespace}/${name}`, err.code, message, body);
      }
      throw err;
    }
    return this.waitRunning(namespace, name, options.timeoutMs ?? 120_000);
  }

  async events(namespace: string, name: string): Promise<CoreV1Event[]> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
    return list.items;
  }

  async waitRunning(namespace: string, name: string, timeoutMs: number): Promise<KindRunningPod> {
    const running = (pod: V1Pod) => {
      const cs = pod.status?.containerStatuses?.[0];
      return cs?.state?.running && cs.containerID ? cs.containerID.replace(/^[a-z]+:\/\//, '') : undefined;
    };
    const failed = (pod: V1Pod) => {
      const reason = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return reason !== undefined && FAILED_WAITING.has(reason);
    };
    const polled = await poll(() => this.core.readNamespacedPod({ name, namespace }), (pod) => running(pod) !== undefined || failed(pod), { timeoutMs, intervalMs: 500 });
    const pod = polled.value!;
    const id = running(pod);
    if (id) return this.runningPod(pod, id);
    const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
    if (failed(pod)) throw new PodNotRunning(`${namespace}/${name}`, waiting!.reason!, waiting?.message ?? '', await this.events(namespace, name), pod.spec?.nodeName);
    const phase = pod.status?.phase ?? 'unknown';
    throw new PodNotRunning(`${namespace}/${name}`, `not running after ${timeoutMs} ms (phase ${phase}${waiting?.reason ? `, ${waiting.reason}` : ''})`, waiting?.message ?? '', await this.events(namespace, name), pod.spec?.nodeName);
  }

  /**
   * Stops the pod's container on its node and waits for the kubelet to start
   * a new one (restartCount up, a new container id, running): a restart as
   * the kubelet does it, which the harness only triggers.
   */
  async restart(pod: KindRunningPod, timeoutMs = 90_000): Promise<KindRunningPod> {
    const old = pod.containers[0];
    if (!old) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `pod ${pod.namespace}/${pod.name} has no container to restart`);
    const before = (await this.core.readNamespacedPod({ name: pod.name, namespace: pod.namespace })).status?.containerStatuses?.[0]?.restartCount ?? 0;
    await pod.node.cri.stopContainer(old.id, 2);
    const restarted = (now: V1Pod) => {
      const cs = now.status?.containerStatuses?.[0];
      const id = cs?.containerID?.replace(/^[a-z]+:\/\//, '');
      return (cs?.restartCount ?? 0) > before && cs?.state?.running && id && id !== old.id ? id : undefined;
    };
    const polled = await poll(() => this.core.readNamespacedPod({ name: pod.name, namespace: pod.namespace }), (now) => restarted(now) !== undefined, { timeoutMs, intervalMs: 500 });
    const now = polled.value!;
    const id = restarted(now);
    if (id) return this.runningPod(now, id);
    const cs = now.status?.containerStatuses?.[0];
    throw new PodNotRunning(`${pod.namespace}/${pod.name}`, `the kubelet did not restart container ${old.id.slice(0, 12)} within ${timeoutMs} ms (restartCount ${cs?.restartCount ?? 0}, was ${before})`, cs?.state?.waiting?.message ?? '', await this.events(pod.namespace, pod.name), now.spec?.nodeName);
  }

  /** The CRI view of a running pod, from the node it runs on. */
  async runningPod(pod: V1Pod, containerId: string): Promise<KindRunningPod> {
    const node = this.cluster.nodes.find((n) => n.name === pod.spec?.nodeName);
    if (!node) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `pod ${pod.metadata?.name} runs on unknown node ${pod.spec?.nodeName}`);
    const { status } = await node.cri.containerStatus(containerId);
    const containers = await node.cri.listContainers();
    const summary = containers.find((c) => c.id === containerId);
    const sandbox = (await node.cri.listPodSandboxes()).find((s) => s.id === summary?.podSandboxId);
    const meta = sandbox?.metadata ?? { name: pod.metadata!.name!, uid: pod.metadata!.uid!, namespace: pod.metadata!.namespace!, attempt: 0 };
    return {
      name: pod.metadata!.name!,
      namespace: pod.metadata!.namespace!,
      uid: pod.metadata!.uid!,
      sandboxId: summary?.podSandboxId ?? '',
      // As the kubelet names it (kuberuntime: BuildPodLogsDirectory).
      sandboxConfig: { metadata: meta, labels: sandbox?.labels ?? {}, logDirectory: `/var/log/pods/${meta.namespace}_${meta.name}_${meta.uid}` },
      containers: [{ name: status.metadata?.name ?? pod.spec!.containers[0]!.name, id: containerId, image: status.image?.image ?? '', imageRef: status.imageRef ?? '' }],
      node,
      object: pod,
    };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text };
  }
}
