import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localExec, type Exec } from './exec.ts';
import { poll, waitInShell } from './wait.ts';

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

describe('waitInShell', () => {
  describe('when the condition comes to hold while it waits', () => {
    it('returns ok, after one command however many tests it took', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'il-wait-'));
      try {
        const commands: string[][] = [];
        const exec: Exec = { run: (argv, options) => (commands.push([...argv]), localExec.run(argv, options)) };
        setTimeout(() => writeFileSync(join(dir, 'ready'), ''), 300);
        const r = await waitInShell(exec, `test -e ${join(dir, 'ready')}`, { timeoutMs: 5_000 });
        assert.equal(r.ok, true);
        assert.ok(r.elapsedMs >= 250, `returned after ${r.elapsedMs} ms, before the file existed`);
        assert.equal(commands.length, 1);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when it never holds', () => {
    it('gives up with ok false', async () => {
      const r = await waitInShell(localExec, 'false', { timeoutMs: 300, intervalMs: 100 });
      assert.equal(r.ok, false);
    });
  });

  describe('when each test takes longer than its share of the time (a loaded machine)', () => {
    it('gives up by the clock, not after every try', async () => {
      // 100 tries of a test that takes 0.2 s would be 20 s.
      const r = await waitInShell(localExec, 'sleep 0.2; false', { timeoutMs: 1_000, intervalMs: 10 });
      assert.equal(r.ok, false);
      assert.ok(r.elapsedMs < 5_000, `gave up after ${r.elapsedMs} ms`);
    });
  });

  describe('when the condition writes to stdout or stderr', () => {
    it('keeps it out of the answer, and still tells holds from fails', async () => {
      assert.equal((await waitInShell(localExec, 'echo noise; echo more >&2; true', { timeoutMs: 300 })).ok, true);
      assert.equal((await waitInShell(localExec, 'echo noise; ! true', { timeoutMs: 200 })).ok, false);
    });
  });
});
