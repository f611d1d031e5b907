import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRunDir, latestRun, pointLatest, pruneRuns, runDirName } from './run-dir.ts';
import { scratchDir } from '../testing/scratch-dir.ts';

describe('runDirName', () => {
  it('starts with the UTC time, so names sort by time', () => {
    assert.equal(runDirName('conformance', new Date('2026-12-05T12:13:14.567Z')), '20261205-121314-conformance');
    assert.equal(runDirName('features/a b.feature', new Date('2026-12-05T12:13:14Z')), '20261205-121314-features-a-b.feature');
  });
});

describe('createRunDir and pointLatest', () => {
  describe('when a second run starts', () => {
    it("keeps the first run's files and moves latest to the second", async () => {
      const reports = scratchDir('il-runs');
      const t = new Date('2026-12-05T12:00:00Z');
      const first = await createRunDir('full', reports, t);
      await writeFile(join(first, 'junit.xml'), '<first/>');
      await pointLatest(first, reports);
      const second = await createRunDir('full', reports, t);
      assert.notEqual(second, first);
      await pointLatest(second, reports);
      assert.equal(await latestRun(reports), second);
      assert.equal(await readFile(join(first, 'junit.xml'), 'utf8'), '<first/>');
      assert.equal(await readFile(join(reports, 'latest/../runs', first.split('/').pop()!, 'junit.xml'), 'utf8'), '<first/>');
    });
  });
});

describe('pruneRuns', () => {
  it('removes the oldest runs beyond the limit but never the latest', async () => {
    const reports = scratchDir('il-runs');
    const dirs: string[] = [];
    for (let i = 0; i < 4; i++) dirs.push(await createRunDir('r', reports, new Date(Date.UTC(2026, 0, 1, 0, 0, i))));
    await pointLatest(dirs[0]!, reports);
    const removed = await pruneRuns(2, reports);
    assert.deepEqual(removed, [dirs[1]]);
    assert.deepEqual((await readdir(join(reports, 'runs'))).length, 3);
  });
});
