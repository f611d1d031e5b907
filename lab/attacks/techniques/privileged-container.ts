/**
 * Attack: a privileged container is started on the node straight through
 * the CRI socket (what a static pod, a compromised kubelet or anyone with
 * the containerd socket can do), out of admission's sight. A privileged
 * container can mount the node's disks and rewrite image layers, which
 * defeats every integrity control; a Falco-style layer raises "Privileged
 * container started" from the CRI inventory.
 *
 * The most privileged container this host allows: privileged with
 * SYS_RESOURCE dropped (FACTS.md; lab/cri/pods.ts). The attack takes
 * effect when the container runs with CAP_SYS_ADMIN in its effective set
 * (include/uapi/linux/capability.h: bit 21).
 */
import { LabError } from '../../errors.ts';
import { awaitAuditAlerts } from '../../audit/index.ts';
import type { Technique } from '../technique.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec, type AttackErrorCode } from './common.ts';

const CAP_SYS_ADMIN = 21n;

/** CapEff from /proc/self/status, as a bigint. */
export function effectiveCapabilities(status: string): bigint | undefined {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

export const privilegedContainer: Technique = {
  name: 'privileged-container',
  async run({ node, attack, pods, workload }) {
    if (workload.spec.privileged !== true) {
      throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": workload "${workload.metadata.name}" must set spec.privileged: true`);
    }
    const since = new Date();
    await node.pushImage(workload.spec.image);
    const pod = await node.runCriPod(node.podSpecOf(workload));
    pods.set(workload.metadata.name, pod);
    const container = pod.containers[0]!;
    const harnessCommands: HarnessCommand[] = [];
    const r = await harnessExec(node, container.id, 'read the container\'s capabilities', ['cat', '/proc/self/status'], harnessCommands);
    const caps = effectiveCapabilities(r.stdout.toString());
    const alerts = await awaitAuditAlerts(node, since);
    const effect = caps !== undefined && ((caps >> CAP_SYS_ADMIN) & 1n) === 1n;
    return {
      harnessCommands,
      effect,
      reason: effect
        ? `a privileged container runs in ${pod.namespace}/${pod.name} with CAP_SYS_ADMIN (CapEff ${caps!.toString(16)})`
        : `the container in ${pod.namespace}/${pod.name} has no CAP_SYS_ADMIN (CapEff ${caps?.toString(16) ?? 'unreadable'})`,
      evidence: { pod: pod.name, namespace: pod.namespace, containerId: container.id, capEff: caps?.toString(16), startedThrough: 'CRI', auditAlerts: alerts },
    };
  },
};
