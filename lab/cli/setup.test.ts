import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { describeSetup } from './setup.ts';

describe('describeSetup', () => {
  describe('when this run installed and started the engine and built the image', () => {
    it('says so, and that dockerd keeps running', () => {
      const line = describeSetup({ engine: { serverVersion: '20.10.24', startedByUs: true }, image: { tag: 'integrity-lab/node:abc', built: true, method: 'debootstrap' }, installed: [] });
      assert.match(line, /Docker engine 20\.10\.24 started by this run \(dockerd keeps running/);
      assert.match(line, /node image integrity-lab\/node:abc built \(debootstrap\)/);
    });
  });
  describe('when everything was there already', () => {
    it('says nothing was started', () => {
      const line = describeSetup({ engine: { serverVersion: '20.10.24', startedByUs: false }, image: { tag: 't', built: false, method: 'cache' }, installed: [] });
      assert.equal(line, 'Docker engine 20.10.24 was already running; node image t reused from the cache');
    });
  });
});
