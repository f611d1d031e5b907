/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools): root on the
 * node takes the start gate's runtime wrapper out of containerd's
 * configuration (the runc options' BinaryName) and restarts containerd. The
 * shim then calls runc directly: no container is gated any more, and the
 * gate's own configuration, pins and logs are untouched. The protected
 * workload started next runs on containerd's writable root, and root writes
 * into it.
 *
 * What must catch it: the watchdog, which sees a protected container whose
 * root is not the start gate's in the node's mount table, and the change of
 * containerd's configuration against its lab-start pin.
 */
import { CONTAINERD_CONFIG, readNodeText, ungatedWriteAfter, writeNodeText } from './defence-tamper.ts';

const BINARY_NAME = /^\s*BinaryName\s*=.*$/m;

export const runtimeWrapperUnhook = ungatedWriteAfter('runtime-wrapper-unhook', async ({ node }) => {
  const config = await readNodeText(node, CONTAINERD_CONFIG);
  const line = config?.match(BINARY_NAME)?.[0];
  const evidence: Record<string, unknown> = { containerdConfig: CONTAINERD_CONFIG, runtimeLine: line?.trim() ?? 'none: the shim runs runc directly' };
  if (config === undefined || line === undefined) return { evidence, what: 'containerd runs no runtime wrapper' };
  await writeNodeText(node, CONTAINERD_CONFIG, config.replace(BINARY_NAME, ''));
  await node.restartContainerd();
  return { evidence: { ...evidence, containerdRestarted: true }, what: `the runtime wrapper (${line.trim()}) was taken out of ${CONTAINERD_CONFIG} and containerd restarted` };
});
