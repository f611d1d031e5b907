/**
 * Bounded work per review. A pod is attacker-controlled, and signature
 * checks against a registry cost a request each: without a bound, one pod
 * naming thousands of distinct tags keeps the webhook busy for as long as it
 * likes, and unrelated reviews queue behind it past the API server's
 * timeout (failurePolicy Fail then refuses them too).
 *
 * The engine wraps the verifiers of each review in a ReviewBudget:
 * - at most `maxImages` distinct image references are verified; the rest are
 *   refused with a reason naming the limit;
 * - at most `concurrency` verifications run at once for this review;
 * - every verification that has not answered by `deadlineMs` after the review
 *   began is a refusal, so the review answers within its budget whatever the
 *   registry does (kube-apiserver's webhook timeout is 10 s by default; the
 *   default budget leaves room for the exchange itself).
 *
 * Repeated references within one review are verified once (single flight).
 */
import type { CosignVerifier, ImageSignatureVerifier, VerifyResult } from './types.ts';

export interface ReviewLimits {
  /** Distinct image references verified per review. Default 64. */
  maxImages?: number;
  /** Verifications in flight per review. Default 8. */
  concurrency?: number;
  /** Wall-clock budget of a review's verifications. Default 8000 ms. */
  deadlineMs?: number;
}

export const DEFAULT_REVIEW_LIMITS: Required<ReviewLimits> = { maxImages: 64, concurrency: 8, deadlineMs: 8_000 };

/** One review's budget. Call `end()` when the review is decided. */
export class ReviewBudget {
  readonly #limits: Required<ReviewLimits>;
  readonly #images = new Set<string>();
  readonly #flights = new Map<string, Promise<VerifyResult>>();
  readonly #waiting: (() => void)[] = [];
  readonly #deadline: Promise<VerifyResult>;
  #timer: NodeJS.Timeout | undefined;
  #running = 0;
  #over = false;

  constructor(limits: ReviewLimits = {}) {
    this.#limits = { ...DEFAULT_REVIEW_LIMITS, ...limits };
    const ms = this.#limits.deadlineMs;
    this.#deadline = new Promise((resolve) => {
      this.#timer = setTimeout(() => {
        this.#stop();
        resolve({ ok: false, reason: `not verified within this review's budget of ${ms} ms` });
      }, ms);
    });
  }

  image(verifier: ImageSignatureVerifier): ImageSignatureVerifier {
    return { verify: (image) => this.#run(image, `image\0${image}`, () => verifier.verify(image)) };
  }

  cosign(verifier: CosignVerifier): CosignVerifier {
    return { verify: (image, key) => this.#run(image, `cosign\0${image}\0${key}`, () => verifier.verify(image, key)) };
  }

  /** The review is decided: nothing queued starts any more. */
  end(): void {
    clearTimeout(this.#timer);
    this.#stop();
  }

  #stop(): void {
    this.#over = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  #run(image: string, key: string, verify: () => Promise<VerifyResult>): Promise<VerifyResult> {
    const flying = this.#flights.get(key);
    if (flying !== undefined) return flying;
    if (!this.#images.has(image) && this.#images.size >= this.#limits.maxImages) {
      return Promise.resolve({ ok: false, reason: `the pod names more than ${this.#limits.maxImages} distinct image references; only that many are verified per review` });
    }
    this.#images.add(image);
    const result = Promise.race([this.#deadline, this.#slot().then(async (started) => {
      if (!started) return { ok: false, reason: 'not verified: the review ended first' } as VerifyResult;
      try {
        return await verify();
      } catch (err) {
        return { ok: false, reason: `verifier failed: ${err instanceof Error ? err.message : String(err)}` } as VerifyResult;
      } finally {
        this.#release();
      }
    })]);
    this.#flights.set(key, result);
    return result;
  }

  /** Waits for a free slot; false when the budget ran out first (no slot taken). */
  #slot(): Promise<boolean> {
    if (this.#over) return Promise.resolve(false);
    if (this.#running < this.#limits.concurrency) {
      this.#running++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.#waiting.push(() => {
      if (this.#over) return resolve(false);
      this.#running++;
      resolve(true);
    }));
  }

  #release(): void {
    this.#running--;
    this.#waiting.shift()?.();
  }
}
