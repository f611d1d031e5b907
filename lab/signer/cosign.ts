/**
 * cosign-format signatures for user workloads: the legacy, tag-based layout
 * of sigstore/cosign `specs/SIGNATURE_SPEC.md`, as `cosign sign --key`
 * writes it with `--tlog-upload=false` and verified by `cosign verify --key`.
 *
 * Payload ("Simple Signing", containers/image docs/containers-signature.5.md,
 * with cosign's type string), serialised exactly as Go's encoding/json
 * writes sigstore's payload.SimpleContainerImage:
 *   {"critical":{"identity":{"docker-reference":"<registry>/<repo>"},
 *    "image":{"docker-manifest-digest":"sha256:<hex>"},
 *    "type":"cosign container image signature"},"optional":null}
 * Signature: ECDSA P-256 over SHA-256(payload), ASN.1 DER, standard base64.
 * Storage: an OCI image manifest tagged `sha256-<hex>.sig` in the image's
 * repository; one layer per signature, the payload as the blob
 * (application/vnd.dev.cosign.simplesigning.v1+json), the signature in the
 * layer annotation `dev.cosignproject.cosign/signature`. The config is the
 * one go-containerregistry's mutate.Append leaves on an empty image.
 *
 * Trust boundary: payloads, signatures and the `.sig` manifest come from the
 * registry and are attacker-controlled until the signature verifies under
 * the caller's public key and the payload names the expected digest.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { LabError, isLabError } from '../errors.ts';
import { decodeBase64Strict, encodeBase64, isSha256Digest, quote, sha256Digest } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { MEDIA_TYPES, parseManifestBytes } from './manifest.ts';
import type { OciDescriptor, OciManifest } from './manifest.ts';
import type { RegistryClient } from './registry.ts';
import type { Signer } from './sign.ts';
import type { VerificationFinding } from './verify.ts';

export const COSIGN_PAYLOAD_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/** The tag cosign stores an image's signatures under: `sha256:<hex>` → `sha256-<hex>.sig`. */
export function cosignSignatureTag(imageDigest: string): string {
  checkDigest(imageDigest);
  return `${imageDigest.replace(':', '-')}.sig`;
}

/**
 * The Simple Signing payload bytes cosign signs. `dockerReference` is what
 * cosign puts there: the repository with its registry host and no tag
 * (`127.0.0.1:5000/lab/app`). `optional` is cosign's `-a key=value`
 * annotations, or null.
 */
export function cosignPayload(dockerReference: string, imageDigest: string, optional: Record<string, string> | null = null): Buffer {
  checkDigest(imageDigest);
  const opt = optional === null
    ? 'null'
    : `{${Object.keys(optional).sort().map((k) => `${goJsonString(k)}:${goJsonString(optional[k] ?? '')}`).join(',')}}`;
  return Buffer.from(
    `{"critical":{"identity":{"docker-reference":${goJsonString(dockerReference)}},` +
      `"image":{"docker-manifest-digest":${goJsonString(imageDigest)}},` +
      `"type":${goJsonString(COSIGN_SIGNATURE_TYPE)}},"optional":${opt}}`,
    'utf8',
  );
}

/** Signs payload bytes as cosign does; returns the base64 DER signature for the annotation. */
export async function cosignSignPayload(payload: Uint8Array, signer: Signer): Promise<string> {
  return encodeBase64(await signer.sign(payload));
}

export interface CosignVerification {
  ok: boolean;
  findings: VerificationFinding[];
  /** The docker-reference the payload claims (informational; cosign ignores it too). */
  dockerReference?: string;
}

/**
 * Verifies one cosign signature: the signature over the exact payload bytes
 * with `publicKeyPem` (PEM SPKI, ECDSA P-256), then the payload's claim:
 * `critical.image.docker-manifest-digest` must equal `expectedDigest` (as
 * cosign's SimpleClaimVerifier checks) and `critical.type` must be cosign's
 * (stricter than cosign, which does not look). Field names are matched
 * case-insensitively, as Go's encoding/json does when cosign parses them.
 * Throws COSIGN_BAD_KEY for a key that is not PEM SPKI P-256: that is
 * configuration, not an attack.
 */
export function cosignVerify(payload: Uint8Array, signatureB64: string, publicKeyPem: string, expectedDigest: string): CosignVerification {
  const key = loadCosignPublicKey(publicKeyPem);
  const findings: VerificationFinding[] = [];
  const fail = (code: VerificationFinding['code'], message: string): CosignVerification => {
    findings.push({ code, severity: 'error', message });
    return { ok: false, findings };
  };

  const signature = decodeBase64Strict(signatureB64);
  if (signature === undefined) return fail('BAD_BASE64', `cosign signature: expected standard padded base64, got ${quote(signatureB64, 40)}`);
  let valid = false;
  try {
    valid = nodeVerify('sha256', payload, { key, dsaEncoding: 'der' }, signature);
  } catch {
    valid = false;
  }
  if (!valid) return fail('SIGNATURE_INVALID', `cosign signature (${signature.length} bytes) does not verify over the ${payload.length}-byte payload (sha256 ${sha256Digest(payload)}) with the given public key`);

  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return fail('COSIGN_PAYLOAD_INVALID', `cosign payload: expected Simple Signing JSON, ${payload.length} bytes do not parse`);
  }
  const critical = field(doc, 'critical');
  const digest = field(field(critical, 'image'), 'docker-manifest-digest');
  const type = field(critical, 'type');
  const reference = field(field(critical, 'identity'), 'docker-reference');
  if (typeof digest !== 'string') return fail('COSIGN_PAYLOAD_INVALID', 'cosign payload: expected critical.image.docker-manifest-digest to be a string, it is missing');
  if (type !== COSIGN_SIGNATURE_TYPE) {
    return fail('COSIGN_PAYLOAD_INVALID', `cosign payload: expected critical.type ${JSON.stringify(COSIGN_SIGNATURE_TYPE)}, got ${typeof type === 'string' ? quote(type) : String(type)}`);
  }
  if (digest !== expectedDigest) {
    return fail('MANIFEST_DIGEST_MISMATCH', `cosign payload: signs image ${quote(digest)}, expected ${expectedDigest}`);
  }
  const out: CosignVerification = { ok: true, findings };
  if (typeof reference === 'string') out.dockerReference = reference;
  return out;
}

/** Parses a cosign public key: PEM SPKI, ECDSA P-256. Throws COSIGN_BAD_KEY. */
export function loadCosignPublicKey(publicKeyPem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicKeyPem, format: 'pem' });
  } catch (err) {
    throw new LabError<SignerErrorCode>('COSIGN_BAD_KEY', 'cosign public key: expected a PEM "PUBLIC KEY" (SPKI), it does not parse', { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new LabError<SignerErrorCode>('COSIGN_BAD_KEY', `cosign public key: expected ECDSA P-256, got ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim());
  }
  return key;
}

/** One signature as stored in a `.sig` image. */
export interface CosignSignature {
  payload: Buffer;
  /** The layer annotation; undefined if the layer has none. */
  signatureB64: string | undefined;
  layer: OciDescriptor;
}

export interface CosignSignatureImage {
  manifest: OciManifest;
  /** The exact bytes to PUT. */
  manifestBytes: Buffer;
  config: Buffer;
  /** Payload blobs to upload, by digest. */
  blobs: Map<string, Buffer>;
}

/**
 * Builds the `.sig` image for a list of signatures, laid out as cosign
 * (go-containerregistry) lays it out: OCI manifest, OCI config whose
 * rootfs.diff_ids are the payload digests, one layer per signature.
 */
export function buildCosignSignatureImage(signatures: ReadonlyArray<{ payload: Buffer; signatureB64: string }>): CosignSignatureImage {
  const blobs = new Map<string, Buffer>();
  const layers: OciDescriptor[] = signatures.map((s) => {
    const digest = sha256Digest(s.payload);
    blobs.set(digest, s.payload);
    return { mediaType: COSIGN_PAYLOAD_MEDIA_TYPE, size: s.payload.length, digest, annotations: { [COSIGN_SIGNATURE_ANNOTATION]: s.signatureB64 } };
  });
  const epoch = '0001-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: epoch,
      history: layers.map(() => ({ created: epoch })),
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
    'utf8',
  );
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, size: config.length, digest: sha256Digest(config) },
    layers,
  };
  return { manifest, manifestBytes: Buffer.from(JSON.stringify(manifest), 'utf8'), config, blobs };
}

/** Reads the signatures stored for `imageDigest`; none (no `.sig` tag) gives []. */
export async function fetchCosignSignatures(client: RegistryClient, repository: string, imageDigest: string): Promise<CosignSignature[]> {
  let fetched;
  try {
    fetched = await client.getManifest(repository, cosignSignatureTag(imageDigest));
  } catch (err) {
    if (isLabError(err, 'REGISTRY_NOT_FOUND')) return [];
    throw err;
  }
  const manifest = parseManifestBytes(fetched.bytes, `${repository}:${cosignSignatureTag(imageDigest)}`);
  const out: CosignSignature[] = [];
  for (const layer of manifest.layers) {
    if (layer.mediaType !== COSIGN_PAYLOAD_MEDIA_TYPE) continue;
    out.push({ payload: await client.getBlob(repository, layer.digest), signatureB64: layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION], layer });
  }
  return out;
}

/**
 * Adds a signature to the image's `.sig` tag (keeping the ones already
 * there, as `cosign sign` does), uploading blobs first. Returns the tag and
 * the new `.sig` manifest digest.
 */
export async function pushCosignSignature(
  client: RegistryClient,
  repository: string,
  imageDigest: string,
  signature: { payload: Buffer; signatureB64: string },
): Promise<{ tag: string; digest: string }> {
  const tag = cosignSignatureTag(imageDigest);
  const existing = (await fetchCosignSignatures(client, repository, imageDigest))
    .filter((s): s is CosignSignature & { signatureB64: string } => s.signatureB64 !== undefined)
    .filter((s) => !(s.payload.equals(signature.payload) && s.signatureB64 === signature.signatureB64));
  const image = buildCosignSignatureImage([...existing, signature]);
  for (const blob of image.blobs.values()) await client.putBlob(repository, blob);
  await client.putBlob(repository, image.config);
  const digest = await client.putManifest(repository, tag, image.manifestBytes, MEDIA_TYPES.ociManifest);
  return { tag, digest };
}

/**
 * Verifies an image in a registry as `cosign verify --key` does for the
 * legacy layout: ok when at least one stored signature verifies with the
 * key and names `imageDigest`. Findings from every signature are kept.
 */
export async function verifyCosignImage(client: RegistryClient, repository: string, imageDigest: string, publicKeyPem: string): Promise<CosignVerification> {
  loadCosignPublicKey(publicKeyPem);
  const signatures = await fetchCosignSignatures(client, repository, imageDigest);
  if (signatures.length === 0) {
    return { ok: false, findings: [{ code: 'MISSING_SIGNATURE', severity: 'error', message: `${repository}@${imageDigest}: no cosign signatures at tag ${cosignSignatureTag(imageDigest)}` }] };
  }
  const findings: VerificationFinding[] = [];
  for (const [i, s] of signatures.entries()) {
    if (s.signatureB64 === undefined) {
      findings.push({ code: 'MISSING_SIGNATURE', severity: 'error', message: `${repository}:${cosignSignatureTag(imageDigest)} layer ${i}: no ${COSIGN_SIGNATURE_ANNOTATION} annotation` });
      continue;
    }
    const result = cosignVerify(s.payload, s.signatureB64, publicKeyPem, imageDigest);
    if (result.ok) return result;
    findings.push(...result.findings.map((f) => ({ ...f, message: `${repository}:${cosignSignatureTag(imageDigest)} layer ${i}: ${f.message}` })));
  }
  return { ok: false, findings };
}

/** Go's encoding/json string encoding: JSON.stringify plus \u escapes for <, >, & and U+2028/9. */
function goJsonString(value: string): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A member of a JSON object, matched the way Go's encoding/json matches struct fields (case-insensitively, last wins). */
function field(value: unknown, name: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  let found: unknown;
  for (const key of Object.keys(record)) if (key.toLowerCase() === name) found = record[key];
  return found;
}

function checkDigest(digest: string): void {
  if (!isSha256Digest(digest)) throw new LabError<SignerErrorCode>('COSIGN_BAD_PAYLOAD', `cosign: expected an image digest sha256:<64 hex>, got ${quote(digest)}`);
}
