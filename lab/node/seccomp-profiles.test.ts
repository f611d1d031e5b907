import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageSeccompProfiles } from './seccomp-profiles.ts';

describe('stageSeccompProfiles', () => {
  it("copies the repository's profiles into the lab's state directory", async (t) => {
    const state = await mkdtemp(join(tmpdir(), 'il-state-'));
    t.after(() => rm(state, { recursive: true, force: true }));
    const dir = await stageSeccompProfiles(state);
    assert.equal(dir, join(state, 'seccomp'));
    assert.ok((await readdir(dir)).includes('agent-strict.json'));
  });

  it('stops at a file that is not a seccomp profile, naming it', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'il-seccomp-src-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'src'));
    await writeFile(join(root, 'src', 'broken.json'), '{"defaultAction": ');
    await assert.rejects(stageSeccompProfiles(join(root, 'state'), join(root, 'src')), /broken\.json: not a seccomp profile: .*JSON/);
    await writeFile(join(root, 'src', 'broken.json'), '["SCMP_ACT_ERRNO"]');
    await assert.rejects(stageSeccompProfiles(join(root, 'state'), join(root, 'src')), /broken\.json: not a seccomp profile: a JSON object with a string "defaultAction"/);
  });
});
