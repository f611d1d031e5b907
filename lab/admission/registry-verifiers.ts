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
 * Caching: decisions are cached by manifest digest, never by tag. A tag is
 * resolved on every review (one manifest GET to the registry the pod names,
 * which is also what the runtime will pull), so re-pointing a signed tag at
 * unsigned content takes effect at once, and signing an image (which gives
 * its tag a new digest) is honoured at once. A digest-pinned reference is
 * answered from the cache without any request. Outages (registry
 * unreachable, timeouts) are refusals that are not cached.
 *
 * lab/signer (and with it @peculiar/x509 and its Reflect shim) is loaded on
 * the first verification, not when this module is imported: importing
 * lab/admission stays free of x509, as before the verifiers were wired.
 */
import { createHash } from 'node:crypto';
import { describeError, isLabError } from '../errors.ts';
import { DecisionCache, type DecisionCacheOptions } from './cache.ts';
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
  /** The decision cache (keyed by digest); default a DecisionCache with its defaults. */
  cache?: DecisionCache | DecisionCacheOptions;
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
  readonly cache: DecisionCache;
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
    this.cache = cacheOf(options.cache);
  }

  async verify(image: string): Promise<VerifyResult> {
    const where = locate(image, this.#options.registries);
    if ('refused' in where) return { ok: false, reason: where.refused };
    const { RegistryClient } = await signer();
    const client = new RegistryClient(where.baseUrl, clientOptions(this.#options));
    const what = `manifest ${where.repository}:${where.reference}`;
    try {
      const pinned = where.ref.digest;
      if (pinned !== undefined) {
        return await this.cache.get(`attached\u0000${where.baseUrl}/${where.repository}@${pinned}`, async () => {
          let fetched;
          try {
            fetched = await client.getManifest(where.repository, pinned);
          } catch (err) {
            const refusal = refusalFor(err, what);
            if (refusal !== undefined) return refusal;
            throw err; // an outage: refused by the cache, not remembered
          }
          return this.#check(image, fetched, pinned);
        });
      }
      // A tag: resolve it now (it may have moved), then decide for that digest.
      const fetched = await client.getManifest(where.repository, where.reference);
      return await this.cache.get(`attached\u0000${where.baseUrl}/${where.repository}@${fetched.digest}`, () => this.#check(image, fetched, undefined));
    } catch (err) {
      return refusalFor(err, what) ?? { ok: false, reason: `could not read ${what}: ${describeError(err)}` };
    }
  }

  async #check(image: string, fetched: { bytes: Buffer; mediaType: string }, expectedDigest: string | undefined): Promise<VerifyResult> {
    if (MEDIA_INDEX.has(fetched.mediaType.split(';')[0]?.trim() ?? '')) {
      return { ok: false, reason: `${image} is an image index (${fetched.mediaType}); attached signatures are on image manifests, so reference one by digest` };
    }
    const { verifyManifestBytes } = await signer();
    const result = await verifyManifestBytes(fetched.bytes, {
      trustedRoots: this.#options.trustedRoots,
      clock: this.#options.clock ?? (() => new Date()),
      allowedFormats: this.#formats,
      requireLayerRootHashes: true,
      name: image,
      ...(expectedDigest === undefined ? {} : { expectedDigest }),
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
 * resolved to a digest, then lab/signer's verifyCosignImage reads the
 * `sha256-<digest>.sig` tag and accepts when one stored signature verifies
 * with the key and names that digest, as `cosign verify --key` does.
 * Cached by (digest, key); a signature added after a refusal counts once the
 * negative entry expires (negativeTtlMs).
 */
export class RegistryCosignVerifier implements CosignVerifier {
  readonly cache: DecisionCache;
  readonly #options: RegistryVerifierOptions;

  constructor(options: RegistryVerifierOptions) {
    checkRegistries(options.registries);
    this.#options = options;
    this.cache = cacheOf(options.cache);
  }

  async verify(image: string, publicKeyPem: string): Promise<VerifyResult> {
    const where = locate(image, this.#options.registries);
    if ('refused' in where) return { ok: false, reason: where.refused };
    const { RegistryClient } = await signer();
    const client = new RegistryClient(where.baseUrl, clientOptions(this.#options));
    const what = `${where.repository}:${where.reference}`;
    try {
      const digest = where.ref.digest ?? (await client.getManifest(where.repository, where.reference)).digest;
      const key = createHash('sha256').update(publicKeyPem.replace(/\s+/g, '')).digest('hex');
      return await this.cache.get(`cosign\u0000${where.baseUrl}/${where.repository}@${digest}\u0000${key}`, () => this.#check(client, where.repository, digest, publicKeyPem));
    } catch (err) {
      return refusalFor(err, what) ?? { ok: false, reason: `could not read ${what}: ${describeError(err)}` };
    }
  }

  async #check(client: InstanceType<Signer['RegistryClient']>, repository: string, digest: string, publicKeyPem: string): Promise<VerifyResult> {
    const { verifyCosignImage } = await signer();
    let result;
    try {
      result = await verifyCosignImage(client, repository, digest, publicKeyPem);
    } catch (err) {
      if (isLabError(err, 'COSIGN_BAD_KEY')) return { ok: false, reason: `the policy's public key is unusable: ${err.message}` };
      const refusal = refusalFor(err, `${repository}@${digest}`);
      if (refusal !== undefined) return refusal;
      throw err; // an outage: refused by the cache, not remembered
    }
    if (result.ok) return { ok: true };
    const first = result.findings.find((f) => f.severity === 'error');
    return { ok: false, reason: `${first?.code ?? 'verification failed'}: ${first?.message ?? 'no signature verifies with the key'}` };
  }
}

function cacheOf(cache: DecisionCache | DecisionCacheOptions | undefined): DecisionCache {
  return cache instanceof DecisionCache ? cache : new DecisionCache(cache);
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
