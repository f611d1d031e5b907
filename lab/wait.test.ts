import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { poll } from './wait.ts';

describe('poll', () => {
  describe('when the probe gets there in time', () => {
    it('resolves ok with the satisfying value, after as many probes as needed', async () => {
      let n = 0;
      const r = await poll(async () => ++n, (v) => v === 3, { timeoutMs: 2000, intervalMs: 10 });
      assert.deepEqual([r.ok, r.value, n], [true, 3, 3]);
    });
  });
  describe('when time runs out', () => {
    it('resolves not ok with the last value, after about timeoutMs', async () => {
      const started = Date.now();
      const r = await poll(async () => 'starting', (v) => v === 'ready', { timeoutMs: 150, intervalMs: 20 });
      assert.equal(r.ok, false);
      assert.equal(r.value, 'starting');
      assert.ok(r.elapsedMs >= 150 && Date.now() - started < 1000, `elapsed ${r.elapsedMs} ms`);
    });
    it('probes at least once even with no time at all', async () => {
      let n = 0;
      await poll(async () => ++n, () => false, { timeoutMs: 0 });
      assert.equal(n, 1);
    });
  });
  describe('when the probe throws', () => {
    it('ends the wait with the error by default', async () => {
      await assert.rejects(poll(async () => { throw new Error('broken'); }, () => true, { timeoutMs: 1000 }), /broken/);
    });
    it('with retryOnError, keeps trying and hands back the last error', async () => {
      let n = 0;
      const r = await poll(async () => { if (++n < 3) throw new Error(`refused ${n}`); return n; }, () => true, { timeoutMs: 2000, intervalMs: 10, retryOnError: true });
      assert.deepEqual([r.ok, r.value], [true, 3]);
      const failed = await poll(async () => { throw new Error('ECONNREFUSED'); }, () => true, { timeoutMs: 50, intervalMs: 10, retryOnError: true });
      assert.equal(failed.ok, false);
      assert.match(String((failed as { error?: unknown }).error), /ECONNREFUSED/);
    });
  });
});
