/**
 * Attack: root on the node writes into the container's writable upperdir,
 * which overlayfs shows in the container at once. With no upperdir there is
 * nothing to write into: the attacker falls back to the snapshot directories
 * containerd prepared, which no container mounts.
 */
import { dirname } from 'node:path';
import { LabError } from '../../errors.ts';
import { parseMountinfo } from '../../node/rootfs.ts';
import type { RunningPod } from '../../cri/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique, TechniqueResult } from '../technique.ts';
import { EROFS_SNAPSHOTS, requirePath, requirePayload, requirePod, type AttackErrorCode } from './common.ts';
import { containerMountinfo, readInContainer } from './start.ts';

export const upperdirWrite: Technique = {
  name: 'upperdir-write',
  async run({ node, attack, pods }) {
    return writeThroughUpperdir(node, requirePod(pods, attack), requirePath(attack), requirePayload(attack));
  },
};

/**
 * Root writes `payload` at `path` into the container's writable upperdir and
 * reads it back as the container sees it. With no upperdir, the prepared
 * snapshot directories are tried, and the read-only root the start gate
 * mounted is that gate's evidence.
 */
export async function writeThroughUpperdir(node: LabNodeHandle, pod: RunningPod, path: string, payload: string): Promise<TechniqueResult> {
  const mountinfo = await containerMountinfo(node, pod.containers[0]!.id);
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
  // A file the image does not have and the write did not reach is simply absent; anything else is a failed read.
  if (!seen.ok && !/No such file or directory/.test(seen.stderr)) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `could not read ${path} in ${pod.namespace}/${pod.name} after the write: ${seen.stderr.trim()}`);
  if (upper) return { effect: false, reason: `the write into ${upper} is not visible in the container`, evidence };
  // The kernel's own account: the root overlay has no upperdir, which is how the start gate mounts a protected container.
  const reason = `the container's rootfs has no upperdir; writes into ${written.length} prepared snapshot dir(s) are not visible in the container`;
  return { effect: false, reason, evidence, blockedBy: [{ component: 'start-gate', evidence: `the root overlay in the container's mountinfo has no upperdir: ${root?.line ?? '(no root mount)'}` }] };
}
