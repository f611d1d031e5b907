import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCapabilityMask, hostCapabilities } from './capabilities.ts';

describe('decodeCapabilityMask', () => {
  describe('when SYS_RESOURCE (bit 24) is cleared, as on the lab host', () => {
    it('lists it as missing and keeps the others', () => {
      const { present, missing } = decodeCapabilityMask('000001fffeffffff');
      assert.deepEqual(missing, ['SYS_RESOURCE']);
      assert.ok(present.includes('SYS_ADMIN'));
      assert.equal(present.length, 40);
    });
  });
});

describe('hostCapabilities', () => {
  it('reads CapBnd from a status text', () => {
    assert.deepEqual(hostCapabilities('Name:\tx\nCapBnd:\t0000000000000003\n').present, ['CHOWN', 'DAC_OVERRIDE']);
  });
});
