/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools): root on the
 * node edits the start gate's configuration so that the target's namespace
 * is no longer protected, starts the workload, which then runs on
 * containerd's own root with a writable upperdir, and writes into that
 * upperdir from the node. On a node without the gate there is nothing to
 * edit and the write lands the same way.
 *
 * What must catch it is not the edited configuration: the watchdog pinned
 * the protected namespaces when it started and sees, in the node's mount
 * table, a protected container whose root is not the gate's.
 */
import type { Technique } from '../technique.ts';
import { tryStart } from './start.ts';
import { upperdirWrite } from './upperdir-write.ts';

export const GATES_JSON = '/etc/integrity-lab/gates.json';

export const gateConfigUnprotect: Technique = {
  name: 'gate-config-unprotect',
  async run(ctx) {
    const { node, workload, pods } = ctx;
    const namespace = workload.spec.namespace;
    const present = await node.exec.run(['cat', GATES_JSON]);
    const evidence: Record<string, unknown> = { gateConfig: present.exitCode === 0 ? GATES_JSON : 'none on this node' };
    if (present.exitCode === 0) {
      const config = JSON.parse(present.stdout.toString()) as { protectedNamespaces: string[] };
      // A glob such as d8-* covering the namespace goes too.
      const kept = config.protectedNamespaces.filter((p) => p !== namespace && !new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(namespace));
      evidence.protectedNamespaces = { before: config.protectedNamespaces, after: kept };
      await node.run(['sh', '-c', 'cat > "$1"', 'sh', GATES_JSON], { input: Buffer.from(JSON.stringify({ ...config, protectedNamespaces: kept }, null, 2)) });
    }
    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    const write = await upperdirWrite.run(ctx);
    return { effect: write.effect, reason: `${namespace} unprotected in the gate configuration; ${write.reason}`, evidence: { ...evidence, ...write.evidence } };
  },
};
