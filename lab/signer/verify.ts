/**
 * Verifying an attached signature: the library the node gates and the
 * admission webhook share.
 *
 * Trust boundary: everything in the manifest — annotations, certificates,
 * chain, root hashes — is attacker-controlled until the signature checks
 * out against a certificate that chains to one of `trustedRoots`. Only
 * `trustedRoots`, `clock` and the `layerRootHashes` callback are trusted
 * input. Every decoder is strict, and values quoted in messages are escaped
 * and truncated.
 *
 * Nothing here throws on a bad manifest: each problem becomes a finding
 * with a typed code, and `ok` is true only when no finding is an error.
 * Misconfiguration (an unparsable trusted root) does throw.
 *
 * Chain rules (RFC 5280 §6.1, simplified to this lab's profile): the
 * signing certificate, then certificates from the `.chain` annotation, up to
 * one of the trusted roots; each signature checked with its issuer's key;
 * every certificate on the path, the root included, valid at clock();
 * CAs need basicConstraints CA:true, keyUsage keyCertSign and a pathLen that
 * admits the path; the leaf needs CA:false, keyUsage digitalSignature, EKU
 * codeSigning and an EC P-256 key.
 */
import { createPublicKey, verify as nodeVerify, webcrypto } from 'node:crypto';
import { equalBytes, equalText } from '../constant-time.ts';
import { LabError } from '../errors.ts';
import { decodeBase64Strict, parsePemCertificates, quote, sha256Digest } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { ANNOTATIONS, parseManifest, parseManifestBytes } from './manifest.ts';
import type { OciDescriptor, OciManifest } from './manifest.ts';
import { PAYLOAD_FORMATS, declaredFormat, signingPayload } from './payload.ts';
import type { PayloadFormat } from './payload.ts';
import type { Clock } from './pki.ts';
import * as x509 from './x509.ts';

export type VerificationCode =
  | 'MANIFEST_NOT_JSON'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_DIGEST_MISMATCH'
  | 'MISSING_SIGNATURE'
  | 'BAD_BASE64'
  | 'BAD_CERTIFICATE'
  | 'EMPTY_CHAIN'
  | 'CHAIN_UNTRUSTED'
  | 'CERT_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'BAD_KEY_USAGE'
  | 'SIGNATURE_INVALID'
  | 'UNSUPPORTED_FORMAT'
  | 'LAYER_ROOT_HASH_MISSING'
  | 'LAYER_ROOT_HASH_MALFORMED'
  | 'LAYER_ROOT_HASH_MISMATCH'
  | 'LAYER_ROOT_HASH_UNCHECKED'
  | 'ROOT_HASH_NOT_SIGNED'
  | 'COSIGN_PAYLOAD_INVALID';

export type Severity = 'error' | 'warning';

export interface VerificationFinding {
  code: VerificationCode;
  severity: Severity;
  message: string;
  /** Index of the layer the finding is about, if any. */
  layer?: number;
}

export interface SignerInfo {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
}

export interface VerificationResult {
  /** True when no finding has severity `error`. */
  ok: boolean;
  /** The name messages use for the manifest. */
  name: string;
  /** The payload format the manifest declares, when it declares a known one. */
  format?: PayloadFormat;
  /** sha256 of the exact manifest bytes (verifyManifestBytes only). */
  digest?: string;
  /** The signing certificate, when it parsed (trusted only if `ok`). */
  signer?: SignerInfo;
  findings: VerificationFinding[];
}

export interface VerifyOptions {
  /** PEM text of the trust anchors; each string may hold several certificates. */
  trustedRoots: readonly string[];
  /** Certificates are checked at clock(). */
  clock: Clock;
  /** How messages name the manifest, e.g. `registry:5000/app@sha256:…`. Default `manifest`. */
  name?: string;
  /** Formats accepted. Default both; a gate that needs signed root hashes passes ['v2']. */
  allowedFormats?: readonly PayloadFormat[];
  /** Every layer must carry a root-hash annotation (implied by layerRootHashes). */
  requireLayerRootHashes?: boolean;
  /**
   * The root hash the verifier itself computed or trusts for a layer (for
   * example from the EROFS image it built from the digest-checked blob), or
   * undefined when it has none for that layer. Compared with the annotation.
   */
  layerRootHashes?: (layer: OciDescriptor, index: number) => Promise<Buffer | undefined>;
}

export interface VerifyBytesOptions extends VerifyOptions {
  /** The digest the caller asked for (`sha256:<hex>`); compared with sha256 of the exact bytes. */
  expectedDigest?: string;
}

const MAX_CHAIN = 8;
const ROOT_HASH = /^[0-9a-f]{64}$/;
const subtle = webcrypto as unknown as Crypto;

/**
 * Verifies manifest bytes as fetched. The bytes are attacker-controlled:
 * the digest check binds them to what the caller asked for, then they are
 * parsed and verified by verifyManifest.
 */
export async function verifyManifestBytes(bytes: Uint8Array, options: VerifyBytesOptions): Promise<VerificationResult> {
  const name = options.name ?? 'manifest';
  const digest = sha256Digest(bytes);
  const findings: VerificationFinding[] = [];
  if (options.expectedDigest !== undefined && !equalText(options.expectedDigest, digest)) {
    findings.push(error('MANIFEST_DIGEST_MISMATCH', `${name}: expected digest ${quote(options.expectedDigest)}, the ${bytes.length} bytes hash to ${digest}`));
  }
  let manifest: OciManifest;
  try {
    manifest = parseManifestBytes(bytes, name);
  } catch (err) {
    if (err instanceof LabError && (err.code === 'MANIFEST_NOT_JSON' || err.code === 'MANIFEST_INVALID')) {
      findings.push(error(err.code, err.message));
      return result(name, findings, { digest });
    }
    throw err;
  }
  const inner = await verifyManifest(manifest, options);
  return result(name, [...findings, ...inner.findings], { digest, format: inner.format, signer: inner.signer });
}

/** Verifies a parsed manifest's attached signature, chain and (optionally) layer root hashes. */
export async function verifyManifest(manifest: OciManifest, options: VerifyOptions): Promise<VerificationResult> {
  const name = options.name ?? 'manifest';
  const roots = parseTrustedRoots(options.trustedRoots);
  const now = options.clock();
  const findings: VerificationFinding[] = [];
  const extra: Partial<VerificationResult> = {};

  try {
    manifest = parseManifest(manifest, name);
  } catch (err) {
    if (err instanceof LabError && err.code === 'MANIFEST_INVALID') return result(name, [error('MANIFEST_INVALID', err.message)]);
    throw err;
  }

  // Which payload the signature claims to cover.
  let format: PayloadFormat | undefined;
  try {
    format = declaredFormat(manifest);
  } catch (err) {
    if (!(err instanceof LabError)) throw err;
    findings.push(error('UNSUPPORTED_FORMAT', `${name}: ${err.message}`));
  }
  const allowed = options.allowedFormats ?? PAYLOAD_FORMATS;
  if (format !== undefined && !allowed.includes(format)) {
    findings.push(error('UNSUPPORTED_FORMAT', `${name}: signature format ${format} is not accepted here; expected one of ${allowed.join(', ')}`));
    format = undefined;
  }
  if (format !== undefined) extra.format = format;

  // The three signature annotations, strictly decoded.
  const annotations = manifest.annotations ?? {};
  const decode = (key: string): Buffer | undefined => {
    const value = annotations[key];
    if (value === undefined) return undefined;
    const bytes = decodeBase64Strict(value);
    if (bytes === undefined) findings.push(error('BAD_BASE64', `${name}: annotation ${key}: expected standard padded base64, got ${quote(value, 40)}`));
    return bytes;
  };
  const absent = [ANNOTATIONS.signature, ANNOTATIONS.cert].filter((key) => annotations[key] === undefined);
  if (absent.length > 0) {
    findings.push(error('MISSING_SIGNATURE', `${name}: expected annotations ${ANNOTATIONS.signature} and ${ANNOTATIONS.cert}; absent: ${absent.join(', ')}`));
  } else if (annotations[ANNOTATIONS.chain] === undefined) {
    findings.push(error('EMPTY_CHAIN', `${name}: expected annotation ${ANNOTATIONS.chain} with at least one intermediate certificate, it is absent`));
  }
  const signature = decode(ANNOTATIONS.signature);
  const certBytes = decode(ANNOTATIONS.cert);
  const chainBytes = decode(ANNOTATIONS.chain);

  // The signing certificate and its chain.
  let leaf: x509.X509Certificate | undefined;
  if (certBytes !== undefined) {
    const ders = parsePemCertificates(certBytes.toString('utf8'));
    if (ders === undefined || ders.length !== 1) {
      findings.push(error('BAD_CERTIFICATE', `${name}: annotation ${ANNOTATIONS.cert}: expected the PEM of exactly one certificate, got ${ders === undefined ? 'text that is not a PEM certificate bundle' : `${ders.length} certificates`}`));
    } else {
      leaf = parseCertificate(ders[0] as Buffer, `${name}: annotation ${ANNOTATIONS.cert}`, findings);
      if (leaf !== undefined) extra.signer = signerInfo(leaf);
    }
  }
  let intermediates: x509.X509Certificate[] | undefined;
  if (chainBytes !== undefined) {
    const ders = parsePemCertificates(chainBytes.toString('utf8'));
    if (ders === undefined) {
      findings.push(error('BAD_CERTIFICATE', `${name}: annotation ${ANNOTATIONS.chain}: expected a PEM certificate bundle, got other text`));
    } else if (ders.length === 0) {
      findings.push(error('EMPTY_CHAIN', `${name}: annotation ${ANNOTATIONS.chain}: expected at least one intermediate certificate, got none`));
    } else if (ders.length > MAX_CHAIN) {
      findings.push(error('BAD_CERTIFICATE', `${name}: annotation ${ANNOTATIONS.chain}: expected at most ${MAX_CHAIN} certificates, got ${ders.length}`));
    } else {
      const parsed = ders.map((der, i) => parseCertificate(der, `${name}: annotation ${ANNOTATIONS.chain} certificate ${i}`, findings));
      if (parsed.every((c) => c !== undefined)) intermediates = parsed as x509.X509Certificate[];
    }
  }
  if (leaf !== undefined && intermediates !== undefined) {
    findings.push(...(await checkChain(leaf, intermediates, roots, now, name)));
  }

  // The signature over the declared format's message, with the leaf's key.
  if (leaf !== undefined && signature !== undefined && format !== undefined) {
    const keyProblem = leafKeyProblem(leaf);
    if (keyProblem !== undefined) {
      findings.push(error('BAD_KEY_USAGE', `${name}: signing certificate ${quote(leaf.subject)}: ${keyProblem}`));
    } else {
      const { message, payloadSha256 } = signingPayload(manifest, format);
      if (!verifySignature(leaf, message, signature)) {
        findings.push(error('SIGNATURE_INVALID', `${name}: the ${format} signature (${signature.length} bytes) does not verify with the key of ${quote(leaf.subject)} over payload sha256 ${payloadSha256}: the manifest changed after signing, or another key signed it`));
      }
    }
  }

  findings.push(...(await checkLayerRootHashes(manifest, format, options, name)));
  return result(name, findings, extra);
}

/** Parses trusted root PEMs; a bad one is a configuration error and throws PKI_BAD_PEM. */
function parseTrustedRoots(pems: readonly string[]): x509.X509Certificate[] {
  const roots: x509.X509Certificate[] = [];
  pems.forEach((pem, i) => {
    const ders = parsePemCertificates(pem);
    if (ders === undefined || ders.length === 0) {
      throw new LabError<SignerErrorCode>('PKI_BAD_PEM', `verify: trustedRoots[${i}]: expected PEM certificates, got ${ders === undefined ? 'other text' : 'none'}`);
    }
    for (const der of ders) roots.push(certificateOf(der));
  });
  if (roots.length === 0) throw new LabError<SignerErrorCode>('PKI_BAD_PEM', 'verify: trustedRoots: expected at least one root certificate, got none');
  return roots;
}

/**
 * Parsed certificates by their DER, the most recent PARSED_LIMIT. Parsing
 * (asn1js, with the extensions read lazily) costs a few milliseconds a
 * certificate, and the node gates verify the same signature and trusted
 * roots at the pull, the pod sandbox and the container. A parse is a pure
 * function of the bytes and the objects are only read, so they are kept;
 * everything that depends on trust or time (each signature on the path,
 * validity at clock(), the usages) is still checked at every verification.
 */
const PARSED_LIMIT = 64;
const parsedCertificates = new Map<string, x509.X509Certificate>();

function certificateOf(der: Uint8Array): x509.X509Certificate {
  const key = Buffer.from(der).toString('base64');
  const kept = parsedCertificates.get(key);
  if (kept !== undefined) {
    parsedCertificates.delete(key);
    parsedCertificates.set(key, kept);
    return kept;
  }
  const cert = new x509.X509Certificate(new Uint8Array(der));
  parsedCertificates.set(key, cert);
  if (parsedCertificates.size > PARSED_LIMIT) parsedCertificates.delete(parsedCertificates.keys().next().value!);
  return cert;
}

function parseCertificate(der: Buffer, where: string, findings: VerificationFinding[]): x509.X509Certificate | undefined {
  try {
    return certificateOf(der);
  } catch {
    findings.push(error('BAD_CERTIFICATE', `${where}: expected an X.509 certificate, ${der.length} bytes of DER do not parse`));
    return undefined;
  }
}

/**
 * Pays the verifier's first-use costs ahead of the first verification: the
 * X.509 and ASN.1 code, WebCrypto's key import and verify, and the parse of
 * the trusted roots (kept, like every parsed certificate). A resident
 * verifier (the node's gate daemon) calls it when it starts; it decides
 * nothing, and a root that does not parse or verify is left for the real
 * verification to report.
 */
export async function warmUpVerifier(trustedRoots: readonly string[]): Promise<void> {
  for (const pem of trustedRoots) {
    for (const der of parsePemCertificates(pem) ?? []) {
      try {
        const root = certificateOf(der);
        await issuedBy(root, root);
      } catch {
        // reported by the verification that needs it
      }
    }
  }
}

async function issuedBy(child: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  if (child.issuerName.toString() !== issuer.subjectName.toString()) return false;
  try {
    return await child.verify({ publicKey: issuer.publicKey, signatureOnly: true }, subtle);
  } catch {
    return false;
  }
}

async function checkChain(
  leaf: x509.X509Certificate,
  intermediates: x509.X509Certificate[],
  roots: x509.X509Certificate[],
  now: Date,
  name: string,
): Promise<VerificationFinding[]> {
  // Build the path upwards: prefer a trusted root at each step, else an unused chain certificate.
  const path: x509.X509Certificate[] = [leaf];
  let anchor: x509.X509Certificate | undefined;
  for (let current = leaf; path.length <= MAX_CHAIN + 1; ) {
    anchor = await findAsync(roots, (r) => issuedBy(current, r));
    if (anchor !== undefined) break;
    const next = await findAsync(intermediates, async (c) => !path.includes(c) && (await issuedBy(current, c)));
    if (next === undefined) {
      return [error('CHAIN_UNTRUSTED', `${name}: certificate ${quote(current.subject)} was issued by ${quote(current.issuer)}, which is neither a trusted root (${roots.map((r) => quote(r.subject)).join(', ')}) nor a certificate in ${ANNOTATIONS.chain} whose signature verifies`)];
    }
    path.push(next);
    current = next;
  }
  if (anchor === undefined) return [error('CHAIN_UNTRUSTED', `${name}: no trusted root within ${MAX_CHAIN} certificates of the signing certificate`)];

  const findings: VerificationFinding[] = [];
  if (path.length < 2) {
    findings.push(error('EMPTY_CHAIN', `${name}: signing certificate ${quote(leaf.subject)} is issued directly by the root; the lab profile expects at least one intermediate`));
  }
  const all = [...path, anchor];
  all.forEach((cert, i) => {
    const role = i === 0 ? 'signing certificate' : i === all.length - 1 ? 'trusted root' : 'intermediate certificate';
    const label = `${name}: ${role} ${quote(cert.subject)} (serial ${cert.serialNumber})`;
    if (now < cert.notBefore) {
      findings.push(error('CERT_NOT_YET_VALID', `${label} is valid from ${cert.notBefore.toISOString()}, and verification time is ${now.toISOString()}`));
    }
    if (now > cert.notAfter) {
      findings.push(error('CERT_EXPIRED', `${label} expired at ${cert.notAfter.toISOString()}, and verification time is ${now.toISOString()}`));
    }
    const problem = i === 0 ? leafUsageProblem(cert) : caUsageProblem(cert, i - 1);
    if (problem !== undefined) findings.push(error('BAD_KEY_USAGE', `${label}: ${problem}`));
  });
  return findings;
}

/** `below` = number of intermediates between this CA and the leaf, checked against pathLen. */
function caUsageProblem(cert: x509.X509Certificate, below: number): string | undefined {
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc === null || !bc.ca) return 'expected basicConstraints CA:true on an issuing certificate, it is not a CA';
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) return 'expected keyUsage keyCertSign on an issuing certificate, it is missing';
  if (bc.pathLength !== undefined && below > bc.pathLength) return `pathLen ${bc.pathLength} allows ${bc.pathLength} intermediate(s) below it, the path has ${below}`;
  return undefined;
}

function leafUsageProblem(cert: x509.X509Certificate): string | undefined {
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc !== null && bc.ca) return 'expected CA:false on a signing certificate, it is a CA';
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku === null || (ku.usages & x509.KeyUsageFlags.digitalSignature) === 0) return 'expected keyUsage digitalSignature, it is missing';
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const usages = eku?.usages.map(String) ?? [];
  if (!usages.includes(x509.ExtendedKeyUsage.codeSigning)) {
    return `expected extendedKeyUsage codeSigning (${x509.ExtendedKeyUsage.codeSigning}), got ${usages.length === 0 ? 'none' : usages.join(', ')}`;
  }
  return undefined;
}

function leafKeyProblem(cert: x509.X509Certificate): string | undefined {
  try {
    const key = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      return `expected an EC P-256 public key, got ${key.asymmetricKeyType ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim();
    }
    return undefined;
  } catch {
    return 'its public key does not parse';
  }
}

function verifySignature(leaf: x509.X509Certificate, message: Buffer, signature: Buffer): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(leaf.publicKey.rawData), format: 'der', type: 'spki' });
    return nodeVerify('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

async function checkLayerRootHashes(
  manifest: OciManifest,
  format: PayloadFormat | undefined,
  options: VerifyOptions,
  name: string,
): Promise<VerificationFinding[]> {
  const findings: VerificationFinding[] = [];
  const required = options.requireLayerRootHashes === true || options.layerRootHashes !== undefined;
  let annotated = 0;
  for (const [i, layer] of manifest.layers.entries()) {
    const where = `${name}: layer ${i} (${layer.digest})`;
    const value = layer.annotations?.[ANNOTATIONS.rootHash];
    if (value === undefined) {
      if (required) findings.push(error('LAYER_ROOT_HASH_MISSING', `${where}: expected annotation ${ANNOTATIONS.rootHash}, it is absent`, i));
      continue;
    }
    annotated++;
    if (!ROOT_HASH.test(value)) {
      findings.push(error('LAYER_ROOT_HASH_MALFORMED', `${where}: annotation ${ANNOTATIONS.rootHash}: expected 64 lowercase hex digits, got ${quote(value)}`, i));
      continue;
    }
    if (options.layerRootHashes === undefined) continue;
    const actual = await options.layerRootHashes(layer, i);
    if (actual === undefined) {
      findings.push(warning('LAYER_ROOT_HASH_UNCHECKED', `${where}: no computed root hash to compare with the annotated ${value}`, i));
    } else if (actual.length !== 32 || !equalBytes(actual, Buffer.from(value, 'hex'))) {
      findings.push(error('LAYER_ROOT_HASH_MISMATCH', `${where}: annotation says root hash ${value}, the layer's EROFS image has ${actual.toString('hex')}`, i));
    }
  }
  if (format === 'delivery-kit' && annotated > 0) {
    findings.push(warning('ROOT_HASH_NOT_SIGNED', `${name}: the delivery-kit payload does not cover layer annotations, so the root hashes of ${annotated} layer(s) are not authenticated by the signature; only a root hash recomputed from the digest-checked layer can be trusted`));
  }
  return findings;
}

async function findAsync<T>(items: readonly T[], predicate: (item: T) => Promise<boolean>): Promise<T | undefined> {
  for (const item of items) if (await predicate(item)) return item;
  return undefined;
}


function signerInfo(cert: x509.X509Certificate): SignerInfo {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}

function error(code: VerificationCode, message: string, layer?: number): VerificationFinding {
  return layer === undefined ? { code, severity: 'error', message } : { code, severity: 'error', message, layer };
}

function warning(code: VerificationCode, message: string, layer?: number): VerificationFinding {
  return layer === undefined ? { code, severity: 'warning', message } : { code, severity: 'warning', message, layer };
}

function result(name: string, findings: VerificationFinding[], extra: Partial<VerificationResult> = {}): VerificationResult {
  const out: VerificationResult = { ok: !findings.some((f) => f.severity === 'error'), name, findings };
  if (extra.format !== undefined) out.format = extra.format;
  if (extra.digest !== undefined) out.digest = extra.digest;
  if (extra.signer !== undefined) out.signer = extra.signer;
  return out;
}
