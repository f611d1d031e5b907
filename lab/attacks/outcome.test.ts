import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyOutcome, rootLowerdirs } from './index.ts';

describe('classifyOutcome', () => {
  describe('when the change took no effect', () => {
    it('is blocked, whatever was reported', () => {
      assert.equal(classifyOutcome({ effect: false, detections: [{ component: 'start-gate', message: 'x', time: '2026-01-01T00:00:00Z' }], reason: '' }), 'blocked');
    });
  });
  describe('when the change took effect and a component reported it', () => {
    it('is detected', () => {
      assert.equal(classifyOutcome({ effect: true, detections: [{ component: 'watchdog', message: 'x', time: '2026-01-01T00:00:00Z' }], reason: '' }), 'detected');
    });
  });
  describe('when the change took effect unnoticed', () => {
    it('succeeded', () => {
      assert.equal(classifyOutcome({ effect: true, detections: [], reason: '' }), 'succeeded');
    });
  });
});

describe('rootLowerdirs', () => {
  it('reads the lowerdirs of the root overlay, top first', () => {
    const mi = [
      '1 0 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/4/fs,workdir=/s/4/work,uuid=on',
      '2 1 0:41 / /proc rw - proc proc rw',
    ].join('\n');
    assert.deepEqual(rootLowerdirs(mi), ['/s/2/fs', '/s/1/fs']);
  });
  describe('when the root is not an overlay', () => {
    it('finds none', () => {
      assert.deepEqual(rootLowerdirs('1 0 0:40 / / rw - ext4 /dev/vda rw'), []);
    });
  });
});
