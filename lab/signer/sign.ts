/**
 * Attaching a signature to a manifest, the delivery-kit way: three manifest
 * annotations (RFC 4648 §4 base64, padded):
 *   io.deckhouse.delivery-kit.signature  base64(DER ECDSA-P256-SHA256 signature over the message)
 *   io.deckhouse.delivery-kit.cert       base64(PEM of the signing certificate)
 *   io.deckhouse.delivery-kit.chain      base64(PEM of the intermediate certificate(s))
 * plus, for v2 only, `io.integrity-lab.signature-format: v2`, itself covered
 * by the v2 payload. The message for each format is defined in payload.ts.
 */
import { LabError } from '../errors.ts';
import { encodeBase64 } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { ANNOTATIONS, SIGNATURE_ANNOTATION_KEYS, cloneManifest } from './manifest.ts';
import type { OciManifest } from './manifest.ts';
import { bindingAnnotations, type ImageBinding } from './binding.ts';
import { signingPayload } from './payload.ts';
import type { PayloadFormat, SigningPayload } from './payload.ts';
import type { Clock, LabPki } from './pki.ts';
import * as x509 from './x509.ts';

/** The one thing a signer does: ECDSA P-256 over SHA-256(message), DER encoded. */
export interface Signer {
  sign(message: Uint8Array): Promise<Buffer>;
}

/** A signer with the certificates that vouch for its key. */
export interface SigningIdentity {
  signer: Signer;
  /** PEM of the signing certificate. */
  certificatePem: string;
  /** PEM of the intermediate certificate(s), the leaf's issuer first. */
  chainPem: string;
}

/** The lab PKI's image-signing identity. */
export function pkiSigningIdentity(pki: LabPki): SigningIdentity {
  return { signer: pki.signing.key, certificatePem: pki.signing.certificatePem, chainPem: pki.chainPem };
}

export interface SignOptions {
  identity: SigningIdentity;
  /** Default `delivery-kit`. */
  format?: PayloadFormat;
  /** Signing refuses a certificate that is not valid at clock() (SIGNER_CERT_NOT_VALID). */
  clock: Clock;
  /** v2 only: the repository and release version the signature binds (binding.ts). */
  binding?: ImageBinding;
}

export interface SignResult {
  /** A new manifest with the signature annotations; the input is not modified. */
  manifest: OciManifest;
  /** What was signed. */
  payload: SigningPayload;
  /** The raw DER signature. */
  signature: Buffer;
}

/**
 * Signs `manifest`, replacing any earlier signature annotations. For v2 the
 * format marker is added before the payload is computed, so the marker is
 * signed and a verifier cannot be talked into another format.
 */
export async function signManifest(manifest: OciManifest, options: SignOptions): Promise<SignResult> {
  const format = options.format ?? 'delivery-kit';
  checkCertificateValidity(options.identity.certificatePem, options.clock());

  const out = cloneManifest(manifest);
  const annotations: Record<string, string> = { ...(out.annotations ?? {}) };
  for (const key of SIGNATURE_ANNOTATION_KEYS) delete annotations[key];
  // A binding left from an earlier signature would be signed again as if it were meant.
  delete annotations[ANNOTATIONS.repository];
  delete annotations[ANNOTATIONS.version];
  if (format === 'v2') annotations[ANNOTATIONS.signatureFormat] = 'v2';
  else delete annotations[ANNOTATIONS.signatureFormat];
  if (options.binding !== undefined) {
    if (format !== 'v2') {
      throw new LabError<SignerErrorCode>('UNSUPPORTED_FORMAT', `signManifest: an image binding (repository, version) is signed by the v2 format only, not ${format}`);
    }
    Object.assign(annotations, bindingAnnotations(options.binding));
  }
  out.annotations = annotations;

  const payload = signingPayload(out, format);
  const signature = await options.identity.signer.sign(payload.message);
  out.annotations = {
    ...annotations,
    [ANNOTATIONS.signature]: encodeBase64(signature),
    [ANNOTATIONS.cert]: encodeBase64(options.identity.certificatePem),
    [ANNOTATIONS.chain]: encodeBase64(options.identity.chainPem),
  };
  return { manifest: out, payload, signature };
}

function checkCertificateValidity(pem: string, now: Date): void {
  const cert = new x509.X509Certificate(pem);
  if (now < cert.notBefore || now > cert.notAfter) {
    throw new LabError<SignerErrorCode>(
      'SIGNER_CERT_NOT_VALID',
      `signManifest: signing certificate ${JSON.stringify(cert.subject)} is valid from ${cert.notBefore.toISOString()} ` +
        `to ${cert.notAfter.toISOString()}, and the clock says ${now.toISOString()}`,
    );
  }
}
