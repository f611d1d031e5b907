/**
 * The CRI container inventory: what the runtime says about a container
 * (ContainerStatus, and with verbose=true containerd's `info` JSON: the CRI
 * ContainerConfig it was created from, the OCI runtime spec, its pid), as
 * the audit engine's ContainerInfo, and the `container` event Falco's
 * container plugin emits when a container starts.
 *
 * Sources (k8s.io/cri-api runtime/v1 api.proto; containerd
 * internal/cri/server/container_status.go ContainerInfo):
 * - privileged: config.linux.security_context.privileged;
 * - host namespaces: config.linux.security_context.namespace_options,
 *   NamespaceMode NODE (2) for network, pid, ipc;
 * - mounts: ContainerStatus.mounts (the CRI-level mounts the pod asked for:
 *   hostPath volumes), as Falco's CRI provider reports them; the runtime's
 *   own mounts (/proc, /dev, /etc/hosts …) are not the pod's choice;
 * - pod: the kubelet labels io.kubernetes.pod.{namespace,name}.
 *
 * Trust boundary: the inventory comes from containerd over its socket,
 * which only root on the node can reach; its content is data, never code.
 */
import type { ContainerInfo, ContainerMount } from '../context.ts';
import { containerStartedEvent } from '../context.ts';
import type { AuditEvent } from '../fields.ts';
import { formatTime } from '../engine.ts';

/** The parts of CRI ContainerStatus this module reads (lab/cri's type is a superset). */
export interface CriContainerStatus {
  id: string;
  metadata?: { name?: string };
  state?: string;
  startedAt?: number | string;
  image?: { image?: string };
  labels?: Record<string, string>;
  mounts?: readonly { containerPath?: string; hostPath?: string; readonly?: boolean; propagation?: string | number }[];
}

export interface InventoryEntry {
  info: ContainerInfo;
  /** The container's pid in the node's PID namespace (verbose info), 0 when not running. */
  nodePid: number;
  /** Entrypoint and arguments from the runtime spec, Falco-style (name then arguments). */
  cmdline?: string;
  /** RFC 3339 start time. */
  startedAt?: string;
}

const NODE = new Set(['NODE', 2, '2']);
const PROPAGATION: Record<string, string> = {
  PROPAGATION_PRIVATE: 'private',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
  '0': 'private',
  '1': 'rslave',
  '2': 'rshared',
};

/** Reads a key in snake_case or camelCase (containerd marshals the CRI config with Go JSON names). */
function pick(o: unknown, ...keys: string[]): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * The container as the audit engine sees it. `verbose` is the parsed
 * `info` map of ContainerStatus(verbose=true), whose `info` key holds
 * containerd's JSON.
 */
export function inventoryEntry(status: CriContainerStatus, verbose: Record<string, unknown> = {}): InventoryEntry {
  const info = (pick(verbose, 'info') ?? {}) as Record<string, unknown>;
  const config = pick(info, 'config');
  const security = pick(pick(config, 'linux'), 'security_context', 'securityContext');
  const ns = pick(security, 'namespace_options', 'namespaceOptions');
  const labels = status.labels ?? {};
  const container: ContainerInfo = { id: status.id };
  const name = status.metadata?.name ?? labels['io.kubernetes.container.name'];
  if (name) container.name = name;
  const image = status.image?.image;
  if (image) container.image = image;
  container.privileged = pick(security, 'privileged') === true;
  container.hostNetwork = NODE.has(pick(ns, 'network') as string);
  container.hostPid = NODE.has(pick(ns, 'pid') as string);
  container.hostIpc = NODE.has(pick(ns, 'ipc') as string);
  container.mounts = criMounts(status, config);
  const podNs = labels['io.kubernetes.pod.namespace'];
  const pod = labels['io.kubernetes.pod.name'];
  if (podNs) container.k8sNamespace = podNs;
  if (pod) container.k8sPod = pod;
  const entry: InventoryEntry = { info: container, nodePid: Number(pick(info, 'pid') ?? 0) || 0 };
  const args = pick(pick(pick(info, 'runtimeSpec'), 'process'), 'args');
  if (Array.isArray(args) && args.length > 0 && args.every((a) => typeof a === 'string')) {
    const comm = (args[0] as string).split('/').pop()!.slice(0, 15);
    entry.cmdline = [comm, ...(args.slice(1) as string[])].join(' ');
  }
  const started = nanosToRfc3339(status.startedAt);
  if (started) entry.startedAt = started;
  return entry;
}

function criMounts(status: CriContainerStatus, config: unknown): ContainerMount[] {
  const fromStatus = status.mounts ?? [];
  const raw = fromStatus.length > 0 ? fromStatus : ((pick(config, 'mounts') as unknown[] | undefined) ?? []);
  const out: ContainerMount[] = [];
  for (const m of raw) {
    const source = pick(m, 'hostPath', 'host_path');
    const dest = pick(m, 'containerPath', 'container_path');
    if (typeof source !== 'string' || typeof dest !== 'string') continue;
    const ro = pick(m, 'readonly') === true;
    const propagation = PROPAGATION[String(pick(m, 'propagation') ?? 'PROPAGATION_PRIVATE')] ?? 'private';
    out.push({ source, dest, mode: ro ? 'ro' : '', readWrite: !ro, propagation });
  }
  return out;
}

/** CRI times are nanoseconds since the epoch (int64, here a number or a decimal string). */
export function nanosToRfc3339(v: number | string | undefined): string | undefined {
  if (v === undefined || v === '' || v === 0 || v === '0') return undefined;
  let ns: bigint;
  try {
    ns = typeof v === 'number' ? BigInt(Math.round(v)) : BigInt(v);
  } catch {
    return undefined;
  }
  if (ns <= 0n) return undefined;
  const ms = ns / 1_000_000n;
  const base = formatTime(new Date(Number(ms)));
  return `${base.slice(0, 20)}${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** The `container` event for a started container (evt.type=container, as Falco's container plugin). */
export function inventoryEvent(entry: InventoryEntry, fallbackTime: string): AuditEvent {
  return containerStartedEvent(entry.info, entry.startedAt ?? fallbackTime, entry.cmdline);
}
