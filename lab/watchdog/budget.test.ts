import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import { ReadBudget, Semaphore, type Timer } from './budget.ts';

/** A clock that only moves when someone sleeps. */
function virtualTimer(): Timer & { t: number } {
  const timer = {
    t: 0,
    now: () => timer.t,
    sleep: async (ms: number) => {
      timer.t += ms;
    },
  };
  return timer;
}

const MB = 1_000_000;

describe('ReadBudget', () => {
  describe('when one reader asks for more than the rate allows', () => {
    it('spaces the reads so that bytes read never exceed rate × time plus one chunk', async () => {
      const timer = virtualTimer();
      const budget = new ReadBudget(32, timer);
      const chunk = 2 * 1024 * 1024;
      let read = 0;
      for (let i = 0; i < 50; i++) {
        await budget.acquire(chunk);
        read += chunk;
        // At every moment: read ≤ rate × elapsed + one chunk.
        assert.ok(read <= 32 * MB * (timer.t / 1000) + chunk + 1, `read ${read} bytes in ${timer.t} ms`);
      }
      // And it is not slower than the budget: the last read starts at (n-1) chunks / rate.
      assert.ok(Math.abs(timer.t - (49 * chunk) / (32 * MB / 1000)) < 1e-6);
    });
  });

  describe('when several verifications share the budget', () => {
    it('holds the rate over all of them together', async () => {
      const timer = virtualTimer();
      const budget = new ReadBudget(10, timer);
      await Promise.all([0, 1, 2].map(async () => {
        for (let i = 0; i < 10; i++) await budget.acquire(1 * MB);
      }));
      assert.equal(budget.granted, 30 * MB);
      assert.ok(timer.t >= (29 * MB) / (10 * MB / 1000) - 1e-6, `30 MB at 10 MB/s took ${timer.t} ms of virtual time`);
    });
  });

  describe('when the rate is not positive', () => {
    it('throws WATCHDOG_BUDGET_INVALID', () => {
      for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => new ReadBudget(bad), { code: 'WATCHDOG_BUDGET_INVALID' });
    });
  });

  describe('when it is lab/verity\'s beforeRead hook', () => {
    it('is asked for every data byte a root hash computation reads', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wd-budget-'));
      try {
        const file = join(dir, 'layer.erofs');
        writeFileSync(file, Buffer.alloc(5 * 1024 * 1024 + 4096, 7));
        const budget = new ReadBudget(1000, virtualTimer());
        const hashed = await computeRootHash(file, DELIVERY_KIT_PARAMS, { beforeRead: budget.beforeRead, concurrency: 1 });
        assert.equal(budget.granted, 5 * 1024 * 1024 + 4096);
        assert.deepEqual(hashed, await computeRootHash(file, DELIVERY_KIT_PARAMS));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('Semaphore', () => {
  describe('when more work is queued than the limit', () => {
    it('never runs more than the limit at once and runs everything', async () => {
      const sem = new Semaphore(2);
      let running = 0;
      let peak = 0;
      const done: number[] = [];
      await Promise.all([0, 1, 2, 3, 4, 5].map((i) => sem.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
        done.push(i);
      })));
      assert.equal(peak, 2);
      assert.deepEqual(done.sort(), [0, 1, 2, 3, 4, 5]);
      assert.equal(sem.held, 0);
    });
  });
  describe('when the limit is not a positive integer', () => {
    it('throws WATCHDOG_BUDGET_INVALID', () => assert.throws(() => new Semaphore(0), { code: 'WATCHDOG_BUDGET_INVALID' }));
  });
});
