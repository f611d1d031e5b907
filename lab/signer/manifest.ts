/**
 * The OCI image manifest as the signer and verifier see it.
 *
 * Spec: OCI image-spec v1.1, manifest.md and descriptor.md. Docker's
 * schema 2 manifest (application/vnd.docker.distribution.manifest.v2+json)
 * has the same shape, and the delivery-kit scheme signs both.
 *
 * `parseManifest` checks shape only. It says nothing about authenticity:
 * a parsed manifest is still attacker-controlled until its signature checks
 * out (verify.ts).
 */
import { LabError } from '../errors.ts';
import { quote } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

/** Annotation keys of the attached signature (delivery-kit scheme) and of this lab. */
export const ANNOTATIONS = {
  /** Manifest: base64 of the DER ECDSA signature. */
  signature: 'io.deckhouse.delivery-kit.signature',
  /** Manifest: base64 of the signing certificate's PEM. */
  cert: 'io.deckhouse.delivery-kit.cert',
  /** Manifest: base64 of the intermediate certificates' PEM, leaf's issuer first. */
  chain: 'io.deckhouse.delivery-kit.chain',
  /** Layer: lowercase hex dm-verity root hash of the layer's EROFS image. */
  rootHash: 'io.deckhouse.delivery-kit.dm-verity-root-hash',
  /** Layer: the EROFS build time (`mkfs.erofs -T`), decimal seconds. */
  buildTimestamp: 'io.deckhouse.delivery-kit.build-timestamp',
  /** Manifest: which payload format the signature covers; absent means delivery-kit. */
  signatureFormat: 'io.integrity-lab.signature-format',
  /** Manifest, v2 only: the repository path the image was signed for (binding.ts). */
  repository: 'io.integrity-lab.image.repository',
  /** Manifest, v2 only: the release version, the signing time in ms (binding.ts). */
  version: 'io.integrity-lab.image.version',
} as const;

/** The annotations that carry the signature itself, and so are never signed. */
export const SIGNATURE_ANNOTATION_KEYS: readonly string[] = [ANNOTATIONS.signature, ANNOTATIONS.cert, ANNOTATIONS.chain];

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
  artifactType?: string;
  data?: string;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  subject?: OciDescriptor;
  annotations?: Record<string, string>;
}

/** OCI digest grammar (descriptor.md "Digests"): algorithm ":" encoded. */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256_ENCODED = /^sha256:[0-9a-f]{64}$/;

/**
 * Checks that `value` has the shape of an image manifest and returns it
 * typed. Unknown members are kept (the v2 payload signs them too).
 * Throws MANIFEST_INVALID naming the first offending field.
 */
export function parseManifest(value: unknown, name = 'manifest'): OciManifest {
  const at = (path: string, expected: string, got: unknown): LabError<SignerErrorCode> =>
    new LabError<SignerErrorCode>('MANIFEST_INVALID', `${name}: ${path}: expected ${expected}, got ${describe(got)}`);

  if (!isRecord(value)) throw at('$', 'a JSON object', value);
  if (value.schemaVersion !== 2) throw at('schemaVersion', 'the number 2', value.schemaVersion);
  if (value.mediaType !== undefined && typeof value.mediaType !== 'string') throw at('mediaType', 'a string', value.mediaType);
  if (value.mediaType !== undefined && value.mediaType !== MEDIA_TYPES.ociManifest && value.mediaType !== MEDIA_TYPES.dockerManifest) {
    throw at('mediaType', `${MEDIA_TYPES.ociManifest} or ${MEDIA_TYPES.dockerManifest}`, value.mediaType);
  }
  if (value.artifactType !== undefined && typeof value.artifactType !== 'string') throw at('artifactType', 'a string', value.artifactType);
  checkDescriptor(value.config, 'config', at);
  if (!Array.isArray(value.layers)) throw at('layers', 'an array', value.layers);
  value.layers.forEach((layer, i) => checkDescriptor(layer, `layers[${i}]`, at));
  if (value.subject !== undefined) checkDescriptor(value.subject, 'subject', at);
  checkAnnotations(value.annotations, 'annotations', at);
  return value as unknown as OciManifest;
}

/** Parses manifest bytes as JSON, then as a manifest. Throws MANIFEST_NOT_JSON or MANIFEST_INVALID. */
export function parseManifestBytes(bytes: Uint8Array, name = 'manifest'): OciManifest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new LabError<SignerErrorCode>(
      'MANIFEST_NOT_JSON',
      `${name}: expected JSON, got ${bytes.length} bytes that do not parse (${(err as Error).message})`,
      { cause: err },
    );
  }
  return parseManifest(value, name);
}

/** Serialises a manifest as compact JSON bytes (member order as in the object). */
export function serializeManifest(manifest: OciManifest): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}

/** A deep copy, so that annotating never mutates the caller's manifest. */
export function cloneManifest(manifest: OciManifest): OciManifest {
  return structuredClone(manifest);
}

type Fail = (path: string, expected: string, got: unknown) => LabError<SignerErrorCode>;

function checkDescriptor(value: unknown, path: string, fail: Fail): void {
  if (!isRecord(value)) throw fail(path, 'a descriptor object', value);
  if (typeof value.mediaType !== 'string' || value.mediaType === '') throw fail(`${path}.mediaType`, 'a non-empty string', value.mediaType);
  if (typeof value.digest !== 'string' || !DIGEST.test(value.digest)) throw fail(`${path}.digest`, 'a digest "algorithm:hex"', value.digest);
  if (value.digest.startsWith('sha256:') && !SHA256_ENCODED.test(value.digest)) {
    throw fail(`${path}.digest`, 'sha256: followed by 64 lowercase hex digits', value.digest);
  }
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw fail(`${path}.size`, 'a non-negative safe integer', value.size);
  }
  if (value.urls !== undefined && (!Array.isArray(value.urls) || !value.urls.every((u) => typeof u === 'string'))) {
    throw fail(`${path}.urls`, 'an array of strings', value.urls);
  }
  checkAnnotations(value.annotations, `${path}.annotations`, fail);
}

function checkAnnotations(value: unknown, path: string, fail: Fail): void {
  if (value === undefined) return;
  if (!isRecord(value)) throw fail(path, 'an object of string values', value);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw fail(`${path}[${quote(key)}]`, 'a string', v);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
