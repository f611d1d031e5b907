/**
 * Attack: root on the node side-loads an unsigned image under the same
 * reference with `ctr images import`, which no pull gate sees. The node then
 * starts the workload from it (the kubelet pulls only missing images). The
 * start gate must treat the unsigned image as corrupted: refuse it, remove
 * it and pull the signed one again from the registry.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, buildTar, MEDIA_TYPES, type BuiltImage, type TarEntry } from '../../images/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, withContent } from './common.ts';
import { readInContainer, tryStart } from './start.ts';
import { poll } from '../../wait.ts';


/**
 * Imports `forged` on the node under `ref` with `ctr images import` (an OCI
 * image layout archive), which no pull gate sees, and waits until CRI serves
 * it, as an attacker would: a kubelet-like start would otherwise pull the
 * genuine image instead. Evidence of the import.
 */
export async function sideLoad(node: LabNodeHandle, forged: BuiltImage, ref: string, tag: string): Promise<Record<string, unknown>> {
  const entries: TarEntry[] = [{ type: 'file', path: 'oci-layout', content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') }];
  for (const [digest, blob] of forged.blobs) entries.push({ type: 'file', path: `blobs/sha256/${digest.slice(7)}`, content: blob });
  entries.push({ type: 'file', path: `blobs/sha256/${forged.manifestDigest.slice(7)}`, content: forged.manifestBytes });
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: MEDIA_TYPES.manifest, digest: forged.manifestDigest, size: forged.manifestBytes.length, annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': tag } }],
  };
  entries.push({ type: 'file', path: 'index.json', content: Buffer.from(JSON.stringify(index)) });
  const archive = join(node.shareDir, 'side-loaded.tar');
  await writeFile(archive, buildTar(entries));
  const imported = await node.run(['ctr', '-n', 'k8s.io', 'images', 'import', archive]);
  const forgedId = forged.manifest.config.digest;
  const served = await poll(() => node.cri.imageStatus(ref), (image) => image?.id === forgedId, { timeoutMs: 10_000, intervalMs: 100 });
  if (!served.ok) throw new Error(`CRI did not report the side-loaded image ${ref} (${forgedId}) within 10000 ms`);
  return { ref, forgedManifestDigest: forged.manifestDigest, ctrImport: imported.stdout.toString().trim() };
}

export const sideLoadImport: Technique = {
  name: 'side-load-import',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
    // The forgery carries no signature annotations.
    const forged = await buildImage({ ...withContent(workload.spec.image, path, payload), annotations: undefined }, { busybox: async () => node.readFile('/bin/busybox') });
    const evidence = await sideLoad(node, forged, ref, workload.spec.image.tag);

    const start = await tryStart(node, workload, pods);
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const seen = await readInContainer(node, start.pod, path);
    evidence.contentSeen = seen.content.toString();
    return seen.content.toString() === payload
      ? { effect: true, reason: `the container runs the side-loaded unsigned image and reads the attacker's ${path}`, evidence }
      : { effect: false, reason: `the container runs but reads the original ${path}`, evidence };
  },
};
