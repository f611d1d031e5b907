/**
 * Attack (T1059.004 Unix Shell, T1036.005 Masquerading): a process in the
 * container copies a shell out of the image into a writable place, here the
 * path the attack targets (named `sh`, so busybox runs its shell applet; in
 * `/tmp`: the start gate's tmpfs on integrity, the writable root on
 * vanilla), and runs it. Code that is in no
 * signed layer then runs in a protected container.
 *
 * The attack's payload is what the copied shell runs (default `id`). The
 * kernel's answer (EACCES from a noexec mount) is the blocking evidence.
 */
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePod, type AttackErrorCode } from './common.ts';

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
    const mount = (await node.cri.execSync(container.id, ['cat', '/proc/self/mountinfo'])).stdout.toString().split('\n').filter((l) => l.includes(' /tmp ') || l.split(' ')[4] === '/');
    const effect = r.exitCode === 0;
    return {
      effect,
      reason: effect
        ? `a shell copied out of the image to ${target} ran in ${pod.namespace}/${pod.name}: exit 0`
        : `the copied shell at ${target} could not run in ${pod.namespace}/${pod.name}: exit ${r.exitCode}, ${r.stderr.toString().trim()}`,
      evidence: { target, command, exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString(), mounts: mount },
    };
  },
};
