/**
 * Attack (T1562.012 Impair Defenses: Disable or Modify Linux Audit System,
 * then T1609 and T1059.004 a shell in the container): root on the node
 * keeps kernel auditing on and every rule listed, but sets a rate limit of
 * one record a second (`auditctl -r 1`), opens a shell in a running
 * protected container, and puts the old limit back. The kernel drops the
 * shell's records past the first and counts them as lost; the records-lost
 * alert that follows names no container, so it cannot tell which one went
 * unaudited.
 *
 * The limit is set in the node's initial PID namespace, where root on a
 * real node is and where the kernel takes audit netlink requests
 * (lab/node/init-pid-namespace.ts). It is host-wide, so the scenarios of
 * this attack run alone (the `@host-audit` tag, steps/support/hooks.ts).
 *
 * What must catch it: the audit daemon. The kernel writes a CONFIG_CHANGE
 * record (`op=set audit_rate_limit=1`) for the change; the daemon reports
 * it, naming the lab's running containers, and sets the limit back to none
 * (lab/audit/node/daemon.ts, "Kernel auditing silenced").
 */
import type { Technique } from '../technique.ts';
import { shellWhileSettingChanged } from './audit-kernel-disable.ts';

export const auditRateLimit: Technique = {
  name: 'audit-rate-limit',
  run: (ctx) => shellWhileSettingChanged(ctx, 'set a kernel audit rate limit of 1 record a second (auditctl -r 1)', { field: 'rate_limit', flag: '-r', value: '1' }),
};
