import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance } from './suggest.ts';

describe('editDistance', () => {
  it('counts insertions, deletions and substitutions', () => {
    assert.equal(editDistance('payload', 'payload'), 0);
    assert.equal(editDistance('paylod', 'payload'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
  });
});

describe('closest', () => {
  describe('when a field is misspelt', () => {
    it('suggests the nearest known field', () => {
      assert.deepEqual(closest('paylod', ['target', 'payload', 'expected']), ['payload']);
    });
  });
  describe('when nothing is close', () => {
    it('suggests nothing rather than a random field', () => {
      assert.deepEqual(closest('zzzzzz', ['target', 'payload', 'expected']), []);
    });
  });
  describe('when asked for several', () => {
    it('orders them nearest first', () => {
      assert.deepEqual(closest('a node with the "x" profile', ['a node with the {profile} profile', 'a lab node with the "x" profile', 'the attack succeeds'], { limit: 2, maxRatio: 0.6 }), [
        'a lab node with the "x" profile',
        'a node with the {profile} profile',
      ]);
    });
  });
});
