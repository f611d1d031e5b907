/**
 * Attack (T1562.001 Impair Defenses, T1554 Compromise Host Software
 * Binary): root on the node replaces the start gate's runtime wrapper with
 * one that only execs runc. containerd's configuration still names the
 * wrapper, nothing restarts, and the gate daemon is never asked again. The
 * protected workload started next runs on containerd's writable root, and
 * root writes into it.
 *
 * What must catch it: the watchdog, from the node's mount table (a protected
 * container whose root is not the start gate's) and from the wrapper's
 * lab-start pin.
 */
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload } from './common.ts';
import { replaceRuntimeWrapper, startUngatedAndWrite } from './defence-tamper.ts';

export const runtimeWrapperReplace: Technique = {
  name: 'runtime-wrapper-replace',
  async run(ctx) {
    // The write that proves the effect needs both: checked before the node is touched.
    requirePath(ctx.attack);
    requirePayload(ctx.attack);
    const evidence = await replaceRuntimeWrapper(ctx.node);
    return startUngatedAndWrite(ctx, evidence, evidence.replacedBy ? 'the runtime wrapper was replaced by one that execs runc' : 'containerd runs no runtime wrapper');
  },
};
