/**
 * Attack: someone opens a shell in a running container, as `kubectl exec`
 * does (CRI ExecSync, which runc carries out with setns and execve of
 * /bin/sh in the container's namespaces). Nothing in containerd objects;
 * a Falco-style detection layer raises "Shell spawned in a container".
 *
 * The payload is the command the shell runs (default `id`).
 */
import { LabError } from '../../errors.ts';
import { awaitAuditAlerts, awaitAuditWatching } from '../../audit/index.ts';
import type { Technique } from '../technique.ts';
import { requirePod, type AttackErrorCode } from './common.ts';

export const shellInContainer: Technique = {
  name: 'shell-in-container',
  async run({ node, attack, pods }) {
    const pod = requirePod(pods, attack);
    const container = pod.containers[0];
    if (!container) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container`);
    // The attacker arrives after the container started (see awaitAuditWatching).
    await awaitAuditWatching(node, container.id);
    const since = new Date();
    const command = attack.spec.payload ?? 'id';
    const r = await node.cri.execSync(container.id, ['sh', '-c', command]);
    const alerts = await awaitAuditAlerts(node, since);
    const effect = r.exitCode === 0;
    return {
      effect,
      reason: effect
        ? `a shell ran in ${pod.namespace}/${pod.name}: sh -c '${command}' exited 0`
        : `the shell in ${pod.namespace}/${pod.name} failed: exit ${r.exitCode}, ${r.stderr.toString().trim()}`,
      evidence: { command: ['sh', '-c', command], exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString(), auditAlerts: alerts },
    };
  },
};
