import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StartDecision } from '../../gates/start-hold-gate.ts';
import { judgeMemfdRun } from './memfd-exec-inside.ts';

const ID = 'a'.repeat(64);
const set: StartDecision = { time: '2026-12-07T03:31:36.299Z', id: ID, start: true, action: 'allow', memfdNoexec: 'set', initPid: 348, reason: 'memory-file execution refused in its pid namespace (vm.memfd_noexec = 2)' };
/** What native/memfd-exec.c --inside printed on this kernel, in a namespace at 2. */
const REFUSED = [
  "memfd-exec: vm.memfd_noexec in the container's pid namespace: 2",
  'memfd-exec: memfd_create(MFD_EXEC): Permission denied',
  'memfd-exec: memfd mode 0666, seals 0x20 (F_SEAL_EXEC)',
  'memfd-exec: execve /proc/self/fd/5: Permission denied',
].join('\n');

describe('judgeMemfdRun', () => {
  describe('when execve got EACCES on a sealed memfd in a namespace the gate set', () => {
    it('is blocked by the start gate, with the seal and the gate\'s decision as evidence', () => {
      const j = judgeMemfdRun(126, REFUSED, [set]);
      assert.equal(j.tried, true);
      assert.equal(j.blockedBy?.[0]?.component, 'start-gate');
      assert.match(j.blockedBy![0]!.evidence, /memfd mode 0666, seals 0x20 \(F_SEAL_EXEC\).*decision at 2026-12-07T03:31:36.299Z/);
    });
  });
  describe('when the gate has no start decision that set the namespace', () => {
    it('earns no block, whatever the kernel said', () => {
      assert.equal(judgeMemfdRun(126, REFUSED, []).blockedBy, undefined);
      assert.equal(judgeMemfdRun(126, REFUSED, [{ ...set, memfdNoexec: 'unavailable' }]).blockedBy, undefined);
      assert.equal(judgeMemfdRun(126, REFUSED, [{ ...set, action: 'refuse' }]).blockedBy, undefined);
    });
  });
  describe('when the memfd was not sealed (execve refused for another reason)', () => {
    it('earns no block', () => {
      const unsealed = REFUSED.replace('seals 0x20 (F_SEAL_EXEC)', 'seals 0x1');
      assert.deepEqual(judgeMemfdRun(126, unsealed, [set]), { tried: true });
    });
  });
  describe('when the tool failed before execve (a setns, a memfd_create, a copy)', () => {
    it('says the attack was not tried: an error, never a block', () => {
      assert.deepEqual(judgeMemfdRun(1, 'setns pid: Operation not permitted', [set]), { tried: false });
      assert.deepEqual(judgeMemfdRun(97, 'no cgroup of x joined', [set]), { tried: false });
    });
  });
  describe('when the shell ran', () => {
    it('was tried and blocked by nothing', () => {
      assert.deepEqual(judgeMemfdRun(0, "memfd-exec: vm.memfd_noexec in the container's pid namespace: 0\nmemfd-exec: memfd mode 0777, seals 0x1", [set]), { tried: true });
    });
  });
});
