/**
 * containerd's record of a workload container held to what the kubelet
 * asked CRI for.
 *
 * The record's OCI spec is what runc will run: its process (the command)
 * and its mounts. Root on the node can rewrite it through containerd's API
 * (Containers.Update) between CreateContainer and StartContainer, and
 * containerd then writes the bundle from it, so the start gate's other
 * checks (signed layers, signed config, bundle against record) all pass
 * while the container runs the attacker's command from verified layers, or
 * with the attacker's directory bound over its programs. CRI keeps the
 * CreateContainer request in memory (lab/cri/identity.ts `requestOf`), out
 * of that API's reach; the spec must follow from it:
 *
 * - the process arguments, as containerd's CRI builds them from the request
 *   and the (signed) image config: the request's command, else the image's
 *   entrypoint; then the request's args, else, with no command, the image's
 *   cmd;
 * - every mount: the runtime's own (`/proc`, `/dev`, …), a bind the request
 *   asked for (container path and host path, symlinks resolved as CRI
 *   resolves them), CRI's files of this pod's sandbox (`/etc/hosts`,
 *   `/etc/hostname`, `/etc/resolv.conf`, `/dev/shm`; the node's `/dev/shm`
 *   for a pod on the node's IPC namespace), or a volume CRI made for this
 *   container (an image's VOLUME).
 */
import { join } from 'node:path';
import type { CriRequest } from '../cri/identity.ts';

/** containerd's CRI plugin directories (its defaults, on the lab node and on kind). */
export const CRI_ROOT = '/var/lib/containerd/io.containerd.grpc.v1.cri';
export const CRI_STATE = '/run/containerd/io.containerd.grpc.v1.cri';

/** The mounts the runtime gives every container, by type and destination. */
const RUNTIME_MOUNTS: Readonly<Record<string, readonly string[]>> = {
  '/proc': ['proc'],
  '/dev': ['tmpfs'],
  '/dev/pts': ['devpts'],
  '/dev/mqueue': ['mqueue'],
  '/sys': ['sysfs'],
  '/sys/fs/cgroup': ['cgroup', 'cgroup2'],
};
const SANDBOX_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm']);

export interface RecordedProcessAndMounts {
  process?: { args?: string[] };
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: { namespaces?: { type: string; path?: string }[]; [field: string]: unknown };
}

/** A spec that lists its namespaces and has no IPC one: the pod shares the node's (hostIPC). */
const sharesNodeIpc = (spec: Pick<RecordedProcessAndMounts, 'linux'>) => Array.isArray(spec.linux?.namespaces) && !spec.linux.namespaces.some((n) => n.type === 'ipc');

/** The image config fields the command comes from (the signed config blob's `config`). */
export interface ImageCommand {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
}

/** The process arguments containerd's CRI builds from the request and the image config. */
export function expectedArgs(request: Pick<CriRequest, 'command' | 'args'>, image: ImageCommand): string[] {
  let command = request.command;
  let args = request.args;
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const entrypoint = image.Entrypoint ?? [];
    command = entrypoint.length === 1 && entrypoint[0] === '' ? [] : [...entrypoint];
  }
  return [...command, ...args];
}

const isBind = (m: { type?: string; options?: string[] }) => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
const under = (path: string, dir: string) => path.startsWith(`${dir}/`);

/**
 * Where the recorded spec departs from the request: each as one sentence;
 * empty when the spec follows from it.
 */
export function departuresFromRequest(
  recorded: RecordedProcessAndMounts,
  request: CriRequest,
  /** The signed image config; undefined: the command is not judged (a running container's is already running). */
  image: ImageCommand | undefined,
  ids: { containerId: string; sandboxId: string },
  realpath: (path: string) => string = (p) => p,
): string[] {
  const out: string[] = [];
  const want = image ? expectedArgs(request, image) : [];
  const have = recorded.process?.args ?? [];
  if (image && JSON.stringify(have) !== JSON.stringify(want)) {
    out.push(`process.args ${JSON.stringify(have)} in containerd's record, ${JSON.stringify(want)} from the request CRI holds and the signed image config`);
  }
  for (const m of unexplainedMounts(recorded, request, ids, realpath)) {
    out.push(`mount ${JSON.stringify(m)} in containerd's record, which no mount of the request CRI holds asked for`);
  }
  return out;
}

/** The recorded mounts that nothing explains: not the runtime's own, not requested, not this pod's or this container's CRI files. */
export function unexplainedMounts<M extends { destination: string; type?: string; source?: string; options?: string[] }>(
  recorded: { mounts?: M[]; linux?: RecordedProcessAndMounts['linux'] },
  request: CriRequest,
  ids: { containerId: string; sandboxId: string },
  realpath: (path: string) => string = (p) => p,
): M[] {
  const resolved = (p: string) => {
    try {
      return realpath(p);
    } catch {
      return p;
    }
  };
  const sandboxDirs = [join(CRI_ROOT, 'sandboxes', ids.sandboxId), join(CRI_STATE, 'sandboxes', ids.sandboxId)];
  const containerDirs = [join(CRI_ROOT, 'containers', ids.containerId), join(CRI_STATE, 'containers', ids.containerId)];
  return (recorded.mounts ?? []).filter((m) => {
    const source = m.source ?? '';
    const asked = request.mounts.filter((r) => r.containerPath === m.destination);
    const explained = isBind(m)
      ? asked.some((r) => (r.image ? under(source, '/var/lib/containerd') || under(source, '/run/containerd') : r.hostPath === source || resolved(r.hostPath) === source)) ||
        (SANDBOX_FILES.has(m.destination) && sandboxDirs.some((d) => under(source, d))) ||
        // A pod on the node's IPC namespace gets the node's /dev/shm instead of its own.
        (m.destination === '/dev/shm' && source === '/dev/shm' && sharesNodeIpc(recorded)) ||
        containerDirs.some((d) => under(source, d))
      : (RUNTIME_MOUNTS[m.destination] ?? []).includes(m.type ?? '');
    return !explained;
  });
}
