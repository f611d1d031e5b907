/**
 * Attack (T1562.001 Impair Defenses, T1204.003 Malicious Image): root on
 * the node empties the directory of containerd's bindir image verifier.
 * containerd lists that directory on every verification and admits every
 * image when it is empty or missing (FACTS.md), so from then on CRI pulls
 * anything. Root pushes an unsigned image with its own content under the
 * protected workload's reference, and the workload is started as the
 * kubelet would (the image is not on the node yet, so it is pulled).
 *
 * What must catch it: not the pull gate, which is gone, but the start gate,
 * which checks the signature of what is on the node at every start, whatever
 * path the image took to get there (lab/gates/runtime-gate.ts): it refuses
 * the container, with its own refusal record.
 */
import type { LabNodeHandle } from '../../node/index.ts';
import { unsignedImageAfter } from './defence-tamper.ts';

/** containerd's bindir image verifier directory (lab/gates/component.ts writes the pull gate there). */
export const VERIFIER_BIN_DIR = '/opt/containerd/image-verifier/bin';
/** Where the attacker keeps what it took out. */
const ASIDE = '/var/tmp/attacker-verifiers';

/** Moves every verifier out of bin_dir; what was there (nothing on a node without the pull gate). */
export async function emptyVerifierDir(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const r = await node.run(['sh', '-c', `mkdir -p ${ASIDE}; ls -A ${VERIFIER_BIN_DIR} 2>/dev/null || true`]);
  const before = r.stdout.toString().split('\n').filter(Boolean);
  if (before.length) await node.run(['sh', '-c', `mv ${VERIFIER_BIN_DIR}/* ${VERIFIER_BIN_DIR}/.[!.]* ${ASIDE}/ 2>/dev/null; ls -A ${VERIFIER_BIN_DIR} | wc -l | grep -qx 0`]);
  return { verifierBinDir: VERIFIER_BIN_DIR, verifiersBefore: before, verifiersMovedTo: before.length ? ASIDE : 'none on this node' };
}

export const pullVerifierEmpty = unsignedImageAfter('pull-verifier-empty', async ({ node }) => ({
  evidence: await emptyVerifierDir(node),
  what: 'with the verifier directory empty',
}));
