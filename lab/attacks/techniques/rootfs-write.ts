/**
 * Attack: a process inside a running container overwrites a file of its
 * image. On vanilla the write lands in the writable upperdir; a protected
 * container has a read-only rootfs with no upperdir, so the write fails.
 */
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, requirePod } from './common.ts';

export const rootfsWrite: Technique = {
  name: 'rootfs-write',
  async run({ node, attack, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const pod = requirePod(pods, attack);
    const r = await node.cri.execSync(pod.containers[0]!.id, ['sh', '-c', 'printf %s "$1" > "$2" && cat "$2"', 'sh', payload, path]);
    const evidence = { path, exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    return r.exitCode === 0 && r.stdout.toString() === payload
      ? { effect: true, reason: `the container overwrote ${path} in its own rootfs`, evidence }
      : { effect: false, reason: `the write to ${path} failed inside the container: ${r.stderr.toString().trim()}`, evidence };
  },
};
