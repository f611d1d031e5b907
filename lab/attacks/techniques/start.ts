/**
 * Starting the target workload from inside an attack, as the node would
 * (CRI directly, IfNotPresent), and reading a file in it. A refused start is
 * an outcome, not an error.
 */
import { PodStartError, type RunningPod, type RunPodHooks } from '../../cri/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Workload } from '../../spec/schemas.ts';

export type StartAttempt = { started: true; pod: RunningPod } | { started: false; stage: string; reason: string };

export async function tryStart(node: LabNodeHandle, workload: Workload, pods: Map<string, RunningPod>, hooks: RunPodHooks = {}): Promise<StartAttempt> {
  try {
    const pod = await node.runCriPod(node.podSpecOf(workload), hooks);
    pods.set(workload.metadata.name, pod);
    return { started: true, pod };
  } catch (err) {
    if (err instanceof PodStartError) return { started: false, stage: err.stage, reason: err.criError?.details ?? err.message };
    throw err;
  }
}

/**
 * A file as the container sees it, read from the node through
 * /proc/<pid>/root of its init process: nothing runs in the container, so
 * collecting this evidence cannot trigger a detection there. The path must
 * not cross an absolute symlink (it would resolve on the node).
 */
export async function readInContainer(node: LabNodeHandle, pod: RunningPod, path: string): Promise<{ ok: boolean; content: Buffer; stderr: string }> {
  return readContainerFile(node, pod.containers[0]!.id, path);
}

export async function readContainerFile(node: LabNodeHandle, containerId: string, path: string): Promise<{ ok: boolean; content: Buffer; stderr: string }> {
  return readOfInit(node, containerId, (pid) => `/proc/${pid}/root${path}`);
}

/** The container's mountinfo, read on the node from /proc/<pid>/mountinfo of its init process. */
export async function containerMountinfo(node: LabNodeHandle, containerId: string): Promise<string> {
  return (await readOfInit(node, containerId, (pid) => `/proc/${pid}/mountinfo`)).content.toString();
}

/** The pid of the container's init process as the node sees it; none unless the container runs. */
export async function containerInitPid(node: LabNodeHandle, containerId: string): Promise<{ pid?: number; state: string }> {
  const { status, info } = await node.cri.containerStatus(containerId);
  const pid = (info.info as { pid?: number } | undefined)?.pid;
  return status.state === 'CONTAINER_RUNNING' && pid ? { pid, state: status.state } : { state: status.state };
}

async function readOfInit(node: LabNodeHandle, containerId: string, file: (pid: number) => string): Promise<{ ok: boolean; content: Buffer; stderr: string }> {
  const { pid, state } = await containerInitPid(node, containerId);
  if (!pid) return { ok: false, content: Buffer.alloc(0), stderr: `container ${containerId.slice(0, 12)} is ${state}` };
  const r = await node.exec.run(['cat', file(pid)]);
  return { ok: r.exitCode === 0, content: r.exitCode === 0 ? r.stdout : Buffer.alloc(0), stderr: r.stderr.toString() };
}
