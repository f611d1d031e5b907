/**
 * Signing and verifying an image where it lives, in a registry: the thin
 * I/O shell over layers.ts, sign.ts and verify.ts that the CLI and the
 * lead's scenarios call.
 */
import { LabError } from '../errors.ts';
import type { Exec } from '../exec.ts';
import type { SignerErrorCode } from './errors.ts';
import type { ProgressListener } from '../progress.ts';
import { isSha256Digest } from './encoding.ts';
import { annotateLayerRootHashes, computeLayerRootHashes } from './layers.ts';
import type { LayerRootHash } from './layers.ts';
import { MEDIA_TYPES, parseManifestBytes, serializeManifest } from './manifest.ts';
import type { OciManifest } from './manifest.ts';
import type { PayloadFormat } from './payload.ts';
import type { Clock } from './pki.ts';
import type { RegistryClient } from './registry.ts';
import { repositoryPath } from './binding.ts';
import { signManifest } from './sign.ts';
import type { SigningIdentity } from './sign.ts';
import { verifyManifestBytes } from './verify.ts';
import type { VerificationResult, VerifyOptions } from './verify.ts';

/** How to build and hash a layer's EROFS image (see layers.ts). */
export interface RootHashRecipe {
  /** Runs mkfs.erofs: locally, or in the lab node. */
  exec: Exec;
  /** Scratch directory, at the same path for this process and for `exec`. */
  workDir: string;
  rootHasher?: (erofsPath: string) => Promise<Buffer>;
  progress?: ProgressListener;
}

export interface SignImageOptions extends RootHashRecipe {
  client: RegistryClient;
  repository: string;
  /** The tag to sign; the signed manifest is pushed back under it. */
  tag: string;
  identity: SigningIdentity;
  format?: PayloadFormat;
  clock: Clock;
}

export interface SignedImage {
  /** Digest of the manifest as it was before signing. */
  previousDigest: string;
  /** Digest of the signed manifest now under the tag. */
  digest: string;
  manifest: OciManifest;
  rootHashes: LayerRootHash[];
}

/**
 * Fetches the manifest under `tag`, computes every layer's root hash the
 * way the node will, annotates, signs and pushes the result under the same
 * tag. Blobs are unchanged, so only the manifest is uploaded.
 */
export async function signImageInRegistry(options: SignImageOptions): Promise<SignedImage> {
  const { client, repository, tag } = options;
  const fetched = await client.getManifest(repository, tag);
  const signed = await signManifestBytes(fetched.bytes, `${repository}:${tag}`, (digest) => client.getBlob(repository, digest), options);
  const mediaType = signed.manifest.mediaType ?? (fetched.mediaType || MEDIA_TYPES.ociManifest);
  const digest = await client.putManifest(repository, tag, signed.bytes, mediaType);
  return { previousDigest: fetched.digest, digest, manifest: signed.manifest, rootHashes: signed.rootHashes };
}

export interface LocalSignOptions extends RootHashRecipe {
  identity: SigningIdentity;
  format?: PayloadFormat;
  clock: Clock;
}

/**
 * v2 signatures made here bind the repository they are signed for and the
 * signing time in ms as the release version (binding.ts); delivery-kit
 * signatures bind neither.
 */
function bindingFor(format: PayloadFormat, reference: string, clock: Clock) {
  if (format !== 'v2') return undefined;
  const repository = repositoryPath(reference);
  if (repository === undefined) throw new LabError<SignerErrorCode>('REGISTRY_BAD_REFERENCE', `cannot bind a v2 signature to ${JSON.stringify(reference)}: not an image reference`);
  return { repository, version: clock().getTime() };
}

/**
 * Signs an image that is not in a registry yet (its manifest and blobs in
 * memory), e.g. the control-plane images a kind node preloads: the same
 * root-hash recipe and signature as signImageInRegistry. Returns the signed
 * manifest's bytes; the blobs are unchanged.
 */
export async function signManifestBytes(
  bytes: Buffer,
  name: string,
  blob: (digest: string) => Promise<Buffer>,
  options: LocalSignOptions,
): Promise<{ bytes: Buffer; manifest: OciManifest; rootHashes: LayerRootHash[] }> {
  const manifest = parseManifestBytes(bytes, name);
  const rootHashes = await computeLayerRootHashes(manifest, { fetchBlob: (layer) => blob(layer.digest), ...recipe(options) });
  const annotated = annotateLayerRootHashes(manifest, rootHashes);
  const format = options.format ?? 'delivery-kit';
  const signed = await signManifest(annotated, { identity: options.identity, format, clock: options.clock, binding: bindingFor(format, name, options.clock) });
  return { bytes: serializeManifest(signed.manifest), manifest: signed.manifest, rootHashes };
}

export interface VerifyImageOptions extends Omit<VerifyOptions, 'layerRootHashes' | 'name'> {
  client: RegistryClient;
  repository: string;
  /** A tag or a digest; a digest is also required to match the bytes. */
  reference: string;
  /** Rebuild each layer's EROFS image and compare root hashes (slow; needs mkfs.erofs). */
  recompute?: RootHashRecipe;
}

/** Fetches a manifest and verifies it; with `recompute`, also every layer's root hash. */
export async function verifyImageInRegistry(options: VerifyImageOptions): Promise<VerificationResult> {
  const { client, repository, reference } = options;
  const fetched = await client.getManifest(repository, reference);
  let layerRootHashes: VerifyOptions['layerRootHashes'];
  if (options.recompute !== undefined) {
    const manifest = parseManifestBytes(fetched.bytes, `${repository}:${reference}`);
    const computed = await computeLayerRootHashes(manifest, {
      fetchBlob: (layer) => client.getBlob(repository, layer.digest),
      ...recipe(options.recompute),
    });
    layerRootHashes = async (_layer, index) => computed[index]?.rootHash;
  }
  const verifyOptions: Parameters<typeof verifyManifestBytes>[1] = {
    ...options,
    name: `${repository}${isSha256Digest(reference) ? '@' : ':'}${reference}`,
    ...(isSha256Digest(reference) ? { expectedDigest: reference } : {}),
    ...(layerRootHashes === undefined ? {} : { layerRootHashes }),
  };
  return verifyManifestBytes(fetched.bytes, verifyOptions);
}

function recipe(r: RootHashRecipe): RootHashRecipe {
  const out: RootHashRecipe = { exec: r.exec, workDir: r.workDir };
  if (r.rootHasher !== undefined) out.rootHasher = r.rootHasher;
  if (r.progress !== undefined) out.progress = r.progress;
  return out;
}
