import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import { ReadBudget } from './budget.ts';
import { ReverifySchedule, rootHashOf } from './reverify.ts';

describe('ReverifySchedule', () => {
  describe('when layers were verified at different times', () => {
    it('offers only those whose period has passed, least recently verified first', () => {
      const s = new ReverifySchedule(10_000);
      const a = s.register('/a', 'c1', 'aa', 'sha256:a');
      const b = s.register('/b', 'c1', 'bb', 'sha256:b');
      const c = s.register('/c', 'c2', 'cc', 'sha256:c');
      a.lastStartedAt = 1000;
      b.lastStartedAt = 500;
      c.lastStartedAt = 9000;
      assert.deepEqual(s.due(11_000).map((r) => r.file), ['/b', '/a']);
      assert.equal(s.nextDueIn(11_000), 0);
      // b is due at 10500, a at 11000, c at 19000.
      assert.equal(s.nextDueIn(9000), 1500);
    });
    it('offers a layer never verified at once, and none while it runs', () => {
      const s = new ReverifySchedule(10_000);
      const a = s.register('/a', 'c1', 'aa', 'd');
      assert.deepEqual(s.due(0).map((r) => r.file), ['/a']);
      a.running = true;
      assert.deepEqual(s.due(0), []);
      assert.equal(s.nextDueIn(0), Number.POSITIVE_INFINITY);
    });
  });
  describe('when containers sharing a layer go away', () => {
    it('forgets the layer with its last user', () => {
      const s = new ReverifySchedule(1000);
      s.register('/shared', 'c1', 'aa', 'd');
      s.register('/shared', 'c2', 'aa', 'd');
      s.unregister('c1');
      assert.equal(s.layers.get('/shared')!.signedBy.size, 1);
      s.unregister('c2');
      assert.equal(s.layers.size, 0);
    });
  });
});

describe('rootHashOf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wd-reverify-'));
  describe('when the layer file is whole 4096-byte blocks', () => {
    it('gives the dm-verity root hash with the delivery-kit parameters, and changes with one byte', async () => {
      const file = join(dir, 'layer.erofs');
      const data = Buffer.alloc(64 * 4096, 1);
      writeFileSync(file, data);
      const budget = new ReadBudget(10_000);
      const before = await rootHashOf(file, budget);
      assert.equal(before.hex, (await computeRootHash(file, DELIVERY_KIT_PARAMS)).toString('hex'));
      assert.equal(before.bytes, data.length);
      data[70_000] = 2;
      writeFileSync(file, data);
      assert.notEqual((await rootHashOf(file, budget)).hex, before.hex);
    });
  });
  describe('when the file has a tail the root hash would not cover', () => {
    it('refuses it', async () => {
      const file = join(dir, 'tail.erofs');
      writeFileSync(file, Buffer.alloc(4096 + 10));
      await assert.rejects(rootHashOf(file, new ReadBudget(10_000)), /not a whole number of 4096-byte blocks/);
      rmSync(dir, { recursive: true, force: true });
    });
  });
});
