import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLabError } from '../errors.ts';
import { defaultParallel, parseRunArgs, runLabel } from './conformance.ts';

describe('parseRunArgs', () => {
  it("takes the runner's options out and leaves cucumber-js's in order", () => {
    assert.deepEqual(parseRunArgs(['--parallel', '3', 'features/a.feature', '--keep-failed', '--tags', '@smoke', '--repeat=5'], 2), {
      substrate: 'node',
      parallel: 3,
      keepFailed: true,
      repeat: 5,
      cucumberArgs: ['features/a.feature', '--tags', '(@smoke) and not @kind'],
    });
  });
  describe('--substrate', () => {
    it('kind selects the @kind and @any-substrate scenarios, combined with the user\'s tags', () => {
      assert.deepEqual(parseRunArgs(['--substrate', 'kind', '--tags', '@smoke'], 1).cucumberArgs, ['--tags', '(@smoke) and (@kind or @any-substrate)']);
      assert.deepEqual(parseRunArgs(['--substrate=kind'], 1).cucumberArgs, ['--tags', '(@kind or @any-substrate)']);
    });
    it('node, the default, leaves the @kind scenarios out', () => {
      assert.deepEqual(parseRunArgs([], 1).cucumberArgs, ['--tags', 'not @kind']);
    });
    it('refuses anything else with RUN_USAGE', () => {
      assert.throws(() => parseRunArgs(['--substrate', 'k3s'], 1), (e) => isLabError(e, 'RUN_USAGE') && /--substrate: should be node or kind, got "k3s"/.test(e.message));
    });
  });
  it('uses the default parallelism when none is asked for', () => {
    assert.equal(parseRunArgs([], 2).parallel, 2);
  });
  describe('when a count is not a positive integer', () => {
    it('fails with RUN_USAGE naming the flag and the value', () => {
      assert.throws(() => parseRunArgs(['--repeat', 'many'], 1), (e) => isLabError(e, 'RUN_USAGE') && /--repeat: should be an integer ≥ 1, got "many"/.test(e.message));
      assert.throws(() => parseRunArgs(['--parallel'], 1), (e) => isLabError(e, 'RUN_USAGE') && /got ""/.test(e.message));
    });
  });
});

describe('defaultParallel', () => {
  it('is bounded by cores, free GiB and 4', () => {
    assert.equal(defaultParallel(2, 20 * 2 ** 30), 2);
    assert.equal(defaultParallel(16, 3 * 2 ** 30), 3);
    assert.equal(defaultParallel(16, 64 * 2 ** 30), 4);
    assert.equal(defaultParallel(2, 0.5 * 2 ** 30), 1);
  });
});

describe('runLabel', () => {
  it('names the run after its features or tags', () => {
    assert.equal(runLabel([]), 'suite');
    assert.equal(runLabel(['features/attacks/host-layer-tamper.feature:12']), 'host-layer-tamper');
    assert.equal(runLabel(['--tags', '@smoke']), 'smoke');
  });
});
