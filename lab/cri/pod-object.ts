/**
 * A Kubernetes Pod (core/v1) as the CRI pod the lab runs on a single node,
 * the way the kubelet turns one into RunPodSandbox and CreateContainer
 * requests (pkg/kubelet/kuberuntime: kuberuntime_sandbox.go,
 * kuberuntime_container_linux.go, helpers.go). Pure.
 *
 * Carried over:
 *   metadata.name/namespace/uid, labels, annotations → sandbox metadata, labels, annotations
 *   spec.hostNetwork/hostPID/hostIPC            → namespace options NODE
 *   spec.hostname                               → sandbox hostname
 *   spec.securityContext.runAsUser/runAsGroup/supplementalGroups → each container (its own wins)
 *   spec.securityContext.sysctls                → sandbox sysctls
 *   spec.volumes[].hostPath + volumeMounts      → bind mounts (readOnly kept)
 *   containers[]: image, command, args, env (literal values), workingDir, imagePullPolicy,
 *     ports[].hostPort                          → sandbox port mappings
 *     securityContext.privileged/readOnlyRootFilesystem/runAsUser/runAsGroup/capabilities,
 *     allowPrivilegeEscalation: false           → no_new_privs
 *     seccompProfile RuntimeDefault/Unconfined/Localhost (the pod's, or the container's) → its seccomp
 *       profile (Localhost: the file under the kubelet's /var/lib/kubelet/seccomp)
 *     resources (cpu, memory)                   → CFS quota/period, cpu shares, memory limit
 *
 * Not carried over, and listed in `notCarried`: everything the kubelet does
 * itself rather than through CRI (probes, lifecycle hooks, restartPolicy,
 * init containers, termination grace), scheduling (nodeSelector, affinity,
 * tolerations), service accounts and DNS policy, volumes other than
 * hostPath, env from references, and security fields this lab's node does
 * not apply (AppArmor profiles, SELinux, runAsNonRoot, which the
 * kubelet checks against the image). The lab's CNI has no portmap plugin:
 * a host port is in the sandbox config, but nothing forwards it on the node.
 */
import type { V1Container, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import { LabError } from '../errors.ts';
import type { ContainerSpec, PodSpec } from './pods.ts';
import { KUBELET_SECCOMP_ROOT, type LinuxContainerResources, type PortMapping } from './types.ts';
import { posix } from 'node:path';

export type PodObjectErrorCode = 'POD_OBJECT_UNSUPPORTED';

export interface CriPod {
  spec: PodSpec;
  /** Fields of the Pod the node substrate does not apply, as paths (`spec.containers[0].livenessProbe`). */
  notCarried: string[];
}

const POD_FIELDS = new Set(['containers', 'volumes', 'hostNetwork', 'hostPID', 'hostIPC', 'hostname', 'securityContext']);
const POD_SECURITY_FIELDS = new Set(['runAsUser', 'runAsGroup', 'supplementalGroups', 'sysctls', 'seccompProfile']);
const CONTAINER_FIELDS = new Set(['name', 'image', 'command', 'args', 'env', 'workingDir', 'imagePullPolicy', 'ports', 'securityContext', 'resources', 'volumeMounts']);
const CONTAINER_SECURITY_FIELDS = new Set(['privileged', 'readOnlyRootFilesystem', 'runAsUser', 'runAsGroup', 'capabilities', 'allowPrivilegeEscalation', 'seccompProfile']);
const PORT_FIELDS = new Set(['containerPort', 'hostPort', 'hostIP', 'protocol', 'name']);

/** Kubernetes resource.Quantity as a number of base units (cores, bytes): suffixes of staging/src/k8s.io/apimachinery/pkg/api/resource/suffix.go. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(q.trim());
  if (!m) throw new LabError<PodObjectErrorCode>('POD_OBJECT_UNSUPPORTED', `not a Kubernetes quantity: ${JSON.stringify(q)}`);
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const factor: Record<string, number> = {
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
    n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  };
  return base * (m[3] ? factor[m[3]]! : 1);
}

const CPU_PERIOD_US = 100_000;

/** As kubelet's milliCPUToQuota and milliCPUToShares (pkg/kubelet/cm/helpers_linux.go). */
function resourcesOf(r: V1ResourceRequirements | undefined): LinuxContainerResources | undefined {
  if (!r) return undefined;
  const out: LinuxContainerResources = {};
  const cpuLimit = r.limits?.['cpu'];
  // API defaulting: a request left out equals the limit.
  const cpuRequest = r.requests?.['cpu'] ?? cpuLimit;
  if (cpuRequest !== undefined) out.cpuShares = Math.max(2, Math.floor((Math.ceil(parseQuantity(cpuRequest) * 1000) * 1024) / 1000));
  if (cpuLimit !== undefined) {
    out.cpuPeriod = CPU_PERIOD_US;
    out.cpuQuota = Math.max(1000, Math.floor((Math.ceil(parseQuantity(cpuLimit) * 1000) * CPU_PERIOD_US) / 1000));
  }
  const memory = r.limits?.['memory'];
  if (memory !== undefined) out.memoryLimitInBytes = Math.ceil(parseQuantity(memory));
  return Object.keys(out).length > 0 ? out : undefined;
}

function unknownKeys(value: object | undefined, known: Set<string>, path: string, out: string[]): void {
  for (const key of Object.keys(value ?? {})) if (!known.has(key)) out.push(`${path}.${key}`);
}

/** The CRI pod for a Pod object, and the fields that do not carry over. */
export function criPodOf(pod: V1Pod): CriPod {
  const meta = pod.metadata ?? {};
  const spec = pod.spec;
  if (!meta.name || !meta.namespace || !spec) {
    throw new LabError<PodObjectErrorCode>('POD_OBJECT_UNSUPPORTED', 'a Pod needs metadata.name, metadata.namespace and spec');
  }
  const notCarried: string[] = [];
  unknownKeys(spec, POD_FIELDS, 'spec', notCarried);
  unknownKeys(spec.securityContext, POD_SECURITY_FIELDS, 'spec.securityContext', notCarried);
  const hostPaths = new Map<string, string>();
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    if (v.hostPath) hostPaths.set(v.name, v.hostPath.path);
    else notCarried.push(`spec.volumes[${i}] (${v.name}: only hostPath volumes)`);
  }
  const podSecurity = spec.securityContext;
  const portMappings: PortMapping[] = [];
  const containers = spec.containers.map((c: V1Container, i): ContainerSpec => {
    const at = `spec.containers[${i}]`;
    if (!c.image) throw new LabError<PodObjectErrorCode>('POD_OBJECT_UNSUPPORTED', `${at} (${c.name}): has no image`);
    unknownKeys(c, CONTAINER_FIELDS, at, notCarried);
    unknownKeys(c.securityContext, CONTAINER_SECURITY_FIELDS, `${at}.securityContext`, notCarried);
    const out: ContainerSpec = { name: c.name, image: c.image };
    if (c.command) out.command = [...c.command];
    if (c.args) out.args = [...c.args];
    const env: Record<string, string> = {};
    for (const [j, e] of (c.env ?? []).entries()) {
      if (e.valueFrom) notCarried.push(`${at}.env[${j}].valueFrom (${e.name})`);
      else env[e.name] = e.value ?? '';
    }
    if (Object.keys(env).length > 0) out.env = env;
    if (c.workingDir) out.workingDir = c.workingDir;
    for (const [j, p] of (c.ports ?? []).entries()) {
      unknownKeys(p, PORT_FIELDS, `${at}.ports[${j}]`, notCarried);
      // As the kubelet (makePortMappings): only ports with a host port reach the sandbox.
      if (p.hostPort) {
        portMappings.push({ protocol: (p.protocol ?? 'TCP') as PortMapping['protocol'], containerPort: p.containerPort, hostPort: p.hostPort, ...(p.hostIP ? { hostIp: p.hostIP } : {}) });
      }
    }
    const sc = c.securityContext ?? {};
    if (sc.privileged !== undefined) out.privileged = sc.privileged;
    if (sc.readOnlyRootFilesystem !== undefined) out.readOnlyRootFilesystem = sc.readOnlyRootFilesystem;
    const runAsUser = sc.runAsUser ?? podSecurity?.runAsUser;
    if (runAsUser !== undefined) out.runAsUser = runAsUser;
    const runAsGroup = sc.runAsGroup ?? podSecurity?.runAsGroup;
    if (runAsGroup !== undefined) out.runAsGroup = runAsGroup;
    if (podSecurity?.supplementalGroups?.length) out.supplementalGroups = [...podSecurity.supplementalGroups];
    if (sc.allowPrivilegeEscalation === false) out.noNewPrivs = true;
    // As the kubelet (kuberuntime_container_linux.go, security_context): the container's profile wins over the pod's.
    const seccomp = sc.seccompProfile ?? podSecurity?.seccompProfile;
    if (seccomp?.type === 'RuntimeDefault' || seccomp?.type === 'Unconfined') out.seccomp = seccomp.type;
    // The kubelet joins the profile's relative path to its seccomp root; the API refuses one with "..".
    else if (seccomp?.type === 'Localhost' && seccomp.localhostProfile && !seccomp.localhostProfile.split('/').includes('..')) out.seccomp = { localhost: posix.join(KUBELET_SECCOMP_ROOT, seccomp.localhostProfile) };
    else if (seccomp) notCarried.push(`${sc.seccompProfile ? `${at}.securityContext` : 'spec.securityContext'}.seccompProfile (${seccomp.type}${seccomp.type === 'Localhost' ? ` ${JSON.stringify(seccomp.localhostProfile ?? null)}: a relative path without ".." is needed` : ': only RuntimeDefault, Unconfined and Localhost'})`);
    if (sc.capabilities) {
      out.capabilities = {};
      if (sc.capabilities.add) out.capabilities.add = [...sc.capabilities.add];
      if (sc.capabilities.drop) out.capabilities.drop = [...sc.capabilities.drop];
    }
    const resources = resourcesOf(c.resources);
    if (resources) out.resources = resources;
    const mounts: NonNullable<ContainerSpec['mounts']> = [];
    for (const [j, m] of (c.volumeMounts ?? []).entries()) {
      const hostPath = hostPaths.get(m.name);
      if (hostPath === undefined) {
        notCarried.push(`${at}.volumeMounts[${j}] (${m.name}: not a hostPath volume)`);
        continue;
      }
      if (m.subPath) notCarried.push(`${at}.volumeMounts[${j}].subPath`);
      mounts.push({ hostPath, containerPath: m.mountPath, readonly: m.readOnly ?? false });
    }
    if (mounts.length > 0) out.mounts = mounts;
    return out;
  });
  const out: PodSpec = { name: meta.name, namespace: meta.namespace, containers };
  if (meta.uid) out.uid = meta.uid;
  if (meta.labels && Object.keys(meta.labels).length > 0) out.labels = { ...meta.labels };
  if (meta.annotations && Object.keys(meta.annotations).length > 0) out.annotations = { ...meta.annotations };
  if (spec.hostNetwork) out.hostNetwork = true;
  if (spec.hostPID) out.hostPID = true;
  if (spec.hostIPC) out.hostIPC = true;
  if (spec.hostname) out.hostname = spec.hostname;
  if (portMappings.length > 0) out.portMappings = portMappings;
  if (podSecurity?.sysctls?.length) out.sysctls = Object.fromEntries(podSecurity.sysctls.map((s) => [s.name, s.value]));
  const policies = new Set(spec.containers.map((c) => c.imagePullPolicy).filter((p) => p !== undefined));
  if (policies.has('Always')) out.imagePullPolicy = 'Always';
  if (policies.has('Never')) notCarried.push('imagePullPolicy: Never (the lab pulls a missing image)');
  return { spec: out, notCarried };
}
