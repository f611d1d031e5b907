import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { freezerMounts, thawContainer } from './cgroup-thaw.ts';
import { poll } from './wait.ts';

const MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');

describe('freezerMounts', () => {
  describe('on a hybrid host (cgroup v1 with the v2 tree beside it)', () => {
    it('lists the v1 freezer and the v2 tree, not the other v1 controllers', () => {
      assert.deepEqual(freezerMounts(MOUNTINFO), [
        { version: 'v1', mountPoint: '/sys/fs/cgroup/freezer' },
        { version: 'v2', mountPoint: '/sys/fs/cgroup/unified' },
      ]);
    });
  });
});

describe('thawContainer', () => {
  describe('when the id is not a container id', () => {
    it('refuses it rather than match other directories', () => assert.throws(() => thawContainer('../x'), /64 hex digits/));
  });
});

// Real freezes on this host (FACTS.md: cgroup v1, with the v2 tree at /sys/fs/cgroup/unified).
const V1 = '/sys/fs/cgroup/freezer';
const V2 = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => existsSync(`${d}/cgroup.freeze`) || existsSync(`${d}/cgroup.subtree_control`));
const root = process.getuid?.() === 0;

for (const [version, top, freeze, frozen] of [
  ['v1', existsSync(`${V1}/freezer.state`) || existsSync(`${V1}/cgroup.procs`) ? V1 : undefined, ['freezer.state', 'FROZEN'], (d: string) => readFileSync(`${d}/freezer.state`, 'utf8').trim() === 'FROZEN'],
  ['v2', V2, ['cgroup.freeze', '1'], (d: string) => /^frozen 1$/m.test(readFileSync(`${d}/cgroup.events`, 'utf8'))],
] as const) {
  describe(`thawCgroupsOf, cgroup ${version} on this machine`, { skip: root && top ? false : `needs root and a cgroup ${version} freezer` }, () => {
    describe('when the process\'s cgroup was frozen', () => {
      it('finds it by the container id, thaws it, says which, and the process runs again', async () => {
        const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 50)'], { stdio: 'ignore' });
        // A directory named like a container's, as cgroupfs names them (below a parent of the test's own).
        const id = randomBytes(32).toString('hex');
        const parent = `${top}/il-thaw-test-${id.slice(0, 8)}`;
        const dir = `${parent}/${id}`;
        mkdirSync(dir, { recursive: true });
        try {
          writeFileSync(`${parent}/cgroup.procs`, String(child.pid));
          writeFileSync(`${dir}/cgroup.procs`, String(child.pid));
          writeFileSync(`${dir}/${freeze[0]}`, freeze[1]);
          assert.ok((await poll(async () => frozen(dir), (f) => f, { timeoutMs: 5000, intervalMs: 20 })).ok, 'frozen');
          assert.deepEqual(thawContainer(id), [dir]);
          assert.ok((await poll(async () => frozen(dir), (f) => !f, { timeoutMs: 5000, intervalMs: 20 })).ok, 'thawed');
          assert.deepEqual(thawContainer(id), [], 'nothing left to thaw');
        } finally {
          for (const d of [dir, parent]) {
            for (const pid of readFileSync(`${d}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) writeFileSync(`${top}/cgroup.procs`, pid);
          }
          child.kill('SIGKILL');
          rmdirSync(dir);
          rmdirSync(parent);
        }
      });
    });
  });
}
