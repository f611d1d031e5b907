/**
 * Node-side fixtures of the watchdog scenarios: what a kubelet or an
 * operator does on a node around a workload (a tmpfs for volumes, a big
 * file, a debug session left inside a container's namespace, a container
 * restart), and disk measurements with the node's own df and du.
 */
import type { RunningPod } from '../cri/index.ts';
import { KUBELET_LABELS } from '../cri/pods.ts';
import type { LabNodeHandle } from '../node/index.ts';
import { watchdogError } from './errors.ts';

/** Mounts a tmpfs of `sizeMiB` on a node directory, as a kubelet does for an emptyDir of medium Memory. */
export async function mountNodeTmpfs(node: LabNodeHandle, dir: string, sizeMiB: number): Promise<void> {
  await node.run(['mkdir', '-p', dir]);
  await node.run(['mount', '-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir]);
}

/** Writes a file of `sizeMiB` MiB of random bytes on the node. */
export async function writeNodeFile(node: LabNodeHandle, path: string, sizeMiB: number): Promise<void> {
  await node.run(['sh', '-c', `mkdir -p "$(dirname '${path}')" && dd if=/dev/urandom of='${path}' bs=1M count=${sizeMiB} status=none`]);
}

export interface DiskUsage {
  /** What df reports used on the filesystem holding `dir`, KiB. */
  dfUsedKiB: number;
  /** What du finds under `dir`, KiB: files that still have a name. */
  duKiB: number;
}

/** df and du in the node: space a deleted-but-held file takes shows in df only. */
export async function nodeDiskUsage(node: LabNodeHandle, dir: string): Promise<DiskUsage> {
  const df = (await node.run(['df', '-k', '--output=used', dir])).stdout.toString().trim().split('\n');
  const du = (await node.run(['du', '-sk', dir])).stdout.toString().trim().split(/\s+/);
  return { dfUsedKiB: Number(df[1]), duKiB: Number(du[0]) };
}

export async function containerPid(node: LabNodeHandle, containerId: string): Promise<number> {
  const { status, info } = await node.cri.containerStatus(containerId);
  const pid = (info.info as { pid?: number } | undefined)?.pid;
  if (!pid || status.state !== 'CONTAINER_RUNNING') {
    throw watchdogError('WATCHDOG_LAB_NOT_FOUND', `container ${containerId} is ${status.state} with pid ${pid ?? 'unknown'}; expected a running container`);
  }
  return pid;
}

/**
 * Leaves a process on the node inside a container's mount namespace (a
 * debug session that was never closed: `nsenter -t <pid> -m sleep`).
 * Returns its pid on the node.
 */
export async function holdNamespace(node: LabNodeHandle, containerId: string): Promise<number> {
  const pid = await containerPid(node, containerId);
  const r = await node.run(['sh', '-c', `setsid nsenter -t ${pid} -m sleep 3600 >/dev/null 2>&1 </dev/null & echo $!`]);
  const holder = Number(r.stdout.toString().trim());
  // nsenter has entered once the namespace links are the same.
  for (let i = 0; i < 50; i++) {
    const links = await node.exec.run(['sh', '-c', `readlink /proc/${holder}/ns/mnt /proc/${pid}/ns/mnt`]);
    const [a, b] = links.stdout.toString().trim().split('\n');
    if (a && a === b) return holder;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw watchdogError('WATCHDOG_LAB_NOT_FOUND', `process ${holder} did not enter the mount namespace of container ${containerId} (pid ${pid}) within 2500 ms`);
}

/**
 * Restarts a pod's container the way the kubelet does: the old container
 * stops and a new one (attempt + 1) starts in the same sandbox from the
 * same CreateContainer request (command, environment, mounts, security
 * context, namespaces). A pod the harness did not create through runPod
 * has no request kept: its new container gets the old one's image, labels
 * and mounts only.
 */
export async function restartContainer(node: LabNodeHandle, pod: RunningPod): Promise<RunningPod> {
  const old = pod.containers[0];
  if (!old) throw watchdogError('WATCHDOG_LAB_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container to restart`);
  const { status } = await node.cri.containerStatus(old.id);
  await node.cri.stopContainer(old.id, 2);
  const attempt = status.metadata.attempt + 1;
  const request = old.config ?? {
    image: { image: old.image },
    mounts: status.mounts,
    labels: { ...status.labels, [KUBELET_LABELS.containerName]: status.metadata.name },
    linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const config = { ...request, metadata: { name: status.metadata.name, attempt }, logPath: `${status.metadata.name}/${attempt}.log` };
  const id = await node.cri.createContainer(pod.sandboxId, config, pod.sandboxConfig);
  await node.cri.startContainer(id);
  return { ...pod, containers: [{ ...old, id, ...(old.config ? { config } : {}) }] };
}
