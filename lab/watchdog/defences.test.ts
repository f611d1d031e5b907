import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedDefences, fingerprint, ungatedReason } from './defences.ts';
import { sample } from './test-samples.ts';

describe('ungatedReason', () => {
  describe('when the root is the start gate\'s (integrity sample)', () => {
    it('finds nothing', () => {
      assert.equal(ungatedReason(sample('integrity', 'system-agent').expectation.rootfs), undefined);
    });
  });
  describe("when the root is containerd's own, with its writable upperdir (vanilla sample)", () => {
    it('names both faults', () => {
      const r = ungatedReason(sample('vanilla', 'system-agent').expectation.rootfs)!;
      assert.deepEqual(r.reasons, ['ungated', 'writable-upperdir']);
      assert.match(r.reason, /upperdir .*snapshots\/\d+\/fs/);
    });
  });
});

describe('changedDefences', () => {
  const files = [{ path: '/a', what: 'A' }, { path: '/b', what: 'B' }];
  describe('when a file is edited and another stays missing', () => {
    it('reports the edit only', () => {
      const pinned = fingerprint((p) => (p === '/a' ? Buffer.from('one') : undefined), files);
      const now = fingerprint((p) => (p === '/a' ? Buffer.from('two') : undefined), files);
      const c = changedDefences(pinned, now, files);
      assert.deepEqual(c.map((x) => x.path), ['/a']);
      assert.notEqual(c[0]!.pinned, c[0]!.now);
    });
  });
  describe('when a file is removed', () => {
    it('reports it as missing', () => {
      const pinned = fingerprint(() => Buffer.from('x'), files);
      const now = fingerprint((p) => (p === '/b' ? Buffer.from('x') : undefined), files);
      assert.deepEqual(changedDefences(pinned, now, files).map((x) => [x.path, x.now]), [['/a', 'missing']]);
    });
  });
});
