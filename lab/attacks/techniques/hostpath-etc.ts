/**
 * Attack: a container is started with the node's /etc mounted (a hostPath
 * volume), straight through the CRI socket, out of admission's sight. It
 * then reads the node's files: /etc/shadow, kubelet and containerd
 * configuration. A Falco-style layer raises "Sensitive host path mounted
 * into a container" from the CRI inventory.
 *
 * The attack's target path is a file under one of the workload's hostPath
 * mounts; it takes effect when the container reads the same bytes as the
 * node has at the corresponding host path.
 */
import { LabError } from '../../errors.ts';
import { awaitAuditAlerts } from '../../audit/index.ts';
import type { Technique } from '../technique.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec, requirePath, type AttackErrorCode } from './common.ts';

export const hostpathEtc: Technique = {
  name: 'hostpath-etc',
  async run({ node, attack, pods, workload }) {
    const path = requirePath(attack);
    const mount = (workload.spec.hostPathMounts ?? []).find((m) => path === m.containerPath || path.startsWith(`${m.containerPath}/`));
    if (!mount) {
      throw new LabError<AttackErrorCode>(
        'ATTACK_SPEC_INCOMPLETE',
        `attack "${attack.metadata.name}": spec.target.path ${path} is under none of workload "${workload.metadata.name}"'s hostPathMounts (${(workload.spec.hostPathMounts ?? []).map((m) => m.containerPath).join(', ') || 'none'})`,
      );
    }
    const hostPath = mount.hostPath + path.slice(mount.containerPath.length);
    const since = new Date();
    await node.pushImage(workload.spec.image);
    const pod = await node.runCriPod(node.podSpecOf(workload));
    pods.set(workload.metadata.name, pod);
    const container = pod.containers[0]!;
    const harnessCommands: HarnessCommand[] = [];
    const seen = await harnessExec(node, container.id, 'read the mounted file as the container', ['cat', path], harnessCommands);
    const onNode = await node.readFile(hostPath);
    const alerts = await awaitAuditAlerts(node, since);
    const effect = seen.exitCode === 0 && seen.stdout.equals(onNode);
    return {
      harnessCommands,
      effect,
      reason: effect
        ? `the container in ${pod.namespace}/${pod.name} reads the node's ${hostPath} at ${path}`
        : `the container in ${pod.namespace}/${pod.name} could not read the node's ${hostPath} at ${path}: exit ${seen.exitCode}, ${seen.stderr.toString().trim()}`,
      evidence: { pod: pod.name, namespace: pod.namespace, containerId: container.id, mount, read: path, hostPath, bytes: seen.stdout.length, startedThrough: 'CRI', auditAlerts: alerts },
    };
  },
};
