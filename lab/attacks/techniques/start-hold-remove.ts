/**
 * Attack (T1562.001 Impair Defenses, then T1059.004 Unix Shell): root on the
 * node deletes the audit daemon's start hold (lab/audit/node/start-hold.ts),
 * the script that makes `runc start` wait until a container's audit rules
 * are set, and then starts the target workload with a shell as its
 * entrypoint that runs the payload at once and exits: the unaudited window
 * at container start, reopened. On a node without the audit component
 * there is no hold to delete and the shell is never audited.
 *
 * What must catch it: the start gate, which runs the hold from the bytes
 * the host pinned at lab start and refuses a protected container's start
 * when the hold is gone (lab/gates/start-hold-gate.ts).
 */
import { HOLD_SCRIPT_PATH } from '../../audit/node/start-hold.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { startupShellAfter } from './defence-tamper.ts';

/** Deletes the hold script; evidence of what was there. */
export async function removeStartHold(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const before = await node.exec.run(['sha256sum', HOLD_SCRIPT_PATH]);
  const existed = before.exitCode === 0;
  await node.run(['rm', '-f', HOLD_SCRIPT_PATH]);
  if ((await node.exec.run(['test', '-e', HOLD_SCRIPT_PATH])).exitCode === 0) throw new Error(`${HOLD_SCRIPT_PATH} on ${node.name} is still there after rm -f`);
  return { startHold: HOLD_SCRIPT_PATH, removed: existed, ...(existed ? { sha256: before.stdout.toString().split(' ')[0] } : { note: 'no start hold on this node' }) };
}

export const startHoldRemove = startupShellAfter('start-hold-remove', async ({ node }) => {
  const removal = await removeStartHold(node);
  return { evidence: removal, what: removal.removed ? `the audit start hold ${HOLD_SCRIPT_PATH} was deleted` : `the node has no audit start hold (${HOLD_SCRIPT_PATH})` };
});
