/**
 * Runs pods the way the kubelet does: pull each image, RunPodSandbox,
 * CreateContainer, StartContainer, with the kubelet's labels so that other
 * components (watchdog, audit, gates) can map containers to pods.
 */
import { randomUUID } from 'node:crypto';
import { LabError } from '../errors.ts';
import { CriCallError, type CriClient } from './client.ts';
import type { ContainerConfig, LinuxContainerResources, Mount, PodSandboxConfig, PortMapping } from './types.ts';

export type PodErrorCode = 'POD_START_FAILED';
export type PodStage = 'pull' | 'sandbox' | 'create' | 'start';

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  mounts?: Mount[];
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  workingDir?: string;
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups?: number[];
  /** Linux no_new_privs (Kubernetes allowPrivilegeEscalation: false). */
  noNewPrivs?: boolean;
  /** Capability names as Kubernetes writes them (NET_ADMIN); containerd adds the CAP_ prefix. */
  capabilities?: { add?: string[]; drop?: string[] };
  /** The seccomp profile asked for, as the kubelet asks (absent: Unconfined, the kubelet's default without SeccompDefault); Localhost with the file's absolute path. */
  seccomp?: 'RuntimeDefault' | 'Unconfined' | { localhost: string };
  resources?: LinuxContainerResources;
}

export interface PodSpec {
  name: string;
  namespace: string;
  uid?: string;
  containers: ContainerSpec[];
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostname?: string;
  /** Pod labels and annotations: on the sandbox, beside the kubelet's own labels. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Host ports of the pod's containers, as the kubelet collects them for the sandbox. */
  portMappings?: PortMapping[];
  sysctls?: Record<string, string>;
  /**
   * The sandbox's cgroup parent, as the kubelet sets it. Left out, containerd
   * uses `/k8s.io` (cgroupfs layout); a node whose runc uses systemd cgroups
   * (a kind node) needs a `.slice` (containerd's getCgroupsPath).
   */
  cgroupParent?: string;
  /** As the kubelet: `IfNotPresent` (default for tagged images) pulls only a missing image. */
  imagePullPolicy?: 'Always' | 'IfNotPresent';
}

export interface RunningPod {
  name: string;
  namespace: string;
  uid: string;
  sandboxId: string;
  sandboxConfig: PodSandboxConfig;
  /** `config`: the CreateContainer request the harness made (absent for a pod the kubelet made), so that a restart asks for the same. */
  containers: { name: string; id: string; image: string; imageRef: string; config?: ContainerConfig }[];
}

/** A pod that did not start, naming the stage and carrying the CRI error. */
export class PodStartError extends LabError<PodErrorCode> {
  readonly stage: PodStage;
  readonly criError?: CriCallError;
  constructor(pod: PodSpec, stage: PodStage, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('POD_START_FAILED', `pod ${pod.namespace}/${pod.name} did not start at ${stage}: ${reason}`, { cause });
    this.stage = stage;
    if (cause instanceof CriCallError) this.criError = cause;
  }
}

export const KUBELET_LABELS = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
} as const;

/** Between the steps of runPod: what an attacker with the CRI socket can do between CreateContainer and StartContainer. */
export interface RunPodHooks {
  /** Runs after CreateContainer of each container, before its StartContainer. */
  beforeStart?: (containerId: string) => Promise<void>;
}

export async function runPod(cri: CriClient, spec: PodSpec, hooks: RunPodHooks = {}): Promise<RunningPod> {
  const uid = spec.uid ?? randomUUID();
  const podLabels = {
    [KUBELET_LABELS.podName]: spec.name,
    [KUBELET_LABELS.podNamespace]: spec.namespace,
    [KUBELET_LABELS.podUid]: uid,
  };
  const namespaceOptions = { network: spec.hostNetwork ? 'NODE' : 'POD', pid: spec.hostPID ? 'NODE' : 'CONTAINER', ipc: spec.hostIPC ? 'NODE' : 'POD' } as const;
  const sandboxConfig: PodSandboxConfig = {
    metadata: { name: spec.name, uid, namespace: spec.namespace, attempt: 0 },
    // As the kubelet: a host-network pod keeps the node's UTS namespace, where
    // runc cannot set a hostname (generatePodSandboxConfig leaves it empty).
    ...(spec.hostNetwork ? {} : { hostname: spec.hostname ?? spec.name }),
    logDirectory: `/var/log/pods/${spec.namespace}_${spec.name}_${uid}`,
    labels: { ...spec.labels, ...podLabels },
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
    ...(spec.portMappings?.length ? { portMappings: spec.portMappings } : {}),
    linux: {
      ...(spec.cgroupParent ? { cgroupParent: spec.cgroupParent } : {}),
      ...(spec.sysctls ? { sysctls: spec.sysctls } : {}),
      securityContext: {
        namespaceOptions,
        // As the kubelet (kuberuntime_sandbox.go, HasPrivilegedContainer):
        // containerd refuses a privileged container in an unprivileged sandbox.
        ...(spec.containers.some((c) => c.privileged === true) ? { privileged: true } : {}),
      },
    },
  };

  const imageRefs: string[] = [];
  for (const c of spec.containers) {
    try {
      const present = spec.imagePullPolicy === 'Always' ? undefined : await cri.imageStatus(c.image);
      imageRefs.push(present ? present.id : await cri.pullImage(c.image, sandboxConfig));
    } catch (err) {
      throw new PodStartError(spec, 'pull', err);
    }
  }

  let sandboxId: string;
  try {
    sandboxId = await cri.runPodSandbox(sandboxConfig);
  } catch (err) {
    throw new PodStartError(spec, 'sandbox', err);
  }

  const containers: RunningPod['containers'] = [];
  try {
    for (const [i, c] of spec.containers.entries()) {
      const config: ContainerConfig = {
        metadata: { name: c.name, attempt: 0 },
        image: { image: c.image },
        command: c.command,
        args: c.args,
        envs: Object.entries(c.env ?? {}).map(([key, value]) => ({ key, value })),
        mounts: c.mounts,
        labels: { ...podLabels, [KUBELET_LABELS.containerName]: c.name },
        logPath: `${c.name}/0.log`,
        ...(c.workingDir !== undefined ? { workingDir: c.workingDir } : {}),
        linux: {
          ...(c.resources ? { resources: c.resources } : {}),
          securityContext: {
            privileged: c.privileged ?? false,
            readonlyRootfs: c.readOnlyRootFilesystem ?? false,
            capabilities: capabilitiesOf(c),
            namespaceOptions,
            ...(c.runAsUser !== undefined ? { runAsUser: { value: c.runAsUser } } : {}),
            ...(c.runAsGroup !== undefined ? { runAsGroup: { value: c.runAsGroup } } : {}),
            ...(c.supplementalGroups?.length ? { supplementalGroups: c.supplementalGroups } : {}),
            ...(c.noNewPrivs ? { noNewPrivs: true } : {}),
            ...(c.seccomp ? { seccomp: typeof c.seccomp === 'object' ? { profileType: 2, localhostRef: c.seccomp.localhost } : { profileType: c.seccomp === 'RuntimeDefault' ? 0 : 1 } } : {}),
          },
        },
      };
      let id: string;
      try {
        id = await cri.createContainer(sandboxId, config, sandboxConfig);
      } catch (err) {
        throw new PodStartError(spec, 'create', err);
      }
      containers.push({ name: c.name, id, image: c.image, imageRef: imageRefs[i] ?? '', config });
      await hooks.beforeStart?.(id);
      try {
        await cri.startContainer(id);
      } catch (err) {
        throw new PodStartError(spec, 'start', err);
      }
    }
  } catch (err) {
    // Like the kubelet after a failed start: nothing of the pod stays behind.
    await removePod(cri, { sandboxId, containers }).catch(() => {});
    throw err;
  }
  return { name: spec.name, namespace: spec.namespace, uid, sandboxId, sandboxConfig, containers };
}

function capabilitiesOf(c: ContainerSpec): { addCapabilities?: string[]; dropCapabilities?: string[] } | undefined {
  // This host's bounding set lacks SYS_RESOURCE (FACTS.md): a privileged
  // container must drop it or runc cannot apply caps.
  const drop = [...(c.capabilities?.drop ?? []), ...(c.privileged ? ['SYS_RESOURCE'] : [])];
  const add = c.capabilities?.add ?? [];
  if (drop.length === 0 && add.length === 0) return undefined;
  return { ...(add.length ? { addCapabilities: add } : {}), ...(drop.length ? { dropCapabilities: drop } : {}) };
}

/** Stops and removes a pod's containers and sandbox; safe to call twice. */
export async function removePod(cri: CriClient, pod: Pick<RunningPod, 'sandboxId' | 'containers'>): Promise<void> {
  for (const c of pod.containers) {
    await cri.stopContainer(c.id, 2).catch(() => {});
    await cri.removeContainer(c.id).catch(() => {});
  }
  await cri.stopPodSandbox(pod.sandboxId).catch(() => {});
  await cri.removePodSandbox(pod.sandboxId);
}

/** Removes every pod sandbox on the node (teardown). */
export async function removeAllPods(cri: CriClient): Promise<number> {
  const sandboxes = await cri.listPodSandboxes();
  const containers = await cri.listContainers();
  for (const s of sandboxes) {
    await removePod(cri, { sandboxId: s.id, containers: containers.filter((c) => c.podSandboxId === s.id).map((c) => ({ name: c.metadata.name, id: c.id, image: '', imageRef: '' })) }).catch(() => {});
  }
  return sandboxes.length;
}
