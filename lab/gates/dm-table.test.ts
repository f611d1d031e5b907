import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkVerityTable, parseDmTable } from './dm-table.ts';
import { DELIVERY_KIT_PARAMS } from '../verity/index.ts';

const ROOT = 'ab'.repeat(32);
const SALT = DELIVERY_KIT_PARAMS.salt.toString('hex');
const LAYER_BYTES = 8 * 4096;
/** A table as `layer-bind dm-table` prints what veritysetup opened over loop 7:3 (the kernel's verity_status format). */
const table = (params = `1 7:3 7:4 4096 4096 8 1 sha256 ${ROOT} ${SALT}`, line = `0 64 verity ${params}`) => `253:2 1\n${line}\n`;
const expected = { dataDevice: '7:3', dataBytes: LAYER_BYTES, rootHash: ROOT, params: DELIVERY_KIT_PARAMS };
const check = (text: string, want = expected) => checkVerityTable(parseDmTable(text, 'integrity-c-0'), want, 'integrity-c-0');

describe('parseDmTable', () => {
  it("reads the device's number and each target", () => {
    const t = parseDmTable(table(), 'integrity-c-0');
    assert.equal(t.majmin, '253:2');
    assert.deepEqual(t.targets.map((x) => [x.start, x.length, x.type]), [[0n, 64n, 'verity']]);
  });
  it('refuses output without a header, and a target count the lines do not match', () => {
    assert.throws(() => parseDmTable('', 'd'), /no table header/);
    assert.throws(() => parseDmTable('253:2 2\n0 64 verity 1\n', 'd'), /counts 2 targets, 1 were printed/);
  });
});

describe('checkVerityTable', () => {
  it('accepts one verity target over the whole layer, on the verified loop device, with the signed root hash', () => {
    assert.doesNotThrow(() => check(table()));
  });
  const refused: [string, string, RegExp][] = [
    ['a linear target (veritysetup or a library replaced)', table(undefined, '0 64 linear 7:9 0'), /target is "linear", not "verity"/],
    ['another root hash', table(`1 7:3 7:4 4096 4096 8 1 sha256 ${'cd'.repeat(32)} ${SALT}`), /root hash cdcd.*, the signed manifest says abab/],
    ['another data device (not the loop device bound to the hashed inode)', table(`1 7:5 7:4 4096 4096 8 1 sha256 ${ROOT} ${SALT}`), /data device 7:5, expected 7:3/],
    ['part of the layer only', table(undefined, `0 32 verity 1 7:3 7:4 4096 4096 8 1 sha256 ${ROOT} ${SALT}`), /maps sectors 0\+32, the layer is 64 sectors/],
    ['fewer data blocks than the layer', table(`1 7:3 7:4 4096 4096 4 1 sha256 ${ROOT} ${SALT}`), /data blocks 4, expected 8/],
    ['another salt', table(`1 7:3 7:4 4096 4096 8 1 sha256 ${ROOT} -`), /salt -, expected/],
    ['another algorithm', table(`1 7:3 7:4 4096 4096 8 1 sha1 ${ROOT} ${SALT}`), /algorithm sha1, expected sha256/],
    ['a device that does not stop on corruption', table(`1 7:3 7:4 4096 4096 8 1 sha256 ${ROOT} ${SALT} 1 ignore_corruption`), /optional parameters the gate did not ask for: 1 ignore_corruption/],
    ['a device that checks each block only once', table(`1 7:3 7:4 4096 4096 8 1 sha256 ${ROOT} ${SALT} 1 check_at_most_once`), /optional parameters .*check_at_most_once/],
    ['two targets', '253:2 2\n0 32 verity 1\n32 32 linear 7:9 0\n', /2 targets, expected one/],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what}`, () => {
      assert.throws(() => check(text), (err: Error) => message.test(err.message) && /integrity-c-0 \(253:2\) is not the verity device the gate asked for/.test(err.message));
    });
  }
});
