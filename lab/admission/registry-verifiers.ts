/**
 * The real signature verifiers behind the webhook: lab/signer's attached
 * (delivery-kit / v2) signature verification and its cosign verification,
 * reading manifests and `.sig` tags from the registries an image reference
 * names.
 *
 * Trust boundary: the image string comes from the pod (attacker-controlled),
 * the registry is not trusted (lab/signer checks digests of everything it
 * fetches), and nothing in a manifest is believed until verifyManifestBytes
 * says ok against `trustedRoots`. Only `registries`, `trustedRoots`, the
 * clock and the allowed formats are trusted configuration.
 *
 * Network: a verifier only ever talks to the registries in `registries`
 * (keyed by the host as written in image references). An image from any
 * other registry is refused without a request, so a pod cannot make the
 * webhook reach out to a host of the attacker's choosing.
 *
 * lab/signer (and with it @peculiar/x509 and its Reflect shim) is loaded on
 * the first verification, not when this module is imported: importing
 * lab/admission stays free of x509, as before the verifiers were wired.
 */
import { isLabError } from '../errors.ts';
import { admissionError } from './errors.ts';
import { parseImageReference, type ImageReference } from './image.ts';
import type { CosignVerifier, ImageSignatureVerifier, VerifyResult } from './types.ts';

type Signer = typeof import('../signer/index.ts');
let signerModule: Promise<Signer> | undefined;
const signer = (): Promise<Signer> => (signerModule ??= import('../signer/index.ts'));

/** Signature payload formats (lab/signer `PayloadFormat`). */
export type AttachedFormat = 'v2' | 'delivery-kit';

export interface RegistryVerifierOptions {
  /**
   * Registries the verifier may contact, keyed by the host as image
   * references write it, e.g. `{ '127.0.0.1:5000': 'http://127.0.0.1:5000' }`.
   * Every other host is refused without a request.
   */
  registries: Readonly<Record<string, string>>;
  /** Per registry request. Default 5000 ms (the webhook must answer within its timeoutSeconds). */
  requestTimeoutMs?: number;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof fetch;
}

export interface AttachedVerifierOptions extends RegistryVerifierOptions {
  /** PEM trust anchors (the lab root CA); each string may hold several certificates. */
  trustedRoots: readonly string[];
  /** Certificates are checked at clock(). Default: the system clock. */
  clock?: () => Date;
  /**
   * Accepted payload formats. Default `['v2']`: only v2 signs the per-layer
   * root hashes (docs/signing.md), as the node gates require.
   */
  allowedFormats?: readonly AttachedFormat[];
}

interface Located {
  ref: ImageReference;
  baseUrl: string;
  repository: string;
  /** The digest when the reference pins one (it wins over a tag, as containerd pulls it), else the tag. */
  reference: string;
}

/** Where an image lives, or why the verifier will not look. */
function locate(image: string, registries: Readonly<Record<string, string>>): Located | { refused: string } {
  const ref = parseImageReference(image);
  if (ref === undefined) return { refused: 'not a valid image reference' };
  const baseUrl = Object.hasOwn(registries, ref.domain) ? registries[ref.domain] : undefined;
  if (baseUrl === undefined) {
    const known = Object.keys(registries);
    return { refused: `registry ${ref.domain} is not one this webhook may contact (allowed: ${known.length > 0 ? known.join(', ') : 'none'})` };
  }
  return { ref, baseUrl, repository: ref.path, reference: ref.digest ?? ref.tag ?? 'latest' };
}

function checkRegistries(registries: Readonly<Record<string, string>>): void {
  for (const [host, url] of Object.entries(registries)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw admissionError('ADMISSION_VERIFIER_CONFIG_INVALID', `registries[${JSON.stringify(host)}]: expected an http(s) URL, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw admissionError('ADMISSION_VERIFIER_CONFIG_INVALID', `registries[${JSON.stringify(host)}]: expected an http(s) URL, got ${JSON.stringify(url)}`);
    }
  }
}

const MEDIA_INDEX = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/** A registry answer that is a verdict about the image (cacheable), not an outage. */
function refusalFor(err: unknown, what: string): VerifyResult | undefined {
  if (isLabError(err, 'REGISTRY_NOT_FOUND')) return { ok: false, reason: `${what} not found in the registry` };
  if (isLabError(err, 'REGISTRY_DIGEST_MISMATCH')) return { ok: false, reason: `the registry sent bytes that do not match the digest: ${err.message}` };
  if (isLabError(err, 'REGISTRY_BAD_REFERENCE')) return { ok: false, reason: err.message };
  return undefined;
}

/**
 * Attached signatures, as the node gates check them: the manifest the
 * reference names, fetched from its registry, must carry a signature that
 * chains to `trustedRoots`, in an allowed format, with a root hash on every
 * layer. The root hashes themselves are checked against the layer files by
 * the node gates; admission only decides whether the pod may exist.
 */
export class RegistryImageVerifier implements ImageSignatureVerifier {
  readonly #options: AttachedVerifierOptions;
  readonly #formats: readonly AttachedFormat[];

  constructor(options: AttachedVerifierOptions) {
    checkRegistries(options.registries);
    if (options.trustedRoots.length === 0 || !options.trustedRoots.every((r) => r.includes('-----BEGIN CERTIFICATE-----'))) {
      throw admissionError('ADMISSION_VERIFIER_CONFIG_INVALID', `trustedRoots: expected at least one PEM certificate, got ${options.trustedRoots.length} entr${options.trustedRoots.length === 1 ? 'y' : 'ies'} without one`);
    }
    this.#options = options;
    this.#formats = options.allowedFormats ?? ['v2'];
    if (this.#formats.length === 0) throw admissionError('ADMISSION_VERIFIER_CONFIG_INVALID', 'allowedFormats: expected at least one format, got none');
  }

  async verify(image: string): Promise<VerifyResult> {
    const where = locate(image, this.#options.registries);
    if ('refused' in where) return { ok: false, reason: where.refused };
    const { RegistryClient, verifyManifestBytes } = await signer();
    const client = new RegistryClient(where.baseUrl, clientOptions(this.#options));
    let fetched;
    try {
      fetched = await client.getManifest(where.repository, where.reference);
    } catch (err) {
      const refusal = refusalFor(err, `manifest ${where.repository}:${where.reference}`);
      if (refusal !== undefined) return refusal;
      throw err; // an outage: the cache refuses now and does not remember it
    }
    if (MEDIA_INDEX.has(fetched.mediaType.split(';')[0]?.trim() ?? '')) {
      return { ok: false, reason: `${where.repository}:${where.reference} is an image index (${fetched.mediaType}); attached signatures are on image manifests, so reference one by digest` };
    }
    const result = await verifyManifestBytes(fetched.bytes, {
      trustedRoots: this.#options.trustedRoots,
      clock: this.#options.clock ?? (() => new Date()),
      allowedFormats: this.#formats,
      requireLayerRootHashes: true,
      name: image,
      ...(where.ref.digest === undefined ? {} : { expectedDigest: where.ref.digest }),
    });
    if (result.ok) return { ok: true };
    // An unsigned manifest also "declares" the default format; say the plain truth first.
    const errors = result.findings
      .filter((f) => f.severity === 'error')
      .sort((a, b) => Number(b.code === 'MISSING_SIGNATURE') - Number(a.code === 'MISSING_SIGNATURE'));
    const codes = [...new Set(errors.map((f) => f.code))].join(', ') || 'verification failed';
    return { ok: false, reason: `${codes}: ${errors[0]?.message ?? 'no detail'}` };
  }
}

/**
 * Cosign signatures (SecurityPolicy verifyImageSignatures): the reference is
 * resolved to a digest (a tag is resolved now; the decision cache bounds how
 * long that holds), then lab/signer's verifyCosignImage reads the
 * `sha256-<digest>.sig` tag and accepts when one stored signature verifies
 * with the key and names that digest, as `cosign verify --key` does.
 */
export class RegistryCosignVerifier implements CosignVerifier {
  readonly #options: RegistryVerifierOptions;

  constructor(options: RegistryVerifierOptions) {
    checkRegistries(options.registries);
    this.#options = options;
  }

  async verify(image: string, publicKeyPem: string): Promise<VerifyResult> {
    const where = locate(image, this.#options.registries);
    if ('refused' in where) return { ok: false, reason: where.refused };
    const { RegistryClient, verifyCosignImage } = await signer();
    const client = new RegistryClient(where.baseUrl, clientOptions(this.#options));
    let digest = where.ref.digest;
    try {
      digest ??= (await client.getManifest(where.repository, where.reference)).digest;
      const result = await verifyCosignImage(client, where.repository, digest, publicKeyPem);
      if (result.ok) return { ok: true };
      const first = result.findings.find((f) => f.severity === 'error');
      return { ok: false, reason: `${first?.code ?? 'verification failed'}: ${first?.message ?? 'no signature verifies with the key'}` };
    } catch (err) {
      if (isLabError(err, 'COSIGN_BAD_KEY')) return { ok: false, reason: `the policy's public key is unusable: ${err.message}` };
      const refusal = refusalFor(err, `${where.repository}:${where.reference}`);
      if (refusal !== undefined) return refusal;
      throw err;
    }
  }
}

function clientOptions(options: RegistryVerifierOptions): { timeoutMs: number; fetch?: typeof fetch } {
  return { timeoutMs: options.requestTimeoutMs ?? 5_000, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) };
}

/** Parses `HOST=URL` pairs (the CLI's `--registry`), e.g. `127.0.0.1:5000=http://127.0.0.1:5000`. */
export function parseRegistryMap(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw admissionError('ADMISSION_VERIFIER_CONFIG_INVALID', `--registry: expected HOST=URL (e.g. 127.0.0.1:5000=http://127.0.0.1:5000), got ${JSON.stringify(pair)}`);
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  checkRegistries(out);
  return out;
}
