import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentWords } from './handle.ts';

describe('environmentWords', () => {
  it('gives NAME=VALUE words for plain names and path-like values', () => {
    assert.deepEqual(environmentWords({ LD_PRELOAD: '/var/lib/containerd/attacker-preload/libpreload.so', A_1: 'x:y,z=1' }), [
      'LD_PRELOAD=/var/lib/containerd/attacker-preload/libpreload.so',
      'A_1=x:y,z=1',
    ]);
    assert.deepEqual(environmentWords({}), []);
  });
  it('refuses what a shell line would need to quote, naming it', () => {
    assert.throws(() => environmentWords({ LD_PRELOAD: '/x.so; rm -rf /' }), /"LD_PRELOAD=\/x\.so; rm -rf \/" is not a plain NAME=VALUE/);
    assert.throws(() => environmentWords({ 'A B': 'x' }), /not a plain NAME=VALUE/);
    assert.throws(() => environmentWords({ A: "it's" }), /not a plain NAME=VALUE/);
  });
});
