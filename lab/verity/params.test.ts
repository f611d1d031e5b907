import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { DELIVERY_KIT_PARAMS, DELIVERY_KIT_SALT_HEX, parseRootHash, parseSalt, validateParams, type VerityParams } from './params.ts';

const base: VerityParams = { hashAlgorithm: 'sha256', dataBlockSize: 4096, hashBlockSize: 4096, salt: Buffer.alloc(0), hashType: 1 };

describe('DELIVERY_KIT_PARAMS', () => {
  describe('when the signer and the gates share it', () => {
    it('is sha256, 4096/4096, type 1 with the documented nothing-up-my-sleeve salt', () => {
      const derived = createHash('sha256').update('integrity-lab/delivery-kit/dm-verity/salt/v1').digest('hex');
      assert.equal(DELIVERY_KIT_SALT_HEX, derived);
      assert.equal(DELIVERY_KIT_PARAMS.salt.toString('hex'), derived);
      assert.deepEqual(
        [DELIVERY_KIT_PARAMS.hashAlgorithm, DELIVERY_KIT_PARAMS.dataBlockSize, DELIVERY_KIT_PARAMS.hashBlockSize, DELIVERY_KIT_PARAMS.hashType],
        ['sha256', 4096, 4096, 1],
      );
    });

    it('cannot be changed by a caller that mutates it', () => {
      DELIVERY_KIT_PARAMS.salt.fill(0);
      assert.equal(DELIVERY_KIT_PARAMS.salt.toString('hex'), DELIVERY_KIT_SALT_HEX);
      assert.throws(() => {
        (DELIVERY_KIT_PARAMS as { dataBlockSize: number }).dataBlockSize = 512;
      }, TypeError);
    });

    it('differs from containerd 2.3\'s all-zero salt, so the two root hashes of one layer never coincide', () => {
      assert.ok(DELIVERY_KIT_PARAMS.salt.some((b) => b !== 0));
    });
  });
});

describe('validateParams', () => {
  describe('when a block size is out of range or not a power of two', () => {
    for (const size of [0, 256, 1000, 4095, 1024 * 1024, 4096.5]) {
      it(`refuses ${size} with INVALID_BLOCK_SIZE`, () => {
        assert.throws(() => validateParams({ ...base, dataBlockSize: size }), (err) => isLabError(err, 'INVALID_BLOCK_SIZE'));
        assert.throws(() => validateParams({ ...base, hashBlockSize: size }), (err) => isLabError(err, 'INVALID_BLOCK_SIZE'));
      });
    }
  });

  describe('when the sizes are the extremes veritysetup accepts', () => {
    it('accepts 512 and 524288', () => {
      validateParams({ ...base, dataBlockSize: 512, hashBlockSize: 524288 });
    });
  });

  describe('when the algorithm, hash type or salt is wrong', () => {
    it('refuses each with its own code', () => {
      assert.throws(() => validateParams({ ...base, hashAlgorithm: 'md5' as never }), (err) => isLabError(err, 'UNSUPPORTED_HASH'));
      assert.throws(() => validateParams({ ...base, hashType: 2 as never }), (err) => isLabError(err, 'INVALID_HASH_TYPE'));
      assert.throws(() => validateParams({ ...base, salt: Buffer.alloc(257) }), (err) => isLabError(err, 'INVALID_SALT'));
    });
  });
});

describe('parseSalt', () => {
  describe('when given "-"', () => {
    it('means no salt, as in veritysetup', () => {
      assert.equal(parseSalt('-').length, 0);
    });
  });

  describe('when given hex', () => {
    it('decodes either case and allows 256 bytes', () => {
      assert.deepEqual(parseSalt('00aAfF'), Buffer.from([0, 0xaa, 0xff]));
      assert.equal(parseSalt('ab'.repeat(256)).length, 256);
    });
  });

  describe('when given something else', () => {
    for (const bad of ['xyz', 'abc', '0g', ' 00', 'ab'.repeat(257)]) {
      it(`refuses "${bad.slice(0, 12)}" with INVALID_SALT`, () => {
        assert.throws(() => parseSalt(bad), (err) => isLabError(err, 'INVALID_SALT'));
      });
    }
  });
});

describe('parseRootHash', () => {
  const hex = 'ab'.repeat(32);

  describe('when the hash is hex of the digest length', () => {
    it('returns the bytes', () => {
      assert.deepEqual(parseRootHash(hex.toUpperCase(), 'sha256'), Buffer.from(hex, 'hex'));
    });
  });

  describe('when it is not hex, or not one digest long', () => {
    for (const [bad, algorithm] of [
      ['zz'.repeat(32), 'sha256'],
      [hex.slice(1), 'sha256'],
      [hex, 'sha512'],
      [hex + '00', 'sha256'],
      ['', 'sha1'],
    ] as const) {
      it(`refuses "${bad.slice(0, 10)}…" (${bad.length} chars) for ${algorithm} with INVALID_ROOT_HASH`, () => {
        assert.throws(() => parseRootHash(bad, algorithm), (err) => isLabError(err, 'INVALID_ROOT_HASH'));
      });
    }
    it('refuses a Buffer of the wrong length too', () => {
      assert.throws(() => parseRootHash(Buffer.alloc(20), 'sha256'), (err) => isLabError(err, 'INVALID_ROOT_HASH'));
    });
  });
});
