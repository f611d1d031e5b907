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
import { replaceRuntimeWrapper, ungatedWriteAfter } from './defence-tamper.ts';

export const runtimeWrapperReplace = ungatedWriteAfter('runtime-wrapper-replace', async ({ node }) => {
  const evidence = await replaceRuntimeWrapper(node);
  return { evidence, what: evidence.replacedBy ? 'the runtime wrapper was replaced by one that execs runc' : 'containerd runs no runtime wrapper' };
});
