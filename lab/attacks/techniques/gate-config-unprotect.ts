/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools): root on the
 * node edits the start gate's configuration so that the target's namespace
 * is no longer protected, starts the workload, which then runs on
 * containerd's own root with a writable upperdir, and writes into that
 * upperdir from the node. On a node without the gate there is nothing to
 * edit and the write lands the same way.
 *
 * The pod's images are on the node before the edit (as for any workload that
 * ran there), so the start gate is the defence asked. What must catch it is not
 * the edited configuration: the gate daemon reads it against the digest the
 * host pinned at lab start and refuses every decision on other bytes
 * (lab/gates/pins.ts); the watchdog reports the edit too.
 */
import { unprotectNamespace, ungatedWriteAfter } from './defence-tamper.ts';

export const gateConfigUnprotect = ungatedWriteAfter('gate-config-unprotect', async ({ node, workload }) => ({
  evidence: await unprotectNamespace(node, workload.spec.namespace),
  what: `${workload.spec.namespace} unprotected in the gate configuration`,
}));
