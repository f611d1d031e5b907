/**
 * Attack: a process in a running container reads the password hashes in
 * /etc/shadow (or the file the attack names), as credential-dumping tools
 * do. It takes effect when the read returns the file's bytes; a
 * Falco-style layer raises "Read of a sensitive file".
 *
 * Evidence holds the size and hash of what was read, not the content.
 */
import { createHash } from 'node:crypto';
import { LabError } from '../../errors.ts';
import { awaitAuditAlerts, awaitAuditWatching } from '../../audit/index.ts';
import type { Technique } from '../technique.ts';
import { requirePod, type AttackErrorCode } from './common.ts';

export const readShadow: Technique = {
  name: 'read-shadow',
  async run({ node, attack, pods }) {
    const pod = requirePod(pods, attack);
    const container = pod.containers[0];
    if (!container) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container`);
    const path = attack.spec.target.path ?? '/etc/shadow';
    await awaitAuditWatching(node, container.id);
    const since = new Date();
    const r = await node.cri.execSync(container.id, ['cat', path]);
    const alerts = await awaitAuditAlerts(node, since);
    const effect = r.exitCode === 0 && r.stdout.length > 0;
    return {
      effect,
      reason: effect
        ? `a process in ${pod.namespace}/${pod.name} read ${r.stdout.length} bytes of ${path}`
        : `reading ${path} in ${pod.namespace}/${pod.name} failed: exit ${r.exitCode}, ${r.stderr.toString().trim()}`,
      evidence: {
        command: ['cat', path],
        exitCode: r.exitCode,
        bytesRead: r.stdout.length,
        sha256: createHash('sha256').update(r.stdout).digest('hex'),
        auditAlerts: alerts,
      },
    };
  },
};
