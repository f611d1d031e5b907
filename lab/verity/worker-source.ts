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
 * Each function goes into the text as an expression, and reaches the others
 * only through its arguments, never by a module-level name: a bundler may
 * rename module-level names (esbuild does on a collision), and the text
 * would then call a name the worker does not have.
 *
 * Scheduling needs no messages per chunk: the threads of one call share an
 * Int32Array (`control`) and claim chunks with Atomics.add on slot NEXT,
 * so a thread that hashes faster simply takes more. Per call a worker gets
 * one message (the job) and sends one back ({ done } or { error }).
 */
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { chunkBuffers, hashChunk, type ChunkBuffers, type ChunkIo, type ChunkJob } from './chunk.ts';
import { loadNativeLeaves } from './native-leaves.ts';

/**
 * Slots of the shared control array.
 * - NEXT: the next chunk to claim (Atomics.add; values past the last chunk mean none left).
 * - ALLOWED: chunks below this may be read. All of them from the start,
 *   unless the caller budgets reads: then the calling thread raises it after
 *   each beforeRead() and notifies the waiting workers.
 * - STOP: 1 once the calling thread is through with its share, or on a
 *   failure or abort (offloaded calls: only then); no thread claims a chunk after it.
 * - STARTED + i: 1 once worker i has begun the job, before it claims anything.
 */
export const CONTROL = { NEXT: 0, ALLOWED: 1, STOP: 2, STARTED: 3 } as const;

/** Below this much data, starting threads costs more than it saves (hasher.ts hashes on one thread). */
export const PARALLEL_THRESHOLD_BYTES = 8 * 1024 * 1024;

export interface WorkerJob extends ChunkJob {
  chunks: number;
  /** The CONTROL slot numbers, passed along rather than named in the worker's text. */
  slots: typeof CONTROL;
  /** The lowest tree level, written in place by every thread. */
  out: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** This worker's index, for its CONTROL.STARTED slot. */
  worker: number;
}

export type WorkerReply = { done: number } | { error: { message: string; verityCode?: string; chunk?: number } };

/** chunk.ts's functions as the worker loop reaches them. */
export interface ChunkFunctions {
  chunkBuffers: typeof chunkBuffers;
  hashChunk: typeof hashChunk;
}

/** Claims and hashes chunks until none is left or the call stops; returns how many chunks this thread hashed. */
export function runWorkerJob(job: WorkerJob, io: ChunkIo, fns: ChunkFunctions): number {
  const control = new Int32Array(job.control);
  const { NEXT, ALLOWED, STOP, STARTED } = job.slots;
  const out = Buffer.from(job.out);
  Atomics.store(control, STARTED + job.worker, 1);
  let buffers: ChunkBuffers | undefined;
  let done = 0;
  for (;;) {
    if (Atomics.load(control, STOP) !== 0) break;
    const chunk = Atomics.add(control, NEXT, 1);
    if (chunk >= job.chunks) break;
    let allowed = Atomics.load(control, ALLOWED);
    while (allowed <= chunk && Atomics.load(control, STOP) === 0) {
      Atomics.wait(control, ALLOWED, allowed, 100);
      allowed = Atomics.load(control, ALLOWED);
    }
    // Read again after seeing STOP: the calling thread allows every chunk
    // and then stops, so a value read before STOP may be stale, and this
    // claimed chunk would go unhashed ("6 of 7 chunks were hashed").
    allowed = Atomics.load(control, ALLOWED);
    if (allowed <= chunk) break; // the call stopped before this chunk was allowed
    buffers ??= fns.chunkBuffers(job.salt, job.saltFirst, job.blockSize, job.blocksPerChunk);
    fns.hashChunk(job, buffers, chunk, out, io);
    done++;
  }
  return done;
}

export const HASH_WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
const { readvSync } = require('node:fs');
const chunkFunctions = { chunkBuffers: (${chunkBuffers.toString()}), hashChunk: (${hashChunk.toString()}) };
const runWorkerJob = (${runWorkerJob.toString()});
parentPort.on('message', (job) => {
  let reply;
  try {
    reply = { done: runWorkerJob(job, { readv: readvSync, hash }, chunkFunctions) };
  } catch (err) {
    const control = new Int32Array(job.control);
    Atomics.store(control, job.slots.STOP, 1);
    Atomics.notify(control, job.slots.ALLOWED);
    reply = { error: { message: err instanceof Error ? err.message : String(err), verityCode: err && err.verityCode, chunk: err && err.chunk } };
  }
  parentPort.postMessage(reply);
});
`;

/** A new hashing thread running HASH_WORKER_SOURCE, waiting for its first job. */
export function startHashThread(): Worker {
  return new Worker(HASH_WORKER_SOURCE, { eval: true, execArgv: [] });
}

/**
 * One hashing thread started before the CLI's modules load.
 *
 * A Node worker thread takes about 27 ms to start here, and the CLI takes
 * about 15 ms from its first line to its first hashed chunk; a thread
 * started by the first hashing call joins it late, and the calling thread
 * hashes alone meanwhile. bin/integrity-lab.mjs starts this one first thing
 * for `verity format|verify|root-hash` when one of its arguments names a
 * file that will be hashed on several threads, and the first call that
 * wants a worker takes it (hasher.ts acquireWorkers). It is unref'd: unused
 * (a usage error) it never keeps the process alive, but the process does
 * wait at exit for a thread that is still starting (about 15 ms), which is
 * why a small file gets none.
 */
let early: { thread: Worker; dead: boolean } | undefined;

export function startEarlyHashThread(start: () => Worker = startHashThread): void {
  if (early !== undefined || availableParallelism() < 2) return;
  const started = { thread: start(), dead: false };
  started.thread.unref();
  // Until it is taken, a failure only marks it unusable (and is not an uncaught 'error');
  // after, its taker's own listeners report it.
  const markDead = (): void => {
    started.dead = true;
  };
  started.thread.once('error', markDead).once('exit', markDead);
  early = started;
}

/** For the CLI: starts the early thread if one of `args` is a regular file of PARALLEL_THRESHOLD_BYTES or more, and the native hasher is not built. */
export function startEarlyHashThreadForLargeFile(args: readonly string[], nativeBuilt: () => boolean = () => loadNativeLeaves() !== undefined): void {
  const large = (arg: string): boolean => {
    const stats = statSync(arg, { throwIfNoEntry: false });
    return stats !== undefined && stats.isFile() && stats.size >= PARALLEL_THRESHOLD_BYTES;
  };
  // With the native hasher built, its own threads start in microseconds: no worker is wanted.
  if (args.some(large) && !nativeBuilt()) startEarlyHashThread();
}

/** The early thread, once, if it was started and has not died; else undefined. */
export function takeEarlyHashThread(): Worker | undefined {
  const taken = early;
  early = undefined;
  if (taken === undefined) return undefined;
  if (taken.dead) {
    void taken.thread.terminate();
    return undefined;
  }
  return taken.thread;
}
