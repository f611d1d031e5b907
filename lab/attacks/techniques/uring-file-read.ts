/**
 * Attack (T1003.008 OS Credential Dumping: /etc/passwd and /etc/shadow,
 * T1562.006 Indicator Blocking): a process of a running container reads
 * the file the attack targets (the password hashes in /etc/shadow) with
 * io_uring: the open and the read are operations submitted to a ring
 * (IORING_OP_OPENAT, IORING_OP_READ), not open(2) and read(2), so an audit
 * rule on those system calls, a path watch included, records nothing.
 *
 * As in memfd-exec, root on the node plays the process of the container: a
 * shell on the node joins the container's cgroups, then runs
 * native/uring-read.c, which enters the container's namespaces, forks and
 * reads through the ring. The evidence keeps the content's digest and
 * length, never the content.
 *
 * What must catch it: the audit layer, which records io_uring_setup(2) of
 * any process lab-wide (a ring is rare in a container, and no ring can be
 * used without one) and raises "io_uring used in a container"
 * (lab/audit/rules, the built-in rules).
 */
import { createHash } from 'node:crypto';
import { awaitAuditAlerts } from '../../audit/index.ts';
import type { Technique } from '../technique.ts';
import { requirePath } from './common.ts';
import { containerTool } from './memfd-exec.ts';


export const uringFileRead: Technique = {
  name: 'uring-file-read',
  async run(ctx) {
    const path = requirePath(ctx.attack);
    const tool = await containerTool(ctx, 'uring-read');
    const { target, since } = tool;
    const { command, r } = await tool.run([path]);
    const effect = r.exitCode === 0 && r.stdout.length > 0;
    const stderr = r.stderr.toString();
    return {
      effect,
      reason: effect
        ? `${path} of ${target.pod.namespace}/${target.pod.name} was read through io_uring (IORING_OP_OPENAT, IORING_OP_READ) from the container's cgroups and namespaces: ${r.stdout.length} bytes`
        : `reading ${path} through io_uring in ${target.pod.namespace}/${target.pod.name} failed: exit ${r.exitCode}, ${stderr.trim()}`,
      evidence: {
        command,
        exitCode: r.exitCode,
        bytes: r.stdout.length,
        sha256: createHash('sha256').update(r.stdout).digest('hex'),
        stderr,
        auditAlerts: await awaitAuditAlerts(ctx.node, since),
      },
    };
  },
};
