/**
 * Attack (T1059.004 Unix Shell, T1610 Deploy Container): a container whose
 * entrypoint is a shell that runs the payload at once and exits, so that
 * all it does happens in the container's first instant: before an audit
 * layer that sets its rules when it first sees a container running (the
 * inventory's 200 ms poll) is watching. The start hold (lab/audit/node/
 * start-hold.ts) makes `runc start` wait until the container's rules are
 * set; without it, this shell goes unrecorded.
 *
 * The target workload's image runs with its command replaced by
 * `/bin/sh -c <payload>`. Effect: the container exits 0.
 */
import { LabError } from '../../errors.ts';
import { PodStartError, type RunningPod } from '../../cri/index.ts';
import { awaitAuditAlerts } from '../../audit/index.ts';
import { poll } from '../../wait.ts';
import type { Technique, TechniqueContext, TechniqueResult } from '../technique.ts';
import { requirePayload, type AttackErrorCode } from './common.ts';

export const startupShell: Technique = {
  name: 'startup-shell',
  async run(ctx) {
    await ctx.node.pushImage(ctx.workload.spec.image);
    return runShellAsEntrypoint(ctx);
  },
};

/**
 * Runs the target workload with `/bin/sh -c <payload>` as its command and
 * waits for it to exit; effect: it exited 0. A start the node refused is an
 * outcome (no effect, with the refusal), not an error.
 */
export async function runShellAsEntrypoint({ node, attack, pods, workload }: TechniqueContext, evidence: Record<string, unknown> = {}, what = ''): Promise<TechniqueResult> {
  const payload = requirePayload(attack);
  const spec = node.podSpecOf(workload);
  const [first, ...rest] = spec.containers;
  if (!first) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": workload "${workload.metadata.name}" has no container`);
  const since = new Date();
  const prefix = what ? `${what}; ` : '';
  let pod: RunningPod;
  try {
    pod = await node.runCriPod({ ...spec, containers: [{ ...first, command: ['/bin/sh', '-c', payload], args: [] }, ...rest] });
  } catch (err) {
    if (!(err instanceof PodStartError)) throw err;
    const refusal = err.criError?.details ?? err.message;
    return { effect: false, reason: `${prefix}the shell entrypoint did not start (${err.stage}): ${refusal}`, evidence: { ...evidence, refusal } };
  }
  pods.set(workload.metadata.name, pod);
  const id = pod.containers[0]!.id;
  const exited = await poll(() => node.cri.containerStatus(id), (s) => s.status.state === 'CONTAINER_EXITED', { timeoutMs: 30_000, intervalMs: 100 });
  if (!exited.ok) {
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the container of ${pod.namespace}/${pod.name} did not exit within 30000 ms (state ${exited.value?.status.state ?? 'unknown'}); its shell should run "${payload}" and exit`);
  }
  const { status } = exited.value;
  const alerts = await awaitAuditAlerts(node, since);
  const effect = status.exitCode === 0;
  return {
    effect,
    reason: prefix + (effect
      ? `a shell ran "${payload}" as the entrypoint of ${pod.namespace}/${pod.name} and the container exited 0 after ${lifetimeMs(status)} ms`
      : `the entrypoint shell of ${pod.namespace}/${pod.name} exited ${status.exitCode}`),
    evidence: { ...evidence, pod: pod.name, namespace: pod.namespace, containerId: id, exitCode: status.exitCode, lifetimeMs: lifetimeMs(status), auditAlerts: alerts },
  };
}

/** CRI times are nanoseconds since the epoch. */
function lifetimeMs(status: { startedAt?: number | string; finishedAt?: number | string }): number | undefined {
  if (status.startedAt === undefined || status.finishedAt === undefined) return undefined;
  return Number((BigInt(status.finishedAt) - BigInt(status.startedAt)) / 1_000_000n);
}
