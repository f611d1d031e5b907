/**
 * Attack (T1059.004 Unix Shell, T1036.005 Masquerading): a process in the
 * container copies a shell out of the image into a writable place, here the
 * path the attack targets (named `sh`, so busybox runs its shell applet): the
 * start gate's tmpfs `/tmp`, `/dev/shm`, or a writable volume, and runs it.
 * Code that is in no signed layer then runs in a protected container.
 *
 * The attack's payload is what the copied shell runs (default `id`). The
 * kernel's answer (EACCES from the noexec mount holding the copy, which the
 * start gate sets on every writable mount) is the blocking evidence.
 */
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePod, type AttackErrorCode } from './common.ts';
import { parseMountinfo, type MountEntry } from '../../node/rootfs.ts';
import { containerMountinfo } from './start.ts';

/** The mount a path lies on: the longest mount point that is the path or one of its parent directories (the last such entry: mounts stack). */
export function mountHolding(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const p = m.mountPoint;
    const under = p === '/' || path === p || path.startsWith(`${p}/`);
    if (under && (best === undefined || p.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export const copiedBinaryExec: Technique = {
  name: 'copied-binary-exec',
  async run({ node, attack, pods }) {
    const pod = requirePod(pods, attack);
    const container = pod.containers[0];
    if (!container) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container`);
    const target = requirePath(attack);
    const command = attack.spec.payload ?? 'id';
    // The copy must work: an attack step that could not be carried out is an error, not a block.
    const copy = await node.cri.execSync(container.id, ['sh', '-c', 'mkdir -p "${1%/*}" && cp /bin/busybox "$1"', 'sh', target]);
    if (copy.exitCode !== 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `could not copy /bin/busybox to ${target} in ${pod.namespace}/${pod.name}: ${copy.stderr.toString().trim()}`);
    await node.cri.execSync(container.id, ['chmod', '755', target]);
    // busybox picks its applet from argv[0]: the target's name (`sh`) is the applet run.
    const r = await node.cri.execSync(container.id, ['sh', '-c', 'exec "$0" -c "$1"', target, command]);
    // Read from the node (/proc/<pid>/mountinfo), not by running another process in the target.
    const mountinfo = parseMountinfo(await containerMountinfo(node, container.id));
    const holder = mountHolding(mountinfo, target);
    const root = mountinfo.find((m) => m.mountPoint === '/');
    const mount = [...new Set([holder, root])].filter((m) => m !== undefined).map((m) => m.line);
    const effect = r.exitCode === 0;
    // The start gate's own mechanism: the kernel refused exec (EACCES) because the
    // writable mount holding the copy is noexec, in a container whose root has no
    // upperdir (the gate's rootfs), so no writable place can run code.
    const gated = holder !== undefined && holder.mountPoint !== '/' && holder.options.includes('noexec') && root?.fstype === 'overlay' && !root.options.some((o) => o.startsWith('upperdir='));
    const blockedBy =
      !effect && gated && /Permission denied/.test(r.stderr.toString())
        ? [{ component: 'start-gate' as const, evidence: `exec of ${target} got EACCES on the noexec mount ${holder.mountPoint} of the gated container: ${holder.line}` }]
        : undefined;
    return {
      ...(blockedBy ? { blockedBy } : {}),
      effect,
      reason: effect
        ? `a shell copied out of the image to ${target} ran in ${pod.namespace}/${pod.name}: exit 0`
        : `the copied shell at ${target} could not run in ${pod.namespace}/${pod.name}: exit ${r.exitCode}, ${r.stderr.toString().trim()}`,
      evidence: { target, command, exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString(), mounts: mount },
    };
  },
};
