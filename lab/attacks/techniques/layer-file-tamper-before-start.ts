/**
 * Attack: after a signed image is pulled and before its container starts,
 * root on the node edits the layer.erofs that holds the target file. On
 * vanilla the container starts and reads the attacker's bytes; the start
 * gate must refuse to start it (the layer no longer matches its signed root
 * hash).
 */
import type { Technique } from '../technique.ts';
import { declaredContent, findLayerFileContaining, requirePath, samePayloadLength, writeAsRoot } from './common.ts';
import { readInContainer, tryStart } from './start.ts';

export const layerFileTamperBeforeStart: Technique = {
  name: 'layer-file-tamper-before-start',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
    await node.cri.pullImage(ref);
    const original = declaredContent(workload, path);
    const replacement = samePayloadLength(attack, original);
    const target = await findLayerFileContaining(node, original);
    const { immutableFlagCleared } = await writeAsRoot(node, target.layerFile, target.offset, replacement);
    const evidence: Record<string, unknown> = { ref, layerFile: target.layerFile, offset: target.offset, immutableFlagCleared };
    const start = await tryStart(node, workload, pods);
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const seen = await readInContainer(node, start.pod, path);
    evidence.contentSeen = seen.content.toString();
    return seen.content.equals(replacement)
      ? { effect: true, reason: `the container started and reads the attacker's bytes from ${path}`, evidence }
      : { effect: false, reason: `the container started but reads the original ${path}`, evidence };
  },
};
