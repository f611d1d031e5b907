/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1036.005
 * Match Legitimate Resource Name or Location): bundle-mount-declare, with
 * the declared bind written into containerd's record of the running
 * container as well (Containers.Update on containerd's socket), so that the
 * bundle and the record agree and a watchdog that holds the bundle to the
 * record finds nothing to report. The watchdog is stopped and started again
 * around the edit; then the overmount is made through nsenter.
 *
 * What must catch it: the restarted watchdog, which holds containerd's
 * record of a workload container to what CRI keeps in memory of it (the
 * CreateContainer request: lab/gates/cri-request.ts) and sees the overmount.
 */
import type { Technique } from '../technique.ts';
import { declareThenOvermount } from './bundle-mount-declare.ts';

export const recordMountDeclare: Technique = {
  name: 'record-mount-declare',
  run: (ctx) => declareThenOvermount(ctx, { record: true }),
};
