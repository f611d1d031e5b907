import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CachedCosignVerifier, CachedImageVerifier, type Clock, DecisionCache } from './cache.ts';
import type { ImageSignatureVerifier, VerifyResult } from './types.ts';

class FakeClock implements Clock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
}

/** A verifier that counts calls and accepts images starting with "good". */
function countingVerifier(): ImageSignatureVerifier & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async verify(image: string): Promise<VerifyResult> {
      calls.push(image);
      return image.startsWith('good') ? { ok: true } : { ok: false, reason: 'unsigned' };
    },
  };
}

describe('CachedImageVerifier.verify', () => {
  describe('when the same image is asked twice within the TTL', () => {
    it('verifies once and answers the second time from the cache', async () => {
      const inner = countingVerifier();
      const v = new CachedImageVerifier(inner, { clock: new FakeClock() });
      assert.deepEqual(await v.verify('good/a'), { ok: true });
      assert.deepEqual(await v.verify('good/a'), { ok: true });
      assert.deepEqual(inner.calls, ['good/a']);
      assert.equal(v.cache.stats().hits, 1);
    });
  });

  describe('when the TTL has passed', () => {
    it('verifies again; negative decisions expire sooner than positive ones', async () => {
      const clock = new FakeClock();
      const inner = countingVerifier();
      const v = new CachedImageVerifier(inner, { clock, ttlMs: 60_000, negativeTtlMs: 5_000 });
      await v.verify('good/a');
      await v.verify('bad/b');
      clock.t += 10_000;
      await v.verify('good/a');
      await v.verify('bad/b');
      assert.deepEqual(inner.calls, ['good/a', 'bad/b', 'bad/b']);
      clock.t += 60_000;
      await v.verify('good/a');
      assert.deepEqual(inner.calls, ['good/a', 'bad/b', 'bad/b', 'good/a']);
    });
  });

  describe('when more images than maxEntries are seen', () => {
    it('evicts the least recently used', async () => {
      const inner = countingVerifier();
      const v = new CachedImageVerifier(inner, { clock: new FakeClock(), maxEntries: 2 });
      await v.verify('good/1');
      await v.verify('good/2');
      await v.verify('good/1'); // 1 becomes most recent
      await v.verify('good/3'); // evicts 2
      await v.verify('good/1');
      await v.verify('good/2');
      assert.deepEqual(inner.calls, ['good/1', 'good/2', 'good/3', 'good/2']);
      assert.equal(v.cache.stats().size, 2);
      assert.ok(v.cache.stats().evictions >= 2);
    });
  });

  describe('when many callers ask for one image at once', () => {
    it('runs a single verification', async () => {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let calls = 0;
      const v = new CachedImageVerifier({ verify: async () => { calls++; await gate; return { ok: true }; } });
      const pending = Array.from({ length: 20 }, () => v.verify('img'));
      release();
      const results = await Promise.all(pending);
      assert.equal(calls, 1);
      assert.ok(results.every((r) => r.ok));
    });
  });

  describe('when the verifier throws', () => {
    it('refuses and does not cache the refusal', async () => {
      let n = 0;
      const v = new CachedImageVerifier({ verify: async () => { n++; if (n === 1) throw new Error('registry down'); return { ok: true }; } });
      const first = await v.verify('img');
      assert.equal(first.ok, false);
      assert.match(first.ok ? '' : first.reason, /registry down/);
      assert.deepEqual(await v.verify('img'), { ok: true });
      assert.equal(n, 2);
    });
  });

  describe('when the verifier answers garbage', () => {
    it('treats anything but ok: true as a refusal', async () => {
      const v = new CachedImageVerifier({ verify: async () => ({ ok: 'yes' }) as unknown as VerifyResult });
      assert.equal((await v.verify('img')).ok, false);
    });
  });

  describe('when the verifier never answers', () => {
    it('refuses after timeoutMs', async () => {
      const v = new CachedImageVerifier({ verify: () => new Promise<VerifyResult>(() => {}) }, { timeoutMs: 20 });
      const r = await v.verify('img');
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, /within 20 ms/);
    });
  });
});

describe('CachedCosignVerifier.verify', () => {
  describe('when the same image is checked with two keys', () => {
    it('keeps separate decisions per key', async () => {
      const seen: string[] = [];
      const v = new CachedCosignVerifier({ verify: async (image, key) => { seen.push(key); return key === 'K1' ? { ok: true } : { ok: false, reason: 'x' }; } });
      assert.equal((await v.verify('img', 'K1')).ok, true);
      assert.equal((await v.verify('img', 'K2')).ok, false);
      assert.equal((await v.verify('img', 'K1')).ok, true);
      assert.deepEqual(seen, ['K1', 'K2']);
    });
  });
});

describe('DecisionCache.get', () => {
  describe('when a TTL is zero', () => {
    it('never stores', async () => {
      const c = new DecisionCache({ ttlMs: 0, negativeTtlMs: 0 });
      let n = 0;
      await c.get('k', async () => { n++; return { ok: true }; });
      await c.get('k', async () => { n++; return { ok: true }; });
      assert.equal(n, 2);
    });
  });
});
