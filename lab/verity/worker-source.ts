/**
 * Source of the hashing worker thread, kept as plain CommonJS text and
 * started with `new Worker(src, { eval: true })`, so it runs the same under
 * tsx, plain node and a bundled CLI (no file path or TypeScript loader).
 *
 * It is a copy of BlockHasher.digest + entryOffset from tree.ts, kept
 * tiny on purpose; verity.test.ts runs every cross-check against
 * veritysetup through both this worker and the in-thread path.
 *
 * Protocol (workers are pooled across calls, so parameters come per call):
 * - { kind: 'bind', algorithm, salt, saltFirst, blockSize, entrySize,
 *   hashesPerBlock, hashBlockSize, out: SharedArrayBuffer, slots: SharedArrayBuffer[] }
 * - { kind: 'job', slot, firstBlock, count }: hash `count` blocks in
 *   slots[slot], write their digests into `out` at entries firstBlock…,
 *   then post back `slot`.
 * - { kind: 'unbind' }: drop the call's buffers.
 */
export const HASH_WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
let w = null;
parentPort.on('message', (m) => {
  if (m.kind === 'bind') {
    const salt = Buffer.from(m.salt);
    const scratch = Buffer.alloc(salt.length + m.blockSize);
    salt.copy(scratch, m.saltFirst ? 0 : m.blockSize);
    w = { ...m, salt, scratch, blockAt: m.saltFirst ? salt.length : 0, out: Buffer.from(m.out), slots: m.slots.map((s) => Buffer.from(s)) };
    return;
  }
  if (m.kind === 'unbind') {
    w = null;
    return;
  }
  const data = w.slots[m.slot];
  for (let i = 0; i < m.count; i++) {
    let digest;
    if (w.salt.length === 0) {
      digest = hash(w.algorithm, data.subarray(i * w.blockSize, (i + 1) * w.blockSize), 'binary');
    } else {
      // Buffer#copy, not TypedArray#set: set is several times slower until V8 warms up.
      data.copy(w.scratch, w.blockAt, i * w.blockSize, (i + 1) * w.blockSize);
      digest = hash(w.algorithm, w.scratch, 'binary');
    }
    // latin1 strings, not 'buffer' results: see BlockHasher.digestInto.
    const index = m.firstBlock + i;
    w.out.write(digest, Math.floor(index / w.hashesPerBlock) * w.hashBlockSize + (index % w.hashesPerBlock) * w.entrySize, 'latin1');
  }
  parentPort.postMessage(m.slot);
});
`;
