import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageSeccompProfiles } from './seccomp-profiles.ts';

describe('stageSeccompProfiles', () => {
  it("copies the repository's profiles into the lab's state directory, at their relative paths", async (t) => {
    const state = await mkdtemp(join(tmpdir(), 'il-state-'));
    t.after(() => rm(state, { recursive: true, force: true }));
    const dir = await stageSeccompProfiles(state);
    assert.equal(dir, join(state, 'seccomp'));
    const staged = (await readdir(dir, { recursive: true })).sort();
    assert.ok(staged.includes(join('integrity-lab', 'agent-strict.json')), staged.join(', '));
    assert.ok(staged.includes('my_profile.json'), staged.join(', '));
  });

  it('stops at a file that is not a seccomp profile, naming it', async (t) => {
    const root = await mkdtemp(join(tmpdir(), 'il-seccomp-src-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    await mkdir(join(root, 'src'));
    await mkdir(join(root, 'src', 'team'));
    await writeFile(join(root, 'src', 'team', 'broken.json'), '{"defaultAction": ');
    await assert.rejects(stageSeccompProfiles(join(root, 'state'), join(root, 'src')), /team\/broken\.json: not a seccomp profile: .*JSON/);
    await rm(join(root, 'src', 'team'), { recursive: true });
    await writeFile(join(root, 'src', 'broken.json'), '["SCMP_ACT_ERRNO"]');
    await assert.rejects(stageSeccompProfiles(join(root, 'state'), join(root, 'src')), /broken\.json: not a seccomp profile: a JSON object with a string "defaultAction"/);
  });
});
