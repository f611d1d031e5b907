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
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload } from './common.ts';
import { pullBeforeTampering, startUngatedAndWrite, unprotectNamespace } from './defence-tamper.ts';

export const gateConfigUnprotect: Technique = {
  name: 'gate-config-unprotect',
  async run(ctx) {
    const { node, workload } = ctx;
    const namespace = workload.spec.namespace;
    // The write that proves the effect needs both: checked before the node is touched.
    requirePath(ctx.attack);
    requirePayload(ctx.attack);
    const pulled = await pullBeforeTampering(node, workload);
    const evidence = { pulledBefore: pulled, ...(await unprotectNamespace(node, namespace)) };
    return startUngatedAndWrite(ctx, evidence, `${namespace} unprotected in the gate configuration`);
  },
};
