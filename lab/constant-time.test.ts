import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { equalBytes, equalHex, equalText } from './constant-time.ts';

describe('equalHex', () => {
  describe('when comparing hex digests', () => {
    it('is true for the same digest in either case, false for any other', () => {
      assert.equal(equalHex('ab'.repeat(32), 'ab'.repeat(32)), true);
      assert.equal(equalHex('AB'.repeat(32), 'ab'.repeat(32)), true);
      assert.equal(equalHex('ab'.repeat(32), 'ac'.repeat(32)), false);
      assert.equal(equalHex('ab'.repeat(32), 'ab'.repeat(31)), false);
    });
  });
  describe('when either side is not a digest', () => {
    it('is false even for two equal strings: unreadable values never match each other', () => {
      assert.equal(equalHex('', ''), false);
      assert.equal(equalHex('missing', 'missing'), false);
      assert.equal(equalHex('abc', 'abc'), false);
      // Buffer.from('zz…', 'hex') would decode both to nothing and call them equal.
      assert.equal(equalHex('zz', 'yy'), false);
    });
  });
});

describe('equalBytes', () => {
  describe('when the lengths differ', () => {
    it('is false instead of throwing as timingSafeEqual does', () => {
      assert.equal(equalBytes(Buffer.from([1, 2]), Buffer.from([1, 2, 3])), false);
      assert.equal(equalBytes(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3])), true);
    });
  });
});

describe('equalText', () => {
  describe('when comparing signed texts', () => {
    it('compares their UTF-8 bytes', () => {
      assert.equal(equalText('sha256:é', 'sha256:é'), true);
      assert.equal(equalText('sha256:é', 'sha256:e'), false);
    });
  });
});
