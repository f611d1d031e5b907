import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReviewBudget } from './budget.ts';
import { createEngine } from './engine.ts';
import { loadLabStateFromTexts } from './loader.ts';
import { decodeAdmissionObject, type AdmissionObject } from './pod.ts';
import type { ImageSignatureVerifier, VerifyResult } from './types.ts';

/**
 * A registry that answers every image after `ms`, through a client with
 * `pool` connections shared by every review (as an HTTP agent's are),
 * counting calls and the most in flight at once.
 */
function slowRegistry(ms: number, signed: (image: string) => boolean = () => true, pool = Infinity) {
  const stats = { calls: 0, inFlight: 0, maxInFlight: 0 };
  const queue: (() => void)[] = [];
  const verifier: ImageSignatureVerifier = {
    verify: async (image) => {
      stats.calls++;
      if (stats.inFlight >= pool) await new Promise<void>((r) => queue.push(r));
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      await new Promise((r) => setTimeout(r, ms));
      stats.inFlight--;
      queue.shift()?.();
      return signed(image) ? { ok: true } : { ok: false, reason: 'unsigned' };
    },
  };
  return { verifier, stats };
}

function pod(images: string[]): AdmissionObject {
  const d = decodeAdmissionObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } });
  if (!d.ok) throw new Error(d.reason);
  return d.object;
}

describe('ReviewBudget', () => {
  describe('when more distinct images are asked for than the limit', () => {
    it('verifies only that many and refuses the rest, naming the limit', async () => {
      const { verifier, stats } = slowRegistry(1);
      const budget = new ReviewBudget({ maxImages: 3 });
      const v = budget.image(verifier);
      const results: VerifyResult[] = await Promise.all(['a', 'b', 'c', 'd', 'a'].map((i) => v.verify(`r.io/${i}:1`)));
      budget.end();
      assert.equal(stats.calls, 3);
      assert.deepEqual(results.map((r) => r.ok), [true, true, true, false, true]);
      assert.match(String((results[3] as { reason: string }).reason), /more than 3 distinct image references/);
    });
  });
  describe('when verifications are slow', () => {
    it('runs at most `concurrency` at once and refuses what is left at the deadline', async () => {
      const { verifier, stats } = slowRegistry(100);
      const budget = new ReviewBudget({ maxImages: 100, concurrency: 2, deadlineMs: 250 });
      const v = budget.image(verifier);
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => v.verify(`r.io/x:${i}`)));
      budget.end();
      assert.ok(Date.now() - started < 600, `took ${Date.now() - started} ms`);
      assert.equal(stats.maxInFlight, 2);
      assert.ok(stats.calls <= 6, `${stats.calls} registry calls`);
      assert.ok(results.filter((r) => !r.ok).every((r) => /budget of 250 ms|review ended/.test(String((r as { reason: string }).reason))));
      assert.ok(results.some((r) => !r.ok));
    });
  });
});

describe('AdmissionEngine with a review budget', () => {
  const state = loadLabStateFromTexts([{ file: 'ns.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: kube-system, labels: { security.deckhouse.io/pod-policy: privileged } }' }]);
  describe('when one pod names thousands of distinct tags', () => {
    it('answers within its budget, refuses it, and an unrelated review still gets a registry connection', async () => {
      // 16 shared connections: unbounded, the flood would hold all of them for 3000 × 50 ms / 16 ≈ 9 s.
      const { verifier, stats } = slowRegistry(50, (image) => image === 'r.io/ok:1', 16);
      const engine = createEngine(state, { imageVerifier: verifier, reviewLimits: { maxImages: 64, concurrency: 8, deadlineMs: 1_000 } });
      const flood = pod(Array.from({ length: 3000 }, (_, i) => `r.io/app:t${i}`));
      const started = Date.now();
      const floodReview = engine.review({ uid: 'f', operation: 'CREATE', namespace: 'kube-system', object: flood });
      const unrelated = await engine.review({ uid: 'u', operation: 'CREATE', namespace: 'kube-system', object: pod(['r.io/ok:1']) });
      const unrelatedMs = Date.now() - started;
      const decision = await floodReview;
      const floodMs = Date.now() - started;
      assert.equal(unrelated.allowed, true, unrelated.message);
      assert.ok(unrelatedMs < 1_000, `the unrelated review took ${unrelatedMs} ms`);
      assert.equal(decision.allowed, false);
      assert.ok(floodMs < 2_500, `the flood review took ${floodMs} ms`);
      assert.ok(stats.calls <= 65, `${stats.calls} registry calls for one review`);
    });
  });
});
