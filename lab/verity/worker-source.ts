/**
 * The hashing worker thread: its loop, and its source text, started with
 * `new Worker(src, { eval: true })` so it runs the same under tsx, plain
 * node (type stripping) and a bundled CLI, with no file path or loader.
 *
 * The source is assembled from the functions themselves (chunk.ts and
 * runWorkerJob below), so the worker runs the very code the calling thread
 * runs; nothing is kept as a second copy. verity.test.ts runs every
 * cross-check against veritysetup through both the worker threads and the
 * calling thread alone.
 *
 * Scheduling needs no messages per chunk: the threads of one call share an
 * Int32Array (`control`) and claim chunks with Atomics.add on CONTROL.NEXT,
 * so a thread that hashes faster simply takes more. Per call a worker gets
 * one message (the job) and sends one back ({ done } or { error }).
 */
import { chunkBuffers, hashChunk, type ChunkBuffers, type ChunkIo, type ChunkJob } from './chunk.ts';

/**
 * Slots of the shared control array.
 * - NEXT: the next chunk to claim (Atomics.add; values past the last chunk mean none left).
 * - ALLOWED: chunks below this may be read. All of them from the start,
 *   unless the caller budgets reads: then the calling thread raises it after
 *   each beforeRead() and notifies the waiting workers.
 * - STOP: 1 once the call ends or fails; no thread claims a chunk after it.
 * - STARTED + i: 1 once worker i has begun the job, before it claims anything.
 */
export const CONTROL = { NEXT: 0, ALLOWED: 1, STOP: 2, STARTED: 3 } as const;

export interface WorkerJob extends ChunkJob {
  chunks: number;
  /** The lowest tree level, written in place by every thread. */
  out: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** This worker's index, for its CONTROL.STARTED slot. */
  worker: number;
}

export type WorkerReply = { done: number } | { error: { message: string; verityCode?: string } };

/** Claims and hashes chunks until none is left or the call stops; returns how many chunks this thread hashed. */
export function runWorkerJob(job: WorkerJob, io: ChunkIo): number {
  const control = new Int32Array(job.control);
  const out = Buffer.from(job.out);
  Atomics.store(control, CONTROL.STARTED + job.worker, 1);
  let buffers: ChunkBuffers | undefined;
  let done = 0;
  for (;;) {
    if (Atomics.load(control, CONTROL.STOP) !== 0) break;
    const chunk = Atomics.add(control, CONTROL.NEXT, 1);
    if (chunk >= job.chunks) break;
    let allowed = Atomics.load(control, CONTROL.ALLOWED);
    while (allowed <= chunk && Atomics.load(control, CONTROL.STOP) === 0) {
      Atomics.wait(control, CONTROL.ALLOWED, allowed, 100);
      allowed = Atomics.load(control, CONTROL.ALLOWED);
    }
    if (allowed <= chunk) break; // the call stopped before this chunk was allowed
    buffers ??= chunkBuffers(job.salt, job.saltFirst, job.blockSize, job.blocksPerChunk);
    hashChunk(job, buffers, chunk, out, io);
    done++;
  }
  return done;
}

export const HASH_WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
const { readvSync } = require('node:fs');
const CONTROL = ${JSON.stringify(CONTROL)};
${chunkBuffers.toString()}
${hashChunk.toString()}
${runWorkerJob.toString()}
parentPort.on('message', (job) => {
  let reply;
  try {
    reply = { done: runWorkerJob(job, { readv: readvSync, hash }) };
  } catch (err) {
    Atomics.store(new Int32Array(job.control), CONTROL.STOP, 1);
    Atomics.notify(new Int32Array(job.control), CONTROL.ALLOWED);
    reply = { error: { message: err instanceof Error ? err.message : String(err), verityCode: err && err.verityCode } };
  }
  parentPort.postMessage(reply);
});
`;
