/**
 * The signed root hash of each layer a container runs on: the image's
 * manifest from containerd's content store, checked by the same decision the
 * gates make (lab/gates/image-trust.ts). Nothing in the manifest is believed
 * until its signature chains to the lab's trusted roots.
 */
import type { Exec } from '../exec.ts';
import { blobFiles, manifestOf, type ContentStore } from '../gates/content-store.ts';
import { ctrRecords, type ContainerdTarget } from '../gates/containerd-records.ts';
import { decideImageTrust, type TrustDecision } from '../gates/image-trust.ts';
import type { LayerRef } from './expected.ts';

export type { ContainerdTarget } from '../gates/containerd-records.ts';

export interface SignedLayer {
  file: string;
  signed: string;
  /** Manifest layer digest, or `standard-layer`. */
  digest: string;
}

/** The image-level decision, made once per image. */
export type ImageTrust =
  | { ok: true; rootHashes: string[]; layerDigests: string[]; format: string; manifestDigest: string }
  | { ok: false; reason: string };

export type LayerTrust = { ok: true; layers: SignedLayer[]; format: string; manifestDigest: string } | { ok: false; reason: string };

/** Reads the manifest from containerd and decides as the gates do; never throws. */
export async function imageTrust(
  exec: Exec,
  c: ContainerdTarget,
  image: string,
  options: { allowedFormats: ('v2' | 'delivery-kit')[]; trustedRoots: string[]; clock?: () => Date; content?: ContentStore },
): Promise<ImageTrust> {
  let manifest: { bytes: Buffer; digest: string };
  try {
    manifest = await manifestOf(ctrRecords(exec, c), image, options.content ?? blobFiles());
  } catch (err) {
    return { ok: false, reason: `cannot read the manifest of ${image}: ${(err as Error).message}` };
  }
  try {
    const d: TrustDecision = await decideImageTrust(image, manifest.bytes, manifest.digest, { allowedFormats: options.allowedFormats }, options.trustedRoots, options.clock);
    return d.ok ? { ok: true, rootHashes: d.rootHashes, layerDigests: d.layerDigests, format: d.format, manifestDigest: manifest.digest } : { ok: false, reason: d.reason };
  } catch (err) {
    return { ok: false, reason: `${image}@${manifest.digest}: ${(err as Error).message}` };
  }
}

/**
 * Pairs the rootfs lowerdirs with the signed root hashes: overlayfs lists
 * lowerdirs top first, a manifest lists layers base first, and the start
 * gate's standard layer (pinned root hash) sits on top of them all.
 */
export function pairLayers(layers: readonly LayerRef[], trust: ImageTrust, standardRootHash?: string): LayerTrust {
  if (!trust.ok) return { ok: false, reason: trust.reason };
  const out: SignedLayer[] = [];
  const snapshots = layers.filter((l) => l.kind !== 'standard');
  for (const l of layers) {
    if (l.kind === 'standard' && l.layerFile) {
      if (!standardRootHash) return { ok: false, reason: `the standard layer ${l.layerFile} is in use but the node pins no root hash for it` };
      out.push({ file: l.layerFile, signed: standardRootHash, digest: 'standard-layer' });
    }
  }
  if (snapshots.length !== trust.rootHashes.length) {
    return { ok: false, reason: `the rootfs has ${snapshots.length} image layers, the signed manifest ${trust.rootHashes.length}` };
  }
  for (const [i, signed] of trust.rootHashes.entries()) {
    const l = snapshots[snapshots.length - 1 - i]!;
    if (!l.layerFile) return { ok: false, reason: `lowerdir ${l.lowerdir} (layer ${i}) has no layer file: ${l.problem ?? 'unknown'}` };
    out.push({ file: l.layerFile, signed, digest: trust.layerDigests[i]! });
  }
  return { ok: true, layers: out, format: trust.format, manifestDigest: trust.manifestDigest };
}
