/**
 * Whose a workload container is, as containerd's CRI plugin holds it in
 * memory: the pod sandbox the container was created in (ListContainers) and
 * that sandbox's namespace and name (PodSandboxStatus), both from the
 * kubelet's own requests.
 *
 * containerd's records (the container's OCI spec with its CRI annotations,
 * its labels and extensions) are not enough: root on the node holds
 * containerd's socket, and its Containers.Update call rewrites a record's
 * spec between CreateContainer and StartContainer; containerd then writes
 * the bundle from the rewritten record (seen on a lab node on 2026-12-07:
 * a kube-system container whose record was made to name `default` started
 * ungated). CRI's memory is changed by no API: only a containerd restart
 * reloads it from the records.
 *
 * A pod's sandbox is not in CRI's memory until it has started (containerd's
 * RunPodSandbox adds it to its store after StartSandbox), so this says
 * nothing about a sandbox being created.
 *
 * The two calls are described here by the fields read, with the CRI's field
 * numbers (k8s.io/cri-api runtime/v1 api.proto, lab/cri/proto); one
 * connection is kept open.
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { exerciseResponseCodecs } from '../grpc-warm-up.ts';
import { CRI_ANNOTATIONS } from './annotations.ts';

export interface CriIdentity {
  namespace: string;
  pod: string;
  container: string;
  sandboxId: string;
}

/** CRI's namespace modes (runtime.v1 NamespaceMode). */
export const NAMESPACE_MODE = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;
export type NamespaceMode = (typeof NAMESPACE_MODE)[keyof typeof NAMESPACE_MODE];

/**
 * What the kubelet asked for the container's process to run as and with
 * (the request's `envs`, `working_dir` and `linux.security_context`).
 */
export interface RequestedProcess {
  envs: { key: string; value: string }[];
  workingDir: string;
  privileged: boolean;
  /** Capability names as CRI takes them: no `CAP_` prefix, `ALL` for every one. */
  capabilities: { add: string[]; drop: string[] };
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername: string;
  /** `supplemental_groups` (the kubelet adds the pod's fsGroup to them). */
  supplementalGroups: number[];
  /** `supplemental_groups_policy` Strict: no group memberships from the image's /etc/group (Merge, the default, adds them). */
  supplementalGroupsStrict: boolean;
  noNewPrivs: boolean;
  namespaces: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; userns?: NamespaceMode };
  /** The seccomp profile asked for: none named is `unconfined` (containerd's default). */
  seccomp: 'runtime-default' | 'localhost' | 'unconfined';
  /** For a Localhost profile, the file the request names (CRI's `localhost_ref`, or the deprecated path without `localhost/`). */
  seccompLocalhostRef?: string;
  maskedPaths: string[];
  readonlyPaths: string[];
  devices: { containerPath: string; hostPath: string }[];
  /** The request's `linux.resources.oom_score_adj` (0 when not given, as Go leaves a zero out). */
  oomScoreAdj: number;
  /** The request's `linux.resources` (zeros left out); absent when the request has none. */
  resources?: RequestedResources;
}

/** The cgroup resources a CreateContainer request asks for (CRI's LinuxContainerResources, but oom_score_adj). */
export interface RequestedResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  memorySwapLimitInBytes?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: Record<string, string>;
}

/** What the kubelet asked CRI for, as CRI holds it in memory (the CreateContainer request's ContainerConfig). */
export interface CriRequest {
  command: string[];
  args: string[];
  /**
   * Host paths bound at container paths; `image`: an image volume, whose
   * source CRI chooses; `propagation` as CRI numbers it (private 0, host to
   * container 1, bidirectional 2). Absent `readonly` and `propagation`: not
   * asked for.
   */
  mounts: { containerPath: string; hostPath: string; image: boolean; readonly?: boolean; propagation?: number }[];
  /** Absent from a request built by hand (a sandbox's, which CRI does not hold yet): then none of it is judged. */
  process?: RequestedProcess;
}

export interface CriIdentitySource {
  /** undefined: CRI has no such container (not created through CRI). Throws when CRI cannot be asked. */
  ofContainer(containerId: string): Promise<CriIdentity | undefined>;
  /** The container's CreateContainer request as CRI holds it; undefined when CRI has no such container. */
  requestOf(containerId: string): Promise<CriRequest | undefined>;
}

const CRI_API = {
  nested: {
    runtime: {
      nested: {
        v1: {
          nested: {
            RuntimeService: {
              methods: {
                ListContainers: { requestType: 'ListContainersRequest', responseType: 'ListContainersResponse' },
                PodSandboxStatus: { requestType: 'PodSandboxStatusRequest', responseType: 'PodSandboxStatusResponse' },
                ContainerStatus: { requestType: 'ContainerStatusRequest', responseType: 'ContainerStatusResponse' },
              },
            },
            ContainerStatusRequest: { fields: { containerId: { type: 'string', id: 1 }, verbose: { type: 'bool', id: 2 } } },
            // `info.info`: the runtime's verbose JSON, whose `config` is the CreateContainer request CRI keeps in memory.
            ContainerStatusResponse: { fields: { info: { keyType: 'string', type: 'string', id: 2 } } },
            ListContainersRequest: { fields: { filter: { type: 'ContainerFilter', id: 1 } } },
            ContainerFilter: { fields: { id: { type: 'string', id: 1 } } },
            ListContainersResponse: { fields: { containers: { rule: 'repeated', type: 'Container', id: 1 } } },
            Container: { fields: { id: { type: 'string', id: 1 }, podSandboxId: { type: 'string', id: 2 }, metadata: { type: 'ContainerMetadata', id: 3 } } },
            ContainerMetadata: { fields: { name: { type: 'string', id: 1 } } },
            PodSandboxStatusRequest: { fields: { podSandboxId: { type: 'string', id: 1 }, verbose: { type: 'bool', id: 2 } } },
            PodSandboxStatusResponse: { fields: { status: { type: 'PodSandboxStatus', id: 1 } } },
            PodSandboxStatus: { fields: { id: { type: 'string', id: 1 }, metadata: { type: 'PodSandboxMetadata', id: 2 } } },
            PodSandboxMetadata: { fields: { name: { type: 'string', id: 1 }, uid: { type: 'string', id: 2 }, namespace: { type: 'string', id: 3 } } },
          },
        },
      },
    },
  },
};

/** Loaded once; also what a test's stand-in CRI serves. */
export const CRI_IDENTITY_API = fromJSON(CRI_API as unknown as Parameters<typeof fromJSON>[0], { keepCase: false, defaults: false });

type Unary<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => void;
interface RuntimeClient extends grpc.Client {
  ListContainers: Unary<{ filter: { id: string } }, { containers?: { id?: string; podSandboxId?: string; metadata?: { name?: string } }[] }>;
  PodSandboxStatus: Unary<{ podSandboxId: string; verbose: boolean }, { status?: { metadata?: { name?: string; namespace?: string } } }>;
  ContainerStatus: Unary<{ containerId: string; verbose: boolean }, { info?: Record<string, string> }>;
}

/** The ContainerConfig in containerd's verbose container info (Go protobuf JSON names). */
interface VerboseConfig {
  command?: string[];
  args?: string[];
  mounts?: { container_path?: string; host_path?: string; image?: unknown; readonly?: boolean; propagation?: number }[];
  envs?: { key?: string; value?: string }[];
  working_dir?: string;
  devices?: { container_path?: string; host_path?: string }[];
  linux?: {
    resources?: {
      oom_score_adj?: number;
      cpu_period?: number;
      cpu_quota?: number;
      cpu_shares?: number;
      memory_limit_in_bytes?: number;
      memory_swap_limit_in_bytes?: number;
      cpuset_cpus?: string;
      cpuset_mems?: string;
      hugepage_limits?: { page_size?: string; limit?: number }[];
      unified?: Record<string, string>;
    };
    security_context?: {
      privileged?: boolean;
      capabilities?: { add_capabilities?: string[]; drop_capabilities?: string[] };
      run_as_user?: { value?: number };
      run_as_group?: { value?: number };
      run_as_username?: string;
      supplemental_groups?: number[];
      /** Merge 0, Strict 1. */
      supplemental_groups_policy?: number;
      no_new_privs?: boolean;
      namespace_options?: { network?: number; pid?: number; ipc?: number; userns_options?: { mode?: number } };
      seccomp?: { profile_type?: number; localhost_ref?: string };
      seccomp_profile_path?: string;
      masked_paths?: string[];
      readonly_paths?: string[];
    };
  };
}

/** The seccomp profile a request names: the `seccomp` field (RuntimeDefault 0, Unconfined 1, Localhost 2), else the deprecated profile path. */
function requestedSeccomp(sc: NonNullable<NonNullable<VerboseConfig['linux']>['security_context']>): RequestedProcess['seccomp'] {
  if (sc.seccomp) return sc.seccomp.profile_type === 1 ? 'unconfined' : sc.seccomp.profile_type === 2 ? 'localhost' : 'runtime-default';
  const path = sc.seccomp_profile_path ?? '';
  if (path === 'runtime/default' || path === 'docker/default') return 'runtime-default';
  if (path.startsWith('localhost/')) return 'localhost';
  return 'unconfined';
}

const namespaceMode = (n: number | undefined): NamespaceMode => (n === 1 || n === 2 || n === 3 ? n : 0);

/** The process part of a CreateContainer request, from containerd's verbose JSON (zero values are left out there, as Go's encoder does). */
export function requestedProcessOf(config: VerboseConfig): RequestedProcess {
  const sc = config.linux?.security_context ?? {};
  const ns = sc.namespace_options ?? {};
  return {
    envs: (config.envs ?? []).map((e) => ({ key: e.key ?? '', value: e.value ?? '' })),
    workingDir: config.working_dir ?? '',
    privileged: sc.privileged === true,
    capabilities: { add: sc.capabilities?.add_capabilities ?? [], drop: sc.capabilities?.drop_capabilities ?? [] },
    runAsUser: sc.run_as_user ? (sc.run_as_user.value ?? 0) : undefined,
    runAsGroup: sc.run_as_group ? (sc.run_as_group.value ?? 0) : undefined,
    runAsUsername: sc.run_as_username ?? '',
    supplementalGroups: (sc.supplemental_groups ?? []).map(Number),
    supplementalGroupsStrict: sc.supplemental_groups_policy === 1,
    noNewPrivs: sc.no_new_privs === true,
    namespaces: { network: namespaceMode(ns.network), pid: namespaceMode(ns.pid), ipc: namespaceMode(ns.ipc), userns: ns.userns_options ? namespaceMode(ns.userns_options.mode) : undefined },
    seccomp: requestedSeccomp(sc),
    ...(requestedSeccomp(sc) === 'localhost' ? { seccompLocalhostRef: sc.seccomp ? (sc.seccomp.localhost_ref ?? '') : (sc.seccomp_profile_path ?? '').replace(/^localhost\//, '') } : {}),
    maskedPaths: sc.masked_paths ?? [],
    readonlyPaths: sc.readonly_paths ?? [],
    devices: (config.devices ?? []).map((d) => ({ containerPath: d.container_path ?? '', hostPath: d.host_path ?? '' })),
    oomScoreAdj: Number(config.linux?.resources?.oom_score_adj ?? 0),
    ...(config.linux?.resources ? { resources: requestedResourcesOf(config.linux.resources) } : {}),
  };
}

function requestedResourcesOf(r: NonNullable<NonNullable<VerboseConfig['linux']>['resources']>): RequestedResources {
  const out: RequestedResources = {};
  // Go writes int64 as a JSON number; zeros are left out, as here.
  const number = (v: number | undefined) => (v ? Number(v) : undefined);
  const set = <K extends keyof RequestedResources>(k: K, v: RequestedResources[K] | undefined) => {
    if (v !== undefined && v !== '') out[k] = v;
  };
  set('cpuPeriod', number(r.cpu_period));
  set('cpuQuota', number(r.cpu_quota));
  set('cpuShares', number(r.cpu_shares));
  set('memoryLimitInBytes', number(r.memory_limit_in_bytes));
  set('memorySwapLimitInBytes', number(r.memory_swap_limit_in_bytes));
  set('cpusetCpus', r.cpuset_cpus);
  set('cpusetMems', r.cpuset_mems);
  if (r.hugepage_limits?.length) out.hugepageLimits = r.hugepage_limits.map((h) => ({ pageSize: h.page_size ?? '', limit: Number(h.limit ?? 0) }));
  if (r.unified && Object.keys(r.unified).length > 0) out.unified = { ...r.unified };
  return out;
}

/** CRI over containerd's socket (the CRI plugin serves on it). `close()` ends the connection. */
export function criIdentities(socket: string, timeoutMs = 10_000): CriIdentitySource & { warmUp(): Promise<void>; close(): void } {
  const loaded = grpc.loadPackageDefinition(CRI_IDENTITY_API) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
  const options = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };
  const client = new loaded.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure(), options) as unknown as RuntimeClient;
  const call = <Req, Res>(method: Unary<Req, Res>, req: Req): Promise<{ res?: Res; err?: grpc.ServiceError }> =>
    new Promise((resolve) => {
      method.call(client, req, new grpc.Metadata({ waitForReady: true }), { deadline: Date.now() + timeoutMs }, (err, res) => resolve(err ? { err } : { res }));
    });
  const failed = (what: string, err: grpc.ServiceError) => new Error(`cannot ask CRI at ${socket} ${what}: ${grpc.status[err.code] ?? err.code}: ${err.details}`);
  return {
    async ofContainer(containerId) {
      const listed = await call(client.ListContainers, { filter: { id: containerId } });
      if (listed.err) throw failed(`for container ${containerId}`, listed.err);
      const c = listed.res?.containers?.find((x) => x.id === containerId);
      if (!c?.podSandboxId) return undefined;
      // Not verbose: containerd then asks the pod's shim for the sandbox task's status, and asked inside a
      // container's `runc create` that answer took 4 s (bench/gates.ts, 2026-12-07).
      const sandbox = await call(client.PodSandboxStatus, { podSandboxId: c.podSandboxId, verbose: false });
      if (sandbox.err) throw failed(`for the sandbox ${c.podSandboxId} of container ${containerId}`, sandbox.err);
      const m = sandbox.res?.status?.metadata;
      if (!m?.namespace) throw new Error(`CRI at ${socket} names no namespace for the sandbox ${c.podSandboxId} of container ${containerId}`);
      return { namespace: m.namespace, pod: m.name ?? '', container: c.metadata?.name ?? '', sandboxId: c.podSandboxId };
    },
    async requestOf(containerId) {
      const r = await call(client.ContainerStatus, { containerId, verbose: true });
      if (r.err?.code === grpc.status.NOT_FOUND) return undefined;
      if (r.err) throw failed(`for container ${containerId}`, r.err);
      let config: VerboseConfig | undefined;
      try {
        config = (JSON.parse(r.res?.info?.info ?? '{}') as { config?: VerboseConfig }).config;
      } catch (err) {
        throw new Error(`CRI at ${socket} gave unreadable verbose info for container ${containerId}: ${(err as Error).message}`);
      }
      if (!config) throw new Error(`CRI at ${socket} gave no request (config) in its verbose info for container ${containerId}`);
      return {
        command: config.command ?? [],
        args: config.args ?? [],
        mounts: (config.mounts ?? []).map((m) => ({
          containerPath: m.container_path ?? '',
          hostPath: m.host_path ?? '',
          image: m.image !== undefined && m.image !== null,
          readonly: m.readonly === true,
          propagation: m.propagation ?? 0,
        })),
        process: requestedProcessOf(config),
      };
    },
    /** The connection and the codecs of the three answers, before the first decision (lab/grpc-warm-up.ts). */
    async warmUp() {
      exerciseResponseCodecs(CRI_IDENTITY_API, 'runtime.v1.RuntimeService', {
        ListContainers: { containers: [{ id: 'warm-up', podSandboxId: 'warm-up', metadata: { name: 'warm-up' } }] },
        PodSandboxStatus: { status: { id: 'warm-up', metadata: { name: 'warm-up', uid: 'u', namespace: 'warm-up' } } },
        ContainerStatus: { info: { info: '{}' } },
      });
      await call(client.ListContainers, { filter: { id: 'integrity-lab-gate-daemon-warm-up' } });
    },
    close() {
      client.close();
    },
  };
}

/**
 * `source` with the questions about one container already asked: each is
 * sent now, together, and answered (or failed) once, so that a decision
 * that needs them waits for the slowest rather than for their sum.
 * `request: false` leaves the request to be asked when wanted.
 */
export function askedEarly(source: CriIdentitySource, containerId: string, what: { request: boolean }): CriIdentitySource {
  const settled = <T>(p: Promise<T>) => {
    p.catch(() => undefined); // each is awaited by its question; none may go unhandled meanwhile
    return p;
  };
  const identity = settled(source.ofContainer(containerId));
  const request = what.request ? settled(source.requestOf(containerId)) : undefined;
  return {
    ofContainer: (id) => (id === containerId ? identity : source.ofContainer(id)),
    requestOf: (id) => (id === containerId && request ? request : source.requestOf(id)),
  };
}

/**
 * Where containerd's record of a container (its spec's CRI annotations)
 * names another pod than CRI's memory does; empty when they agree.
 */
export function identityDifferences(cri: CriIdentity, annotations: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  const pairs: [string, string, string | undefined][] = [
    ['namespace', cri.namespace, annotations[CRI_ANNOTATIONS.namespace]],
    ['pod', cri.pod, annotations[CRI_ANNOTATIONS.podName]],
    ['container', cri.container, annotations[CRI_ANNOTATIONS.containerName]],
  ];
  for (const [what, inCri, inRecord] of pairs) {
    if (inCri !== inRecord) out.push(`${what} ${JSON.stringify(inRecord ?? null)} in containerd's record, ${JSON.stringify(inCri)} in CRI's own state`);
  }
  return out;
}
