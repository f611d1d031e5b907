/**
 * Process and container context: the hook through which the lab adds what
 * audit records do not carry (the container, the pod, the process
 * ancestry), and the CRI container-inventory event.
 *
 * Audit events carry no container id (FACTS.md): whoever implements
 * Enricher maps a pid to its container, e.g. through /proc/<pid>/cgroup and
 * the CRI API, and walks /proc for the ancestors. This module only defines
 * the shapes and how they become Falco fields.
 */
import type { AuditEvent, FieldValue } from './fields.ts';

export interface ProcessInfo {
  pid?: number;
  name?: string;
  exepath?: string;
  /** argv[0] */
  exe?: string;
  cmdline?: string;
}

export interface ContainerMount {
  source: string;
  dest: string;
  /** Mount options, e.g. "ro,rbind". */
  mode?: string;
  readWrite?: boolean;
  propagation?: string;
}

export interface ContainerInfo {
  /** Container id; shortened to 12 characters as Falco shows it. */
  id: string;
  name?: string;
  /** Image reference as given to the runtime, e.g. registry.local/app:1.2. */
  image?: string;
  imageRepository?: string;
  imageTag?: string;
  privileged?: boolean;
  /** Host namespaces the container shares (CRI NamespaceMode NODE). */
  hostNetwork?: boolean;
  hostPid?: boolean;
  hostIpc?: boolean;
  mounts?: readonly ContainerMount[];
  k8sNamespace?: string;
  k8sPod?: string;
}

export interface ProcessContext {
  /** Absent: the process runs on the host (container.id = host). */
  container?: ContainerInfo;
  /** Parent first, then grandparent, and so on. */
  ancestors?: readonly ProcessInfo[];
}

/**
 * Looks up what the lab knows about a process. Returning undefined means
 * "unknown": the event keeps no container fields at all (so `container.id
 * != host` is false, as for any absent field).
 */
export interface Enricher {
  /**
   * `key` is the key of the audit rule that matched, when the record names
   * one: it can say whose files a process touched after the process is
   * gone (lab/audit/node/kernel-rules.ts).
   */
  lookup(pid: number, ppid: number | undefined, key?: string): ProcessContext | undefined;
}

/** Writes container and ancestry fields into an event under construction. */
export function applyContext(event: Record<string, FieldValue>, ctx: ProcessContext): void {
  Object.assign(event, containerFields(ctx.container));
  const ancestors = ctx.ancestors ?? [];
  const parent = ancestors[0];
  if (parent) {
    if (parent.name !== undefined) event['proc.pname'] = parent.name;
    if (parent.exepath !== undefined) event['proc.pexepath'] = parent.exepath;
    if (parent.exe !== undefined) event['proc.pexe'] = parent.exe;
    if (parent.cmdline !== undefined) event['proc.pcmdline'] = parent.cmdline;
    if (parent.pid !== undefined && event['proc.ppid'] === undefined) event['proc.ppid'] = parent.pid;
  }
  const self = typeof event['proc.name'] === 'string' ? event['proc.name'] : '';
  if (ancestors.length > 0) event['proc.aname'] = [self, ...ancestors.map((a) => a.name ?? '')];
}

/** Falco's container.* and k8s.* fields for a container, or container.id=host. */
export function containerFields(c: ContainerInfo | undefined): Record<string, FieldValue> {
  if (!c) return { 'container.id': 'host', 'container.name': 'host' };
  const out: Record<string, FieldValue> = { 'container.id': c.id.slice(0, 12) };
  if (c.name !== undefined) out['container.name'] = c.name;
  if (c.image !== undefined) out['container.image'] = c.image;
  const ref = c.image === undefined ? undefined : splitImage(c.image);
  const repo = c.imageRepository ?? ref?.repository;
  const tag = c.imageTag ?? ref?.tag;
  if (repo !== undefined) out['container.image.repository'] = repo;
  if (tag !== undefined) out['container.image.tag'] = tag;
  if (c.privileged !== undefined) out['container.privileged'] = c.privileged;
  if (c.hostNetwork !== undefined) out['container.host_network'] = c.hostNetwork;
  if (c.hostPid !== undefined) out['container.host_pid'] = c.hostPid;
  if (c.hostIpc !== undefined) out['container.host_ipc'] = c.hostIpc;
  if (c.mounts) {
    out['container.mount.source'] = c.mounts.map((m) => m.source);
    out['container.mount.dest'] = c.mounts.map((m) => m.dest);
    out['container.mounts'] = c.mounts
      .map((m) => `${m.source}:${m.dest}:${m.mode ?? ''}:${m.readWrite === false ? 'false' : 'true'}:${m.propagation ?? 'private'}`)
      .join(',');
  }
  if (c.k8sNamespace !== undefined) out['k8s.ns.name'] = c.k8sNamespace;
  if (c.k8sPod !== undefined) out['k8s.pod.name'] = c.k8sPod;
  return out;
}

/** Splits registry/repo:tag@digest into repository and tag. */
export function splitImage(ref: string): { repository: string; tag?: string } {
  const noDigest = ref.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon > slash) return { repository: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) };
  return { repository: noDigest };
}

/**
 * The event the CRI container inventory emits when a container starts:
 * evt.type=container, as Falco's container plugin does, with the
 * container's fields and, when known, its entrypoint as proc.cmdline.
 */
export function containerStartedEvent(c: ContainerInfo, time: string, cmdline?: string): AuditEvent {
  const event: Record<string, FieldValue> = { 'evt.type': 'container', 'evt.time': time, 'evt.dir': '<', ...containerFields(c) };
  if (cmdline !== undefined) {
    event['proc.cmdline'] = cmdline;
    event['proc.name'] = cmdline.split(' ')[0]!.split('/').pop()!.slice(0, 15);
  }
  return { source: 'syscall', ...event };
}
