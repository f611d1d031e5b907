import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { isLabError } from '../errors.ts';
import { defaultParallel, lintGate, parseRunArgs, runLabel } from './conformance.ts';

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

describe('lintGate', () => {
  describe('when the selection matches no scenario', () => {
    it('stops the run naming the selection and the likely cause', async () => {
      const problems = await lintGate(parseRunArgs(['features/gates/node-gates.feature:2'], 1).cucumberArgs);
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0]!, /^no scenario matches features\/gates\/node-gates\.feature:2 --tags "not @kind"; a line number selects the scenario, outline or example row that starts on it/);
    });
  });
  describe('when the selection matches a scenario whose steps are all defined', () => {
    // cucumber-js loads the step definitions once per process: a second
    // dry run in this one would find none, so this one runs in its own.
    it('finds nothing', async () => {
      const line = (await readFile('features/gates/node-gates.feature', 'utf8')).split('\n').findIndex((l) => /^\s*Scenario/.test(l)) + 1;
      const script = [
        `import { lintGate, parseRunArgs } from ${JSON.stringify(join(import.meta.dirname, 'conformance.ts'))};`,
        `console.log(JSON.stringify(await lintGate(parseRunArgs(['features/gates/node-gates.feature:${line}'], 1).cucumberArgs)));`,
      ].join('\n');
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
      assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()!), []);
    });
  });
});
