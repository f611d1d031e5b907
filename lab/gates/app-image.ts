/**
 * The application tier's start-time check (seed 000, "Integrity control when
 * starting user application containers"): before a container in an
 * application namespace starts, the node's local copy of its image is
 * checked against the digest the image is known by.
 *
 * 1. The known digest: the one the pod names (`repo@sha256:…`), else the one
 *    the pull gate recorded from the registry at pull (pull-record.ts). No
 *    digest: refused (APP_NO_DIGEST); an unreadable record: refused
 *    (APP_REFERENCE_UNREADABLE).
 * 2. The manifest containerd's image record resolves to must hash to that
 *    digest (or be the linux/amd64 entry of an index that does); the config
 *    blob and every layer blob must hash to the digests and sizes the
 *    manifest names (APP_DIGEST_MISMATCH).
 * 3. Each EROFS layer the rootfs is built from (`snapshots/N/layer.erofs`)
 *    must have the dm-verity root hash of a rebuild of the layer blob whose
 *    digest matched: containerd's differ is reproducible with the lab's
 *    mkfs options (FACTS.md), and lab/signer/layers.ts is the one place that
 *    encodes its recipe (APP_LAYER_MISMATCH).
 *
 * Everything read from the node is attacker-controlled until its digest
 * matched; the reference for a layer file is derived only from bytes whose
 * digest matched. References are cached by blob digest and the blob file's
 * device, inode, size, mtime and ctime (ctime cannot be set from userspace),
 * so an edited blob misses the cache and is hashed again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LabError, describeError, isLabError } from '../errors.ts';
import type { Exec } from '../exec.ts';
import { parseMountinfo } from '../node/rootfs.ts';
import { overlayLowerdirs } from '../watchdog/mountinfo.ts';
import { computeLayerRootHashes, parseManifestBytes, type OciDescriptor, type OciManifest } from '../signer/index.ts';
import { equalHex } from '../constant-time.ts';
import type { ContainerdTarget, ImageTrust } from '../watchdog/trust.ts';
import { blobFiles, blobPath as storeBlobPath, CONTENT_ROOT, indexEntry, manifestOf } from './content-store.ts';
import { ctrRecords } from './containerd-records.ts';
import { RootHashCache } from './layer-check.ts';
import type { PullRecordRead } from './pull-record.ts';

export type AppCheckCode = 'APP_NO_DIGEST' | 'APP_REFERENCE_UNREADABLE' | 'APP_DIGEST_MISMATCH' | 'APP_LAYER_MISMATCH' | 'APP_CHECKER_CRASHED';

export { CONTENT_ROOT };

export interface KnownDigest {
  digest: string;
  /** `pod`: the reference names it; `pull`: the pull gate recorded it from the registry. */
  source: 'pod' | 'pull';
}

export interface AppCheckDeps {
  exec: Exec;
  containerd: ContainerdTarget;
  /** containerd's content store root; blobs are `blobs/sha256/<hex>` under it. */
  contentRoot: string;
  pullRecord(): PullRecordRead;
  references: ReferenceCache;
  /** dm-verity root hash of a layer file (RootHashCache). */
  layerRootHash(file: string): Promise<{ hex: string; cached: boolean }>;
  /** Scratch space for the reference rebuilds. */
  workDir: string;
}

export interface LayerReference {
  digest: string;
  /** Root hash of the EROFS image rebuilt from the verified blob. */
  reference: string;
  cached: boolean;
}

export interface ApplicationReferences {
  image: string;
  known: KnownDigest;
  manifestDigest: string;
  configDigest: string;
  /** Base first, as in the manifest. */
  layers: LayerReference[];
}

export interface AppLayerCheck extends LayerReference {
  layerFile: string;
  actual: string;
  actualCached: boolean;
}

export interface AppImageVerdict extends Omit<ApplicationReferences, 'layers'> {
  layers: AppLayerCheck[];
}

function fail(code: AppCheckCode, message: string, cause?: unknown): never {
  throw new LabError<AppCheckCode>(code, message, { cause });
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The digest the image is known by: named in the reference, or recorded at pull. */
export function knownDigest(image: string, record: PullRecordRead): KnownDigest {
  const at = image.lastIndexOf('@');
  if (at > 0 && DIGEST.test(image.slice(at + 1))) return { digest: image.slice(at + 1), source: 'pod' };
  if (!record.ok) fail('APP_REFERENCE_UNREADABLE', `image ${image}: the pull record cannot be read, so there is no reference to check against: ${record.reason}`);
  const entry = record.record[image];
  if (!entry) {
    fail('APP_NO_DIGEST', `image ${image} has no digest to check against: the reference names none, and no pull through the pull gate recorded one (imported or pulled around containerd's verifier?)`);
  }
  return { digest: entry.digest, source: 'pull' };
}

/** A blob's path in the content store; the digest is checked first, so it cannot walk out of it. */
export function blobPath(contentRoot: string, digest: string): string {
  try {
    return storeBlobPath(contentRoot, digest);
  } catch (err) {
    return fail('APP_DIGEST_MISMATCH', describeError(err), err);
  }
}

/** A small blob (the config) through the one content-store reader, and its size against the manifest's. */
function checkBlob(contentRoot: string, what: string, d: Pick<OciDescriptor, 'digest' | 'size'>): void {
  let bytes: Buffer;
  try {
    bytes = blobFiles(contentRoot).blob(d.digest);
  } catch (err) {
    return fail('APP_DIGEST_MISMATCH', `${what} ${d.digest}: ${describeError(err)}`, err);
  }
  if (bytes.length !== d.size) fail('APP_DIGEST_MISMATCH', `${what} ${d.digest}: the content store has ${bytes.length} bytes, the manifest names ${d.size}`);
}

/** Reference root hashes by blob digest and blob file identity. */
export class ReferenceCache {
  readonly #path?: string;
  #entries: Record<string, string>;

  constructor(path?: string) {
    this.#path = path;
    try {
      this.#entries = path ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>) : {};
    } catch {
      this.#entries = {};
    }
  }

  static key(digest: string, blobFile: string): string {
    return `${digest}|${RootHashCache.keyOf(blobFile)}`;
  }

  get(key: string): string | undefined {
    return this.#entries[key];
  }

  set(key: string, reference: string): void {
    this.#entries[key] = reference;
    if (!this.#path) return;
    try {
      mkdirSync(dirname(this.#path), { recursive: true });
      writeFileSync(this.#path, JSON.stringify(this.#entries));
    } catch {
      // A cache that cannot be written only costs time.
    }
  }
}

/** The manifest the image record resolves to, checked against the known digest. */
async function verifiedManifest(image: string, known: KnownDigest, deps: AppCheckDeps): Promise<{ manifest: OciManifest; digest: string }> {
  let local: { bytes: Buffer; digest: string };
  try {
    // The one content-store reader (content-store.ts): a blob whose bytes no longer hash to its digest is refused there.
    local = await manifestOf(ctrRecords(deps.exec, deps.containerd), image, blobFiles(deps.contentRoot));
  } catch (err) {
    return fail('APP_DIGEST_MISMATCH', `image ${image}: the node's copy cannot be read: ${describeError(err)}`, err);
  }
  const actual = `sha256:${createHash('sha256').update(local.bytes).digest('hex')}`;
  if (actual !== local.digest) fail('APP_DIGEST_MISMATCH', `image ${image}: manifest ${local.digest} in the content store hashes to ${actual}: it was edited`);
  if (local.digest !== known.digest) {
    // Either an index the pod or the registry named, with this manifest for
    // linux/amd64, or containerd's image record points at another manifest.
    let entry: string | undefined;
    try {
      entry = indexEntry(blobFiles(deps.contentRoot).blob(known.digest), `index ${known.digest}`).manifest;
    } catch {
      entry = undefined; // not in the store, altered or not JSON: no index vouches for the manifest
    }
    if (entry !== local.digest) {
      fail('APP_DIGEST_MISMATCH', `image ${image}: containerd's image record resolves to manifest ${local.digest}, but the image is known by ${known.digest} (${known.source === 'pod' ? 'named by the pod' : 'recorded at pull'})`);
    }
  }
  return { manifest: parseManifestBytes(local.bytes, `${image}@${local.digest}`), digest: local.digest };
}

/** Checks manifest, config and layer blobs against the known digest and derives each layer's reference. */
export async function applicationReferences(image: string, deps: AppCheckDeps): Promise<ApplicationReferences> {
  const known = knownDigest(image, deps.pullRecord());
  const { manifest, digest } = await verifiedManifest(image, known, deps);
  checkBlob(deps.contentRoot, 'config', manifest.config);
  const layers: LayerReference[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const file = blobPath(deps.contentRoot, layer.digest);
    let key: string;
    try {
      key = ReferenceCache.key(layer.digest, file);
    } catch (err) {
      return fail('APP_DIGEST_MISMATCH', `layer ${i} ${layer.digest}: not in the content store (${file}): ${(err as Error).message}`, err);
    }
    const hit = deps.references.get(key);
    if (hit) {
      layers.push({ digest: layer.digest, reference: hit, cached: true });
      continue;
    }
    mkdirSync(deps.workDir, { recursive: true });
    // computeLayerRootHashes hashes the bytes it read and rebuilds only those
    // if they match the digest (hashing the blob here as well would double the
    // cost: about 1.3 s per 100 MiB on the loaded lab host).
    const fetchBlob = async () => {
      const blob = readFileSync(file);
      if (blob.length !== layer.size) fail('APP_DIGEST_MISMATCH', `layer ${i} ${layer.digest}: the content store's ${file} has ${blob.length} bytes, the manifest names ${layer.size}`);
      return blob;
    };
    const [built] = await computeLayerRootHashes({ ...manifest, layers: [layer] }, { fetchBlob, exec: deps.exec, workDir: deps.workDir }).catch((err: unknown) => {
      if (isLabError(err, 'LAYER_DIGEST_MISMATCH')) return fail('APP_DIGEST_MISMATCH', `layer ${i} ${layer.digest}: the content store's ${file}: ${(err as Error).message.replace(/^layer 0: /, '')}`, err);
      throw err;
    });
    const reference = built!.rootHash.toString('hex');
    deps.references.set(key, reference);
    layers.push({ digest: layer.digest, reference, cached: false });
  }
  return { image, known, manifestDigest: digest, configDigest: manifest.config.digest, layers };
}

/** Lowerdirs of the overlay mounted on `rootfs`, top first. */
function rootLowerdirs(mountinfo: string, rootfs: string): string[] {
  const entry = parseMountinfo(mountinfo).filter((m) => m.mountPoint === rootfs).pop();
  if (!entry || entry.fstype !== 'overlay') fail('APP_LAYER_MISMATCH', `rootfs ${rootfs} is ${entry ? entry.fstype : 'not mounted'}, expected an overlay of EROFS layers`);
  return overlayLowerdirs(entry);
}

/**
 * The whole start-time check: references from the content store, then each
 * layer file under the rootfs against the reference of the blob at its place.
 */
export async function checkApplicationImage(image: string, rootfs: string, mountinfo: string, deps: AppCheckDeps): Promise<AppImageVerdict> {
  const refs = await applicationReferences(image, deps);
  const lowerdirs = rootLowerdirs(mountinfo, rootfs);
  if (lowerdirs.length !== refs.layers.length) fail('APP_LAYER_MISMATCH', `rootfs ${rootfs} has ${lowerdirs.length} layers, the manifest ${refs.manifestDigest} ${refs.layers.length}`);
  const mounts = parseMountinfo(mountinfo);
  const layers: AppLayerCheck[] = [];
  // Manifest layers are base first; overlay lowerdirs are top first.
  for (const [i, ref] of refs.layers.entries()) {
    const lowerdir = lowerdirs[lowerdirs.length - 1 - i]!;
    const layerFile = join(dirname(lowerdir), 'layer.erofs');
    const m = mounts.filter((x) => x.mountPoint === lowerdir).pop();
    if (!m || m.fstype !== 'erofs' || m.source !== layerFile || !m.options.includes('ro')) {
      fail('APP_LAYER_MISMATCH', `layer ${i} (${ref.digest}): ${lowerdir} is not a read-only erofs mount of ${layerFile}: ${m?.line ?? 'not mounted'}`);
    }
    let actual: { hex: string; cached: boolean };
    try {
      actual = await deps.layerRootHash(layerFile);
    } catch (err) {
      return fail('APP_LAYER_MISMATCH', `layer ${i} (${ref.digest}): ${layerFile} cannot be hashed: ${(err as Error).message}`, err);
    }
    layers.push({ ...ref, layerFile, actual: actual.hex, actualCached: actual.cached });
    if (!equalHex(actual.hex, ref.reference)) {
      fail('APP_LAYER_MISMATCH', `layer ${i} (${ref.digest}): ${layerFile} has dm-verity root hash ${actual.hex}, the reference rebuilt from the blob whose digest matched is ${ref.reference}`);
    }
  }
  return { ...refs, layers };
}

/**
 * The application tier's answer to the watchdog's question "what root hash
 * must each layer file of this image have?": the references, in the shape
 * of the system tier's signed root hashes (watchdog/trust.ts). Never throws.
 */
export async function applicationTrust(image: string, deps: AppCheckDeps): Promise<ImageTrust> {
  try {
    const r = await applicationReferences(image, deps);
    return {
      ok: true,
      rootHashes: r.layers.map((l) => l.reference),
      layerDigests: r.layers.map((l) => l.digest),
      format: `application tier (${r.known.source === 'pod' ? 'digest named by the pod' : 'digest recorded at pull'} ${r.known.digest})`,
      manifestDigest: r.manifestDigest,
    };
  } catch (err) {
    return { ok: false, reason: `application tier: ${describeError(err)}` };
  }
}
