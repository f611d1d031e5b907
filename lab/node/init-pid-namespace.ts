/**
 * A command as root on the node, in the node's initial PID namespace. Root
 * on a real node has it. A lab node, and a kind node, is a container with a
 * PID namespace of its own, and its initial one is the host's; the kernel
 * takes audit netlink requests (auditctl) only from the initial PID
 * namespace (kernel/audit.c, audit_netlink_ok), so this is how an attack
 * reaches the kernel audit rules that root could remove on a real node.
 *
 * It runs in a one-off container of the node's own image (present, never
 * pulled) in the host's PID namespace, with no network and every capability
 * dropped but the ones asked for; the lab's label is on it, and `--rm`
 * removes it when the command ends.
 */
import { inspectContainer } from '../engine.ts';
import { localExec, type ExecResult } from '../exec.ts';
import type { LabNodeHandle } from './handle.ts';
import { LAB_LABEL } from './lab-node.ts';

export async function runInInitPidNamespace(node: LabNodeHandle, argv: readonly string[], capabilities: readonly string[]): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('runInInitPidNamespace: empty command');
  const image = (await inspectContainer(node.name))?.image;
  if (!image) throw new Error(`runInInitPidNamespace: the node container ${node.name} is gone`);
  return localExec.run(
    [
      'docker', 'run', '--rm', '--label', `${LAB_LABEL}=${node.labId}`,
      '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL', ...capabilities.flatMap((c) => ['--cap-add', c]),
      '--security-opt', 'no-new-privileges', '--entrypoint', file, image, ...args,
    ],
    { timeoutMs: 60_000 },
  );
}
