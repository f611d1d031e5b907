/**
 * Attack: a process inside a running container overwrites a file of its
 * image. On vanilla the write lands in the writable upperdir; a protected
 * container has a read-only rootfs with no upperdir, so the write fails.
 */
import type { Technique } from '../technique.ts';
import { parseMountinfo } from '../../node/rootfs.ts';
import { requirePath, requirePayload, requirePod } from './common.ts';
import { containerMountinfo } from './start.ts';

export const rootfsWrite: Technique = {
  name: 'rootfs-write',
  async run({ node, attack, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const pod = requirePod(pods, attack);
    const r = await node.cri.execSync(pod.containers[0]!.id, ['sh', '-c', 'printf %s "$1" > "$2" && cat "$2"', 'sh', payload, path]);
    const evidence = { path, exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    if (r.exitCode === 0 && r.stdout.toString() === payload) return { effect: true, reason: `the container overwrote ${path} in its own rootfs`, evidence };
    const reason = `the write to ${path} failed inside the container: ${r.stderr.toString().trim()}`;
    if (!/Read-only file system/.test(r.stderr.toString())) return { effect: false, reason, evidence };
    // EROFS from the kernel, on a root overlay with no upperdir: the start gate's mount, not a read-only rootfs the pod asked for.
    const mountinfo = await containerMountinfo(node, pod.containers[0]!.id);
    const root = parseMountinfo(mountinfo).find((m) => m.mountPoint === '/');
    const upper = root?.options.some((o) => o.startsWith('upperdir='));
    if (!root || upper) return { effect: false, reason, evidence: { ...evidence, rootMount: root?.line } };
    return { effect: false, reason, evidence: { ...evidence, rootMount: root.line }, blockedBy: [{ component: 'start-gate', evidence: `the write got EROFS on a root overlay with no upperdir: ${root.line}` }] };
  },
};
