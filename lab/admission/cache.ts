/**
 * A decision cache in front of the signature verifiers.
 *
 * Signature checks fetch manifests and verify signatures; admission must
 * answer within the webhook timeout (Gatekeeper's default is 3 s), and one
 * pod often repeats images already seen. So decisions are cached:
 *
 * - keyed by the image reference as written plus, for Cosign, a SHA-256 of
 *   the public key. A digest-pinned reference names immutable content; a tag
 *   may be re-pointed, so its decision lives only as long as the TTL;
 * - a positive decision lives `ttlMs`, a negative one `negativeTtlMs` (a
 *   freshly signed image should not stay refused for long);
 * - bounded to `maxEntries`, least recently used evicted first;
 * - concurrent lookups of one key share one verification (single flight);
 * - a verifier that throws or exceeds `timeoutMs` yields a refusal that is
 *   NOT cached: fail closed now, try again next time.
 *
 * The clock is injected so TTL behaviour is tested without waiting.
 */
import { createHash } from 'node:crypto';
import type { CosignVerifier, ImageSignatureVerifier, VerifyResult } from './types.ts';

export interface Clock {
  /** Milliseconds on any monotonic-enough scale. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface DecisionCacheOptions {
  /** Lifetime of a positive decision. Default 300000 (5 min). */
  ttlMs?: number;
  /** Lifetime of a negative decision. Default 30000. */
  negativeTtlMs?: number;
  /** Most entries kept. Default 10000. */
  maxEntries?: number;
  /** A verification taking longer is a refusal. Default 10000. */
  timeoutMs?: number;
  clock?: Clock;
}

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Verifications that threw or timed out. */
  failures: number;
  size: number;
}

interface Entry {
  result: VerifyResult;
  expiresAt: number;
}

/** The cache itself, independent of which verifier sits behind it. */
export class DecisionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<VerifyResult>>();
  readonly #ttl: number;
  readonly #negativeTtl: number;
  readonly #max: number;
  readonly #timeout: number;
  readonly #clock: Clock;
  readonly #stats = { hits: 0, misses: 0, evictions: 0, failures: 0 };

  constructor(options: DecisionCacheOptions = {}) {
    this.#ttl = options.ttlMs ?? 300_000;
    this.#negativeTtl = options.negativeTtlMs ?? 30_000;
    this.#max = Math.max(1, options.maxEntries ?? 10_000);
    this.#timeout = options.timeoutMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  /** The cached decision for `key`, or the result of `verify()` (shared by concurrent callers). */
  async get(key: string, verify: () => Promise<VerifyResult>): Promise<VerifyResult> {
    const now = this.#clock.now();
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      if (hit.expiresAt > now) {
        // Re-insert to mark as most recently used (Map keeps insertion order).
        this.#entries.delete(key);
        this.#entries.set(key, hit);
        this.#stats.hits++;
        return hit.result;
      }
      this.#entries.delete(key);
    }
    const pending = this.#inflight.get(key);
    if (pending !== undefined) {
      this.#stats.hits++;
      return pending;
    }
    this.#stats.misses++;
    const run = this.#verifyBounded(verify).then((outcome) => {
      this.#inflight.delete(key);
      if (outcome.cacheable) this.#store(key, outcome.result);
      return outcome.result;
    });
    this.#inflight.set(key, run);
    return run;
  }

  stats(): CacheStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  clear(): void {
    this.#entries.clear();
  }

  #store(key: string, result: VerifyResult): void {
    const ttl = result.ok ? this.#ttl : this.#negativeTtl;
    if (ttl <= 0) return;
    this.#entries.set(key, { result, expiresAt: this.#clock.now() + ttl });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
      this.#stats.evictions++;
    }
  }

  async #verifyBounded(verify: () => Promise<VerifyResult>): Promise<{ result: VerifyResult; cacheable: boolean }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ result: VerifyResult; cacheable: boolean }>((resolve) => {
      timer = setTimeout(() => {
        this.#stats.failures++;
        resolve({ result: { ok: false, reason: `verifier did not answer within ${this.#timeout} ms` }, cacheable: false });
      }, this.#timeout);
      timer.unref();
    });
    const attempt = (async () => {
      try {
        const result = await verify();
        // Trust boundary: the verifier is ours, but its answer is still checked
        // for shape; anything but an explicit { ok: true } is a refusal.
        if (result !== null && typeof result === 'object' && result.ok === true) return { result: { ok: true } as const, cacheable: true };
        const reason = result !== null && typeof result === 'object' && result.ok === false && typeof result.reason === 'string' ? result.reason : 'verifier returned a malformed answer';
        return { result: { ok: false, reason } as const, cacheable: true };
      } catch (err) {
        this.#stats.failures++;
        return { result: { ok: false, reason: `verifier failed: ${err instanceof Error ? err.message : String(err)}` } as const, cacheable: false };
      }
    })();
    try {
      return await Promise.race([attempt, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function keyDigest(pem: string): string {
  return createHash('sha256').update(pem.replace(/\s+/g, '')).digest('hex');
}

/** An ImageSignatureVerifier answering from a DecisionCache. */
export class CachedImageVerifier implements ImageSignatureVerifier {
  readonly cache: DecisionCache;
  readonly #inner: ImageSignatureVerifier;

  constructor(inner: ImageSignatureVerifier, options?: DecisionCacheOptions) {
    this.#inner = inner;
    this.cache = new DecisionCache(options);
  }

  verify(image: string): Promise<VerifyResult> {
    return this.cache.get(`attached\u0000${image}`, () => this.#inner.verify(image));
  }
}

/** A CosignVerifier answering from a DecisionCache, keyed by image and key. */
export class CachedCosignVerifier implements CosignVerifier {
  readonly cache: DecisionCache;
  readonly #inner: CosignVerifier;

  constructor(inner: CosignVerifier, options?: DecisionCacheOptions) {
    this.#inner = inner;
    this.cache = new DecisionCache(options);
  }

  verify(image: string, publicKeyPem: string): Promise<VerifyResult> {
    return this.cache.get(`cosign\u0000${image}\u0000${keyDigest(publicKeyPem)}`, () => this.#inner.verify(image, publicKeyPem));
  }
}
