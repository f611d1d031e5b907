/**
 * Hashes the data blocks of a file into the lowest tree level (the digest of
 * every data block). This is the only place that reads data in bulk; memory
 * stays at one chunk per thread plus the level itself (digest size / data
 * block size of the data, 0.8 % for sha256 over 4 KiB blocks).
 *
 * The calling thread and, for larger files, worker threads claim chunks
 * from a shared counter; each thread reads its chunks itself (positional
 * readv on the same descriptor) and hashes them in place (chunk.ts), writing
 * digests straight into the shared level. The read budget (`beforeRead`) and
 * the abort signal stay with the calling thread: with a budget it allows
 * chunks one at a time, and the workers wait for that.
 *
 * For sha256, where the native leaf hasher is built (native-leaves.ts) and
 * nothing needs the calling thread meanwhile, it makes the level instead,
 * on POSIX threads (docs/verity.md).
 */
import type { FileHandle } from 'node:fs/promises';
import { hash } from 'node:crypto';
import { readvSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { chunkBuffers, hashChunk, type ChunkIo, type ChunkJob } from './chunk.ts';
import { verityError } from './errors.ts';
import type { VerityParams } from './params.ts';
import { layoutOf, levelBytes, type TreeGeometry } from './tree.ts';
import { loadNativeLeaves, type NativeLeaves } from './native-leaves.ts';
import { CONTROL, PARALLEL_THRESHOLD_BYTES, startHashThread, takeEarlyHashThread, type WorkerJob, type WorkerReply } from './worker-source.ts';

export interface ReadOptions {
  signal?: AbortSignal;
  /** called before each chunk is read, so a caller can impose a MB/s budget */
  beforeRead?: (bytes: number) => Promise<void>;
  /**
   * Threads that hash data blocks, the calling thread included unless
   * `offload` is set (1 without offload: no worker threads). Default: one
   * per core, at most 4, from 8 MiB of data up; else 1.
   */
  concurrency?: number;
  /**
   * Hash on worker threads only (`concurrency` of them), and keep the
   * calling thread's event loop free, as a server wants. Waits for the
   * workers to start (40-60 ms here for a fresh one; pooled ones are kept).
   * Default false: the calling thread hashes too, and starts at once.
   */
  offload?: boolean;
  /**
   * Bytes read at a time, rounded down to whole data blocks (at least one,
   * at most 1024: one readv call). Default 256 KiB, which stays in a core's
   * L2 cache between the read and the hashing.
   */
  chunkBytes?: number;
  /**
   * Hash sha256 leaves with the native hasher (native-leaves.ts) when it is
   * built and nothing needs the calling thread's event loop meanwhile (no
   * `offload`, no `beforeRead`). Default true; false forces Node's crypto.
   */
  native?: boolean;
}

export const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** IOV_MAX on Linux: one readv call per chunk. */
const MAX_BLOCKS_PER_CHUNK = 1024;
/** The calling thread gives its event loop a turn at least this often (ms) while it hashes. */
const YIELD_EVERY_MS = 5;

export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) {
    throw verityError('ABORTED', `${where}: aborted (${String(signal.reason)})`, signal.reason);
  }
}

/** Reads exactly `length` bytes at `position`, or fails naming the file and the shortfall. */
export async function readFully(
  file: FileHandle,
  target: Uint8Array,
  length: number,
  position: number,
  what: string,
): Promise<void> {
  let done = 0;
  while (done < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await file.read(target, done, length - done, position + done));
    } catch (err) {
      throw verityError('READ_FAILED', `${what}: read of ${length} bytes at offset ${position} failed: ${(err as Error).message}`, err);
    }
    if (bytesRead === 0) {
      throw verityError(
        'READ_FAILED',
        `${what}: expected ${length} bytes at offset ${position}, the file ended after ${done} (did it change while being read?)`,
      );
    }
    done += bytesRead;
  }
}

function resolveConcurrency(requested: number | undefined, dataBytes: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1 || requested > 64) {
      throw new RangeError(`concurrency: expected an integer from 1 to 64, got ${requested}`);
    }
    return requested;
  }
  return dataBytes >= PARALLEL_THRESHOLD_BYTES ? Math.min(availableParallelism(), 4) : 1;
}

const NODE_IO: ChunkIo = { readv: readvSync, hash };

/** The chunk whose read failed, for each READ_FAILED error a hashing thread raised. */
const failedChunk = new WeakMap<Error, number>();

function readFailed(message: string, chunk: unknown, cause?: unknown): Error {
  const err = verityError('READ_FAILED', message, cause);
  if (typeof chunk === 'number') failedChunk.set(err, chunk);
  return err;
}

/** A chunk error from chunk.ts (plain Error with verityCode and chunk) as a typed error. */
function chunkError(err: unknown): unknown {
  if (err instanceof Error && (err as { verityCode?: unknown }).verityCode === 'READ_FAILED') {
    return readFailed(err.message, (err as { chunk?: unknown }).chunk, err.cause);
  }
  return err;
}

/**
 * Of the failures of several threads, the one to report: a failure that is
 * not a read of one chunk (an abort, a worker that died) first, else the
 * read at the earliest chunk. Threads fail in whatever order they run, and
 * a file cut short fails every chunk past its new end; the earliest names
 * the first byte that went missing, the same on every run.
 */
function firstFailure(failures: unknown[]): unknown {
  const chunkOf = (err: unknown): number => (err instanceof Error ? (failedChunk.get(err) ?? -1) : -1);
  return failures.reduce((first, err) => (chunkOf(err) < chunkOf(first) ? err : first));
}

/**
 * Digests of data blocks 0 … geometry.dataBlocks-1, laid out as level 0
 * (entries padded per hash type, hash blocks zero-filled at the tail).
 *
 * Unless the work is offloaded, the calling thread starts on the first chunk
 * at once; workers join as they come up (a fresh worker thread takes 40-60
 * ms to start here) and stop when no chunk is left, so a small file never
 * waits for a worker. Every chunk is hashed exactly once, by whichever
 * thread claimed it; the result is checked to account for all of them.
 */
export async function hashDataLevel(
  file: FileHandle,
  what: string,
  params: VerityParams,
  geometry: TreeGeometry,
  options: ReadOptions = {},
): Promise<Buffer> {
  const native = options.native !== false && options.offload !== true && options.beforeRead === undefined && params.hashAlgorithm === 'sha256' ? loadNativeLeaves() : undefined;
  if (native) return hashDataLevelNatively(native, file, what, params, geometry, options);
  const layout = layoutOf(geometry);
  const blockSize = params.dataBlockSize;
  const total = geometry.dataBlocks;
  const requestedBlocks = Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / blockSize);
  const blocksPerChunk = Math.min(total, MAX_BLOCKS_PER_CHUNK, Math.max(1, requestedBlocks));
  const chunks = Math.ceil(total / blocksPerChunk);
  const threads = resolveConcurrency(options.concurrency, total * blockSize);
  const offload = options.offload === true;
  // The calling thread is one of the hashing threads unless the work is offloaded.
  const workerCount = offload ? Math.min(threads, chunks) : Math.min(threads - 1, chunks - 1);
  if (chunks + workerCount + 1 > 2 ** 31 - 1) {
    throw verityError('TREE_TOO_LARGE', `${what}: ${chunks} chunks of ${blocksPerChunk} blocks exceed the 2^31 a shared counter holds; raise chunkBytes`);
  }
  const shared = new SharedArrayBuffer(levelBytes(layout, total));
  const out = Buffer.from(shared);
  const controlBuffer = new SharedArrayBuffer(4 * (CONTROL.STARTED + workerCount));
  const control = new Int32Array(controlBuffer);
  const budget = options.beforeRead;
  let allowed = budget === undefined ? chunks : 0;
  Atomics.store(control, CONTROL.ALLOWED, allowed);
  const job: ChunkJob = {
    fd: file.fd,
    what,
    algorithm: params.hashAlgorithm,
    salt: new Uint8Array(params.salt),
    saltFirst: params.hashType === 1,
    blockSize,
    dataBlocks: total,
    blocksPerChunk,
    entrySize: layout.entrySize,
    hashesPerBlock: layout.hashesPerBlock,
    hashBlockSize: layout.hashBlockSize,
  };
  const chunkBytesOf = (chunk: number): number => Math.min(blocksPerChunk, total - chunk * blocksPerChunk) * blockSize;
  /** With a budget: calls beforeRead for each chunk up to `upTo` (exclusive), in order, and lets waiting workers read them. */
  const allowUpTo = async (upTo: number): Promise<void> => {
    while (budget !== undefined && allowed < Math.min(upTo, chunks)) {
      await budget(chunkBytesOf(allowed));
      throwIfAborted(options.signal, what);
      allowed++;
      Atomics.store(control, CONTROL.ALLOWED, allowed);
      Atomics.notify(control, CONTROL.ALLOWED);
    }
  };

  throwIfAborted(options.signal, what);
  const workers = acquireWorkers(workerCount);
  const runs = workers.map((worker, i) => worker.run({ ...job, chunks, slots: CONTROL, out: shared, control: controlBuffer, worker: i }));
  for (const run of runs) run.catch(() => undefined); // awaited below, when the worker took part
  let hashedHere = 0;
  let failure: unknown;
  try {
    if (!offload) {
      const buffers = chunkBuffers(job.salt, job.saltFirst, blockSize, blocksPerChunk);
      let lastYield = performance.now();
      for (;;) {
        throwIfAborted(options.signal, what);
        for (const worker of workers) worker.throwIfFailed();
        const chunk = Atomics.add(control, CONTROL.NEXT, 1);
        if (chunk >= chunks) break;
        // Keep a few chunks allowed ahead of the workers, so they rarely wait on the budget.
        if (budget !== undefined) await allowUpTo(chunk + 1 + 2 * workerCount);
        try {
          hashChunk(job, buffers, chunk, out, NODE_IO);
        } catch (err) {
          throw chunkError(err);
        }
        hashedHere++;
        if (performance.now() - lastYield >= YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
    }
    // Workers may hold claims past what was allowed so far (offloaded: all of them).
    await allowUpTo(chunks);
  } catch (err) {
    failure = err;
  }

  const stop = (): void => {
    Atomics.store(control, CONTROL.STOP, 1);
    Atomics.notify(control, CONTROL.ALLOWED);
  };
  let waitFor: HashWorker[];
  if (offload && failure === undefined) {
    // Only the workers hash: wait for all of them; an abort stops them between chunks.
    options.signal?.addEventListener('abort', stop, { once: true });
    waitFor = workers;
  } else {
    // A worker that had not begun by now never claims a chunk (STOP is set,
    // and without a failure every chunk is taken): wait only for those that
    // took part, so a small file does not wait for a worker to start up.
    stop();
    waitFor = workers.filter((_, i) => Atomics.load(control, CONTROL.STARTED + i) === 1);
  }
  for (const worker of waitFor) worker.hold();
  const settled = await Promise.allSettled(runs.filter((_, i) => waitFor.includes(workers[i]!)));
  options.signal?.removeEventListener('abort', stop);
  workers.forEach((worker, i) => {
    const release = (): void => releaseWorker(worker);
    runs[i]!.then(release, release);
  });
  const failures = settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failure !== undefined) failures.unshift(failure);
  if (failures.length > 0) throw firstFailure(failures);
  throwIfAborted(options.signal, what);
  let hashed = hashedHere;
  for (const result of settled) if (result.status === 'fulfilled') hashed += result.value;
  if (hashed !== chunks) {
    throw verityError('WORKER_FAILED', `${what}: ${hashed} of ${chunks} chunks were hashed; refusing an incomplete tree`);
  }
  return out;
}

/**
 * hashDataLevel on the native hasher: one call per slice of NATIVE_SLICE_BYTES
 * (its threads claim chunks inside the slice), the abort signal checked and
 * the event loop given a turn between slices.
 */
const NATIVE_SLICE_BYTES = 32 * 1024 * 1024;

async function hashDataLevelNatively(native: NativeLeaves, file: FileHandle, what: string, params: VerityParams, geometry: TreeGeometry, options: ReadOptions): Promise<Buffer> {
  const layout = layoutOf(geometry);
  const blockSize = params.dataBlockSize;
  const total = geometry.dataBlocks;
  const threads = resolveConcurrency(options.concurrency, total * blockSize);
  const out = Buffer.alloc(levelBytes(layout, total));
  const salt = new Uint8Array(params.salt);
  const perSlice = Math.max(1, Math.floor(NATIVE_SLICE_BYTES / blockSize));
  for (let first = 0; first < total; first += perSlice) {
    throwIfAborted(options.signal, what);
    const count = Math.min(perSlice, total - first);
    try {
      native.hashLeaves(file.fd, first, count, blockSize, salt, params.hashType === 1, out, layout.entrySize, layout.hashesPerBlock, layout.hashBlockSize, threads);
    } catch (err) {
      if ((err as { verityCode?: unknown }).verityCode === 'READ_FAILED') throw readFailed(`${what}: ${(err as Error).message}`, Math.floor(first / perSlice), err);
      throw verityError('WORKER_FAILED', `${what}: the native hasher failed: ${(err as Error).message}`, err);
    }
    if (first + count < total) await yieldToEventLoop();
  }
  throwIfAborted(options.signal, what);
  return out;
}

/**
 * Worker threads are kept between calls: starting one costs 40-60 ms of
 * CPU here. Idle workers are unref'd (they never keep the process alive)
 * and are terminated after IDLE_MS without work.
 */
const IDLE_MS = 10_000;
const MAX_IDLE_WORKERS = 4;
const idleWorkers: HashWorker[] = [];
let idleTimer: NodeJS.Timeout | undefined;

function acquireWorkers(count: number): HashWorker[] {
  const workers: HashWorker[] = [];
  while (workers.length < count && idleWorkers.length > 0) {
    const worker = idleWorkers.shift()!;
    // An idle worker that died (its 'exit' or 'error' fired) is dropped, not handed out.
    if (worker.reusable()) workers.push(worker);
    else void worker.terminate();
  }
  while (workers.length < count) workers.push(new HashWorker());
  return workers;
}

/** Returns a worker whose job has settled to the pool, or terminates it. */
function releaseWorker(worker: HashWorker): void {
  if (worker.reusable() && idleWorkers.length < MAX_IDLE_WORKERS) {
    idleWorkers.push(worker);
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => void releaseHashWorkers(), IDLE_MS).unref();
  } else {
    void worker.terminate();
  }
}

/** Terminates the idle hashing threads now (they also go after 10 s idle on their own). */
export async function releaseHashWorkers(): Promise<void> {
  clearTimeout(idleTimer);
  idleTimer = undefined;
  await Promise.all(idleWorkers.splice(0).map((w) => w.terminate()));
}

/**
 * One worker thread, running one job at a time. It is unref'd, so a worker
 * still starting up never holds the process open; while a caller waits for
 * its reply it is ref'd.
 */
class HashWorker {
  readonly #worker: Worker;
  #pending: { resolve: (done: number) => void; reject: (err: Error) => void } | undefined;
  #failure: Error | undefined;
  #terminated = false;

  constructor() {
    this.#worker = takeEarlyHashThread() ?? startHashThread();
    this.#worker.unref();
    this.#worker.on('message', (reply: WorkerReply) => {
      if ('done' in reply) {
        this.#settle(undefined, reply.done);
      } else {
        const { message, verityCode, chunk } = reply.error;
        this.#settle(verityCode === 'READ_FAILED' ? readFailed(message, chunk) : verityError('WORKER_FAILED', `hash worker failed: ${message}`));
      }
    });
    this.#worker.on('error', (err) => {
      this.#failure ??= verityError('WORKER_FAILED', `hash worker failed: ${err.message}`, err);
      this.#settle(this.#failure);
    });
    this.#worker.on('exit', (code) => {
      if (!this.#terminated) {
        this.#failure ??= verityError('WORKER_FAILED', `hash worker exited early with code ${code}`);
        this.#settle(this.#failure);
      }
    });
  }

  #settle(err: Error | undefined, done = 0): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.#worker.unref();
    if (err === undefined) pending?.resolve(done);
    else {
      this.#failure ??= err;
      pending?.reject(err);
    }
  }

  /** Sends one job; resolves with the number of chunks this worker hashed. */
  run(job: WorkerJob): Promise<number> {
    if (this.#pending !== undefined) throw new Error('HashWorker.run: a job is already running on this worker');
    return new Promise<number>((resolve, reject) => {
      if (this.#failure) {
        reject(this.#failure);
        return;
      }
      this.#pending = { resolve, reject };
      this.#worker.postMessage(job);
    });
  }

  /** Keeps the process alive until this worker's job replies. */
  hold(): void {
    if (this.#pending !== undefined) this.#worker.ref();
  }

  reusable(): boolean {
    return this.#failure === undefined && !this.#terminated && this.#pending === undefined;
  }

  throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }

  async terminate(): Promise<void> {
    this.#terminated = true;
    await this.#worker.terminate();
  }
}
