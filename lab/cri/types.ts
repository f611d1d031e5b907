/**
 * The subset of the CRI runtime.v1 messages the lab uses, as TypeScript
 * types. Field names follow the proto (lab/cri/proto/api.proto) in camelCase,
 * as @grpc/proto-loader presents them.
 */
export interface KeyValue {
  key: string;
  value: string;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  propagation?: 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
}

export interface PortMapping {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  containerPort?: number;
  hostPort?: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory: string;
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    sysctls?: Record<string, string>;
    securityContext?: {
      namespaceOptions?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode };
      privileged?: boolean;
    };
  };
}

export interface LinuxContainerSecurityContext {
  privileged?: boolean;
  readonlyRootfs?: boolean;
  runAsUser?: { value: number };
  runAsGroup?: { value: number };
  supplementalGroups?: number[];
  noNewPrivs?: boolean;
  capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] };
  namespaceOptions?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode };
  /** CRI's SecurityProfile: profileType RuntimeDefault 0, Unconfined 1, Localhost 2 (with the profile file's path). */
  seccomp?: { profileType: 0 | 1 } | { profileType: 2; localhostRef: string };
}

export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: KeyValue[];
  mounts?: Mount[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath: string;
  linux?: { resources?: LinuxContainerResources; securityContext?: LinuxContainerSecurityContext };
}

export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerStatus {
  id: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  image: { image: string };
  imageRef: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: Mount[];
  logPath: string;
}

export interface ContainerSummary {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  image: { image: string };
  imageRef: string;
  state: ContainerState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PodSandboxSummary {
  id: string;
  metadata: PodSandboxMetadata;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  labels: Record<string, string>;
}

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

/** Where the kubelet keeps Localhost seccomp profiles: a pod's `localhostProfile` is a path under it (its `--seccomp-profile-root` default). */
export const KUBELET_SECCOMP_ROOT = '/var/lib/kubelet/seccomp';
