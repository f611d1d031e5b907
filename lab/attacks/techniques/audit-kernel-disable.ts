/**
 * Attack (T1562.012 Impair Defenses: Disable or Modify Linux Audit System,
 * then T1609 and T1059.004 a shell in the container): root on the node
 * switches kernel auditing off (`auditctl -e 0`), opens a shell in a running
 * protected container, and switches auditing back on. Every rule of the
 * audit layer stays listed and its daemon, helpers and files are untouched;
 * the kernel simply records nothing while auditing is off.
 *
 * The switch runs in the node's initial PID namespace, where root on a real
 * node is and where the kernel takes audit netlink requests
 * (lab/node/init-pid-namespace.ts). Kernel auditing is host-wide, so the
 * scenarios of this attack run alone (the `@host-audit` tag,
 * steps/support/hooks.ts). Whatever the outcome, the flag is put back as
 * it was before the attack.
 *
 * What must catch it: the audit daemon. The kernel writes a CONFIG_CHANGE
 * record (`op=set audit_enabled=0`) before it stops auditing, and the daemon
 * also reads the flag every 2 s; either raises an alert naming the lab's
 * running containers, and the daemon switches auditing on again
 * (lab/audit/node/daemon.ts, "Kernel auditing silenced").
 */
import { awaitAuditAlerts, awaitAuditWatching } from '../../audit/index.ts';
import { LabError } from '../../errors.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { runInInitPidNamespace } from '../../node/init-pid-namespace.ts';
import type { RunningPod } from '../../cri/index.ts';
import type { Technique, TechniqueContext, TechniqueResult } from '../technique.ts';
import { requirePayload, type AttackErrorCode } from './common.ts';
import { targetOf } from './overmount.ts';

/** One auditctl call as root in the node's initial PID namespace; an error of the attack if it fails. */
export async function rootAuditctl(node: LabNodeHandle, args: readonly string[]): Promise<string> {
  const r = await runInInitPidNamespace(node, ['auditctl', ...args], ['AUDIT_CONTROL']);
  if (r.exitCode !== 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `auditctl ${args.join(' ')} as root on the node exited ${r.exitCode}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

/** A field of `auditctl -s` ("enabled 1", "rate_limit 0"); an error of the attack if it is not printed. */
async function statusField(node: LabNodeHandle, field: string): Promise<string> {
  const value = new RegExp(`^${field} (\\d+)$`, 'm').exec(await rootAuditctl(node, ['-s']))?.[1];
  if (value === undefined) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `auditctl -s printed no "${field}" line`);
  return value;
}

/**
 * The part every audit-silencing attack shares: waits until the audit layer
 * watches the target (so the attacker arrives after it, as modelled),
 * silences the kernel with `silence`, runs the payload in a shell in the
 * container, always undoes the silencing with `restore`, and collects the
 * audit alerts since the silencing began.
 */
export async function shellWhileAuditSilenced(
  ctx: TechniqueContext,
  how: string,
  silence: (node: LabNodeHandle) => Promise<Record<string, unknown>>,
  restore: (node: LabNodeHandle) => Promise<void>,
): Promise<TechniqueResult> {
  const { node, attack } = ctx;
  const payload = requirePayload(attack);
  const target = await targetOf(ctx);
  await awaitAuditWatching(node, target.containerId);
  const since = new Date();
  let silenced: Record<string, unknown>;
  let shell: Awaited<ReturnType<LabNodeHandle['cri']['execSync']>>;
  try {
    silenced = await silence(node);
    shell = await node.cri.execSync(target.containerId, ['sh', '-c', payload]);
  } finally {
    await restore(node);
  }
  const stdout = shell.stdout.toString();
  const effect = shell.exitCode === 0 && stdout.trim() !== '';
  return {
    effect,
    reason: `root ${how}; ` + shellReason(target.pod, payload, effect, shell.exitCode, shell.stderr.toString()),
    evidence: { ...silenced, shellExitCode: shell.exitCode, stdout, stderr: shell.stderr.toString(), auditAlerts: await awaitAuditAlerts(node, since) },
  };
}

function shellReason(pod: RunningPod, payload: string, effect: boolean, exitCode: number, stderr: string): string {
  return effect ? `then a shell ran "${payload}" in ${pod.namespace}/${pod.name}: exit 0` : `then the shell in ${pod.namespace}/${pod.name} exited ${exitCode}: ${stderr.trim()}`;
}

/**
 * A shell while one kernel audit setting is changed (`auditctl <flag>
 * <value>`, shown by `auditctl -s` as `field`), put back as it was whatever
 * happens. `refuse` names a value before the change that makes the attack
 * impossible.
 */
export function shellWhileSettingChanged(
  ctx: TechniqueContext,
  how: string,
  change: { field: string; flag: string; value: string; refuse?: (before: string) => string | undefined },
): Promise<TechniqueResult> {
  let before: string | undefined;
  return shellWhileAuditSilenced(
    ctx,
    how,
    async (node) => {
      const was = await statusField(node, change.field);
      const refusal = change.refuse?.(was);
      if (refusal) throw new LabError<AttackErrorCode>('ATTACK_FAILED', refusal);
      await rootAuditctl(node, [change.flag, change.value]);
      before = was;
      return { setting: change.field, before: Number(was), afterTheChange: Number(await statusField(node, change.field)) };
    },
    async (node) => {
      if (before !== undefined) await rootAuditctl(node, [change.flag, before]);
    },
  );
}

export const auditKernelDisable: Technique = {
  name: 'audit-kernel-disable',
  run: (ctx) =>
    shellWhileSettingChanged(ctx, 'switched kernel auditing off (auditctl -e 0)', {
      field: 'enabled',
      flag: '-e',
      value: '0',
      refuse: (before) => (before === '2' ? 'kernel auditing is locked (enabled 2): it cannot be switched off until reboot' : undefined),
    }),
};
