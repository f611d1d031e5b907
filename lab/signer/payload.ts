/**
 * What exactly gets signed. Two formats:
 *
 * `delivery-kit` — the published scheme, byte for byte as
 * deckhouse/delivery-kit-sdk `pkg/signature/image/manifest.go`
 * (`getManifestPayloadHash`) computes it: the concatenation, with no
 * separators, of
 *   schemaVersion, mediaType,
 *   config.digest, config.mediaType, config.size,
 *   for each layer: digest, mediaType, size,
 *   for each manifest annotation sorted by key (byte order), minus the three
 *   signature keys: key, value;
 * numbers as decimal strings. The signed *message* is the lowercase hex
 * SHA-256 of that concatenation (64 ASCII bytes), which the SDK hands to
 * sigstore's SignMessage.
 *
 * Not covered: per-layer annotations (so the dm-verity root hashes and build
 * timestamps), `subject`, `artifactType`, layer `urls`. And because nothing
 * separates the fields, characters move freely between adjacent fields:
 * annotation {"a.b": "cd"} and {"a.bc": "d"} give the same bytes.
 *
 * `v2` — this lab's unambiguous format: a domain-separation line naming the
 * format and version, then the RFC 8785 canonical JSON of the whole manifest
 * minus the three signature annotations. JSON delimits every string, so no
 * boundary can move, and everything in the manifest is covered, per-layer
 * annotations (root hashes) included. The signed message is the payload.
 */
import { createHash } from 'node:crypto';
import { LabError } from '../errors.ts';
import { canonicalJson, quote } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { ANNOTATIONS, SIGNATURE_ANNOTATION_KEYS } from './manifest.ts';
import type { OciManifest } from './manifest.ts';

export type PayloadFormat = 'delivery-kit' | 'v2';

export const PAYLOAD_FORMATS: readonly PayloadFormat[] = ['delivery-kit', 'v2'];

/** The first line of every v2 payload; it cannot start a delivery-kit message (64 hex digits). */
export const V2_DOMAIN_SEPARATOR = 'integrity-lab.io/manifest-signature/v2\n';

export interface SigningPayload {
  format: PayloadFormat;
  /** The bytes the format defines (delivery-kit: the concatenation; v2: separator + canonical JSON). */
  payload: Buffer;
  /** Lowercase hex SHA-256 of `payload`. */
  payloadSha256: string;
  /** The bytes handed to ECDSA-P256-SHA256 (delivery-kit: `payloadSha256` as ASCII; v2: `payload`). */
  message: Buffer;
}

/** Builds the payload and the message to sign for `manifest` in `format`. */
export function signingPayload(manifest: OciManifest, format: PayloadFormat): SigningPayload {
  const payload = format === 'delivery-kit' ? deliveryKitPayload(manifest) : v2Payload(manifest);
  const payloadSha256 = createHash('sha256').update(payload).digest('hex');
  const message = format === 'delivery-kit' ? Buffer.from(payloadSha256, 'ascii') : payload;
  return { format, payload, payloadSha256, message };
}

/** The delivery-kit concatenation (see the file comment). */
export function deliveryKitPayload(manifest: OciManifest): Buffer {
  const parts: string[] = [String(manifest.schemaVersion), manifest.mediaType ?? ''];
  parts.push(manifest.config.digest, manifest.config.mediaType, String(manifest.config.size));
  for (const layer of manifest.layers) parts.push(layer.digest, layer.mediaType, String(layer.size));
  const annotations = manifest.annotations ?? {};
  // Go's slices.Sort on strings compares bytes; compare UTF-8, not UTF-16.
  const keys = Object.keys(annotations)
    .filter((k) => !SIGNATURE_ANNOTATION_KEYS.includes(k))
    .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  for (const key of keys) parts.push(key, annotations[key] ?? '');
  return Buffer.from(parts.join(''), 'utf8');
}

/** The v2 payload: separator line, then RFC 8785 JSON of the manifest minus the signature annotations. */
export function v2Payload(manifest: OciManifest): Buffer {
  return Buffer.from(V2_DOMAIN_SEPARATOR + canonicalJson(withoutSignatureAnnotations(manifest)), 'utf8');
}

/**
 * The format a signed manifest declares. Absent marker → delivery-kit, so
 * manifests signed by the published tooling verify unchanged.
 * Throws UNSUPPORTED_FORMAT for any other value.
 */
export function declaredFormat(manifest: OciManifest): PayloadFormat {
  const marker = manifest.annotations?.[ANNOTATIONS.signatureFormat];
  if (marker === undefined) return 'delivery-kit';
  if (marker === 'v2' || marker === 'delivery-kit') return marker;
  throw new LabError<SignerErrorCode>(
    'UNSUPPORTED_FORMAT',
    `annotation ${ANNOTATIONS.signatureFormat}: expected "v2" or "delivery-kit", got ${quote(marker)}`,
  );
}

function withoutSignatureAnnotations(manifest: OciManifest): OciManifest {
  if (manifest.annotations === undefined) return manifest;
  const annotations = Object.fromEntries(
    Object.entries(manifest.annotations).filter(([k]) => !SIGNATURE_ANNOTATION_KEYS.includes(k)),
  );
  return { ...manifest, annotations };
}
