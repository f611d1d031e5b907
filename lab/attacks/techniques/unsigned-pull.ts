/**
 * Attack: root on the node pulls an unsigned image of a protected
 * repository straight through CRI, bypassing the API server. On vanilla the
 * node pulls and unpacks it; the pull gate must refuse it.
 */
import { CriCallError } from '../../cri/index.ts';
import type { Technique } from '../technique.ts';

export const unsignedPull: Technique = {
  name: 'unsigned-pull',
  async run({ node, workload }) {
    const built = await node.pushImage(workload.spec.image);
    const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
    try {
      const imageId = await node.cri.pullImage(ref);
      return {
        effect: true,
        reason: `the node pulled and unpacked the unsigned image ${ref}`,
        evidence: { ref, manifestDigest: built.manifestDigest, imageId },
      };
    } catch (err) {
      if (!(err instanceof CriCallError)) throw err;
      return {
        effect: false,
        reason: `the node refused to pull ${ref}: ${err.details}`,
        evidence: { ref, manifestDigest: built.manifestDigest, criError: err.details },
      };
    }
  },
};
