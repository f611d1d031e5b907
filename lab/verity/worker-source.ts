/**
 * Source of the hashing worker thread, kept as plain CommonJS text and
 * started with `new Worker(src, { eval: true })`, so it runs the same under
 * tsx, plain node and a bundled CLI (no file path or TypeScript loader).
 *
 * It is a copy of BlockHasher.digest + entryOffset from tree.ts, kept
 * tiny on purpose; verity.test.ts runs every cross-check against
 * veritysetup through both this worker and the in-thread path.
 *
 * Protocol: workerData = { algorithm, salt, saltFirst, blockSize, entrySize,
 * hashesPerBlock, hashBlockSize, out: SharedArrayBuffer, slots: SharedArrayBuffer[] }.
 * Message in: { slot, firstBlock, count } — hash `count` blocks in slots[slot]
 * and write their digests into `out` at entries firstBlock…; message out: slot.
 */
export const HASH_WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { hash } = require('node:crypto');
const w = workerData;
const out = Buffer.from(w.out);
const slots = w.slots.map((s) => Buffer.from(s));
const salt = Buffer.from(w.salt);
const scratch = Buffer.alloc(salt.length + w.blockSize);
salt.copy(scratch, w.saltFirst ? 0 : w.blockSize);
const blockAt = w.saltFirst ? salt.length : 0;
parentPort.on('message', (job) => {
  const data = slots[job.slot];
  for (let i = 0; i < job.count; i++) {
    let digest;
    if (salt.length === 0) {
      digest = hash(w.algorithm, data.subarray(i * w.blockSize, (i + 1) * w.blockSize), 'binary');
    } else {
      // Buffer#copy, not TypedArray#set: set is several times slower until V8 warms up.
      data.copy(scratch, blockAt, i * w.blockSize, (i + 1) * w.blockSize);
      digest = hash(w.algorithm, scratch, 'binary');
    }
    // latin1 strings, not 'buffer' results: see BlockHasher.digestInto.
    const index = job.firstBlock + i;
    out.write(digest, Math.floor(index / w.hashesPerBlock) * w.hashBlockSize + (index % w.hashesPerBlock) * w.entrySize, 'latin1');
  }
  parentPort.postMessage(job.slot);
});
`;
