/**
 * Attack (T1553.004 Subvert Trust Controls: Install Root Certificate,
 * T1562.001 Impair Defenses): root on the node makes its own CA, signs an
 * image of a protected repository with it (v2, with the root hashes of its
 * layers, as a vendor would), appends the CA to the trusted roots the node
 * gates and the watchdog read, and has the node pull and start the image in
 * a protected namespace. Whatever the attacker signs would then run as a
 * trusted system image.
 *
 * What must catch it: the pull gate, which reads its trusted roots against
 * the digest the host pinned at lab start and refuses on other bytes
 * (lab/gates/pins.ts), naming the file.
 */
import { foreignPki, signImage } from '../../trust/index.ts';
import type { Technique } from '../technique.ts';
import { readNodeText, TRUSTED_ROOTS_FILES, writeNodeText } from './defence-tamper.ts';
import { tryStart } from './start.ts';

export const trustedRootsAddCa: Technique = {
  name: 'trusted-roots-add-ca',
  async run({ node, workload, pods }) {
    const { repository, tag } = workload.spec.image;
    const ref = node.imageRef(repository, tag);
    const pki = await foreignPki(node, 'attacker');
    await node.pushImage(workload.spec.image);
    const signed = await signImage(node, repository, tag, { format: 'v2', pki });
    const appended: string[] = [];
    for (const file of TRUSTED_ROOTS_FILES) {
      const roots = await readNodeText(node, file);
      if (roots === undefined) continue;
      await writeNodeText(node, file, `${roots.trimEnd()}\n${pki.root.certificatePem.trim()}\n`);
      appended.push(file);
    }
    const evidence = { ref, digest: signed.digest, signedBy: 'the attacker\'s own CA (not the lab\'s)', caAppendedTo: appended.length ? appended : 'no trusted roots on this node' };
    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the image signed by the attacker's CA did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason }, subjects: [signed.digest] };
    return {
      effect: true,
      reason: `${ref}, signed by the attacker's CA, runs in ${workload.spec.namespace}${appended.length ? ` after the CA was appended to ${appended.join(', ')}` : ''}`,
      evidence: { ...evidence, container: start.pod.containers[0]?.id },
      subjects: [signed.digest],
    };
  },
};
