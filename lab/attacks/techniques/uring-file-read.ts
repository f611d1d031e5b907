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
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { awaitAuditAlerts, awaitAuditWatching } from '../../audit/index.ts';
import { compileStatic } from '../../node/native.ts';
import type { Technique } from '../technique.ts';
import { requirePath } from './common.ts';
import { joinCgroupsThenRun } from './memfd-exec.ts';
import { targetOf } from './overmount.ts';

const SOURCE = join(import.meta.dirname, 'native', 'uring-read.c');

export const uringFileRead: Technique = {
  name: 'uring-file-read',
  async run(ctx) {
    const { node, attack } = ctx;
    const path = requirePath(attack);
    const target = await targetOf(ctx);
    const tool = join(node.shareDir, 'uring-read');
    await copyFile(await compileStatic(SOURCE, 'uring-read'), tool);
    // The attacker arrives once the container runs: the audit layer watches it first.
    await awaitAuditWatching(node, target.containerId);
    const since = new Date();
    const command = joinCgroupsThenRun(target.containerId, [tool, String(target.pid), path]);
    const r = await node.exec.run(command);
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
        auditAlerts: await awaitAuditAlerts(node, since),
      },
    };
  },
};
