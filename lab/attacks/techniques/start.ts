/**
 * Starting the target workload from inside an attack, as the node would
 * (CRI directly, IfNotPresent), and reading a file in it. A refused start is
 * an outcome, not an error.
 */
import { PodStartError, runPod, type RunningPod } from '../../cri/index.ts';
import type { StartedLabNode } from '../../node/index.ts';
import type { Workload } from '../../spec/schemas.ts';

export type StartAttempt = { started: true; pod: RunningPod } | { started: false; stage: string; reason: string };

export async function tryStart(node: StartedLabNode, workload: Workload, pods: Map<string, RunningPod>): Promise<StartAttempt> {
  try {
    const pod = await runPod(node.cri, node.podSpecOf(workload));
    pods.set(workload.metadata.name, pod);
    return { started: true, pod };
  } catch (err) {
    if (err instanceof PodStartError) return { started: false, stage: err.stage, reason: err.criError?.details ?? err.message };
    throw err;
  }
}

export async function readInContainer(node: StartedLabNode, pod: RunningPod, path: string): Promise<{ ok: boolean; content: Buffer; stderr: string }> {
  const r = await node.cri.execSync(pod.containers[0]!.id, ['cat', path]);
  return { ok: r.exitCode === 0, content: r.stdout, stderr: r.stderr.toString() };
}
