import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realProc } from './daemon-main.ts';
import { findDaemon, startTimeOf, stillRunning, whyNotRunning } from './defence-liveness.ts';
import { randomBytes } from 'node:crypto';
import { poll } from '../../wait.ts';
import { scratchDir } from '../../testing/scratch-dir.ts';

describe('startTimeOf', () => {
  describe('when the command name holds spaces and parentheses', () => {
    it('reads field 22 after the last parenthesis', () => {
      // Field 22 here is 987654; fields 3 to 21 are S 1 4242 4242 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0.
      const stat = '4242 (a (b) c) S 1 4242 4242 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100';
      assert.equal(startTimeOf(stat), '987654');
    });
  });
  describe('when there is no stat', () => {
    it('is undefined', () => assert.equal(startTimeOf(undefined), undefined));
  });
});

describe('findDaemon and stillRunning on this machine', () => {
  describe('when a node process runs the daemon file in our pid namespace', () => {
    it('finds it by its exact command, and sees it gone once it is killed', async () => {
      const file = join(scratchDir('defence-liveness'), 'watchdog.mjs');
      writeFileSync(file, 'setInterval(() => {}, 1000);\n');
      const child = spawn(process.execPath, [file, '--config', 'x'], { stdio: 'ignore' });
      try {
        const found = await poll(async () => findDaemon(realProc, process.pid, [file, '--config', 'x']), (f) => f !== undefined, { timeoutMs: 5000, intervalMs: 20 });
        assert.equal(found.value?.hostPid, child.pid);
        assert.match(found.value!.cmdline, /watchdog\.mjs --config x$/);
        assert.equal(stillRunning(realProc, found.value!), true);
        child.kill('SIGKILL');
        const gone = await poll(async () => stillRunning(realProc, found.value!), (running) => !running, { timeoutMs: 5000, intervalMs: 20 });
        assert.ok(gone.ok, 'seen gone after SIGKILL');
        assert.equal(findDaemon(realProc, process.pid, [`${file}.other`, '--config', 'x']), undefined);
        assert.equal(findDaemon(realProc, process.pid, [file]), undefined, 'the arguments must match exactly');
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});

// The freezers of this host (FACTS.md: cgroup v1, the v2 tree at /sys/fs/cgroup/unified), as root on a lab node uses them.
const V2 = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => existsSync(`${d}/cgroup.subtree_control`));
const FREEZERS = [
  { version: 'v1', top: existsSync('/sys/fs/cgroup/freezer/cgroup.procs') ? '/sys/fs/cgroup/freezer' : undefined, file: 'freezer.state', on: 'FROZEN', off: 'THAWED', wait: /^__refrigerator$/ },
  { version: 'v2', top: V2, file: 'cgroup.freeze', on: '1', off: '0', wait: /^(do_freezer_trap|get_signal)$/ },
] as const;

for (const f of FREEZERS) {
  describe(`whyNotRunning on this machine, cgroup ${f.version} freezer`, { skip: f.top && process.getuid?.() === 0 ? false : `needs root and the cgroup ${f.version} freezer` }, () => {
    describe('when the process is frozen, then thawed', () => {
      it('says it is frozen while it is, and that it runs once thawed', async () => {
        const file = join(scratchDir('defence-liveness'), 'watchdog.mjs');
        writeFileSync(file, 'setInterval(() => {}, 50);\n');
        const child = spawn(process.execPath, [file], { stdio: 'ignore' });
        const cgroup = `${f.top}/il-liveness-test-${randomBytes(4).toString('hex')}`;
        mkdirSync(cgroup);
        try {
          // Latched on once it is in the cgroup (a move after that is a finding of its own, below).
          writeFileSync(`${cgroup}/cgroup.procs`, String(child.pid));
          const found = await poll(async () => findDaemon(realProc, process.pid, [file]), (d) => d !== undefined, { timeoutMs: 5000, intervalMs: 20 });
          assert.equal(whyNotRunning(realProc, found.value!), undefined);
          writeFileSync(`${cgroup}/${f.file}`, f.on);
          const frozen = await poll(async () => whyNotRunning(realProc, found.value!), (why) => why !== undefined, { timeoutMs: 5000, intervalMs: 20 });
          const [, wait] = (frozen.value ?? '').match(/^frozen by the cgroup freezer \(its thread \d+ waits in (\S+)\)$/) ?? [];
          assert.match(wait ?? `(said: ${frozen.value})`, f.wait);
          assert.equal(findDaemon(realProc, process.pid, [file]), undefined, 'a frozen process is not latched on');
          writeFileSync(`${cgroup}/${f.file}`, f.off);
          const thawed = await poll(async () => whyNotRunning(realProc, found.value!), (why) => why === undefined, { timeoutMs: 5000, intervalMs: 20 });
          assert.ok(thawed.ok, `still not running after the thaw: ${thawed.value}`);
        } finally {
          writeFileSync(`${cgroup}/${f.file}`, f.off);
          for (const pid of readFileSync(`${cgroup}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) writeFileSync(`${f.top}/cgroup.procs`, pid);
          child.kill('SIGKILL');
          rmdirSync(cgroup);
        }
      });
    });
  });
}

describe('whyNotRunning on this machine, a CPU-limited cgroup', { skip: existsSync('/sys/fs/cgroup/cpu/cgroup.procs') && process.getuid?.() === 0 ? false : 'needs root and the cgroup v1 cpu controller' }, () => {
  describe('when the process is moved into a cgroup that allows it 0.1 % of a CPU', () => {
    it('says which thread was moved, and where', async () => {
      const file = join(scratchDir('defence-liveness'), 'watchdog.mjs');
      writeFileSync(file, 'setInterval(() => {}, 50);\n');
      const child = spawn(process.execPath, [file], { stdio: 'ignore' });
      const top = '/sys/fs/cgroup/cpu';
      const home = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').match(/^\d+:cpu:(.*)$/m)?.[1] ?? '/';
      const cgroup = `${top}/il-liveness-test-${randomBytes(4).toString('hex')}`;
      mkdirSync(cgroup);
      try {
        const found = await poll(async () => findDaemon(realProc, process.pid, [file]), (d) => d !== undefined, { timeoutMs: 5000, intervalMs: 20 });
        assert.equal(whyNotRunning(realProc, found.value!), undefined);
        writeFileSync(`${cgroup}/cpu.cfs_period_us`, '1000000');
        writeFileSync(`${cgroup}/cpu.cfs_quota_us`, '1000');
        writeFileSync(`${cgroup}/cgroup.procs`, String(child.pid));
        assert.match(whyNotRunning(realProc, found.value!) ?? '', /^its thread \d+ was moved to another cgroup \(\d+:cpu:\S* → \d+:cpu:\S*il-liveness-test-[0-9a-f]+\): a CPU limit or a freezer there stops it$/);
      } finally {
        for (const pid of readFileSync(`${cgroup}/cgroup.procs`, 'utf8').split('\n').filter(Boolean)) writeFileSync(`${top}${home === '/' ? '' : home}/cgroup.procs`, pid);
        child.kill('SIGKILL');
        rmdirSync(cgroup);
      }
    });
  });
});
