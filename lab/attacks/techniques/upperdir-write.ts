/**
 * Attack: root on the node writes into the container's writable upperdir,
 * which overlayfs shows in the container at once. With no upperdir there is
 * nothing to write into: the attacker falls back to the snapshot directories
 * containerd prepared, which no container mounts.
 */
import { dirname } from 'node:path';
import { parseMountinfo } from '../../node/rootfs.ts';
import type { Technique } from '../technique.ts';
import { EROFS_SNAPSHOTS, requirePath, requirePayload, requirePod } from './common.ts';
import { readInContainer } from './start.ts';

export const upperdirWrite: Technique = {
  name: 'upperdir-write',
  async run({ node, attack, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const pod = requirePod(pods, attack);
    const mountinfo = (await node.cri.execSync(pod.containers[0]!.id, ['cat', '/proc/self/mountinfo'])).stdout.toString();
    const root = parseMountinfo(mountinfo).find((m) => m.mountPoint === '/');
    const upper = root?.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
    // Without an upperdir in the mount, try every prepared snapshot that is not a layer.
    const candidates = upper
      ? [upper]
      : (await node.exec.run(['sh', '-c', `for d in ${EROFS_SNAPSHOTS}/*; do [ -e "$d/layer.erofs" ] || echo "$d/fs"; done`])).stdout.toString().split('\n').filter(Boolean);
    const written: string[] = [];
    for (const dir of candidates) {
      const file = `${dir}${path}`;
      const r = await node.exec.run(['sh', '-c', 'mkdir -p "$1" && printf %s "$2" > "$3"', 'sh', dirname(file), payload, file]);
      if (r.exitCode === 0) written.push(file);
    }
    // overlayfs caches lookups; root drops the dentry cache so that the
    // merged view is looked up again (changes to layers under a mounted
    // overlay are otherwise undefined, Documentation/filesystems/overlayfs.rst).
    await node.run(['sh', '-c', 'sync && echo 2 > /proc/sys/vm/drop_caches']);
    const seen = await readInContainer(node, pod, path);
    const evidence = { rootMount: root?.line, upperdir: upper ?? null, written, contentSeen: seen.content.toString() };
    if (seen.content.toString() === payload) {
      return { effect: true, reason: `root wrote ${path} into the upperdir ${upper} and the container reads it`, evidence };
    }
    return {
      effect: false,
      reason: upper
        ? `the write into ${upper} is not visible in the container`
        : `the container's rootfs has no upperdir; writes into ${written.length} prepared snapshot dir(s) are not visible in the container`,
      evidence,
    };
  },
};
