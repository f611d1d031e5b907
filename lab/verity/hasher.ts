/**
 * Streams the data blocks of a file and produces the lowest tree level (the
 * digest of every data block). This is the only place that reads data in
 * bulk; memory stays at a few chunks plus the level itself (digest size /
 * data block size of the data, 0.8 % for sha256 over 4 KiB blocks).
 *
 * Reading always stays on the calling thread (so `beforeRead` and `signal`
 * behave the same at any concurrency); worker threads, when used, hash
 * chunks and write digests straight into a SharedArrayBuffer level.
 */
import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { verityError } from './errors.ts';
import type { VerityParams } from './params.ts';
import { BlockHasher, layoutOf, levelBytes, type EntryLayout, type TreeGeometry } from './tree.ts';
import { HASH_WORKER_SOURCE } from './worker-source.ts';

export interface ReadOptions {
  signal?: AbortSignal;
  /** called before each chunk is read, so a caller can impose a MB/s budget */
  beforeRead?: (bytes: number) => Promise<void>;
  /**
   * Threads that hash data blocks, the calling thread included (1: no
   * worker threads). Default: one per core, at most 4, from 8 MiB of data
   * up; else 1.
   */
  concurrency?: number;
  /** Bytes read at a time, rounded down to whole data blocks. Default 2 MiB. */
  chunkBytes?: number;
}

export const DEFAULT_CHUNK_BYTES = 2 * 1024 * 1024;
/** Below this much data, starting threads costs more than it saves. */
export const PARALLEL_THRESHOLD_BYTES = 8 * 1024 * 1024;
const SLOTS_PER_WORKER = 2;

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

/** Where one chunk is read to: a worker's buffer, or one of the calling thread's two. */
type Target = { worker: HashWorker; slot: number } | { local: Buffer };

interface PendingChunk {
  first: number;
  count: number;
  target: Target;
  read: Promise<void>;
}

/**
 * Digests of data blocks 0 … geometry.dataBlocks-1, laid out as level 0
 * (entries padded per hash type, hash blocks zero-filled at the tail).
 *
 * Scheduling: each chunk goes to a worker with a free buffer, or, when all
 * are busy (or still starting up, which takes 20-40 ms), is hashed right here
 * on the calling thread. The read of the next chunk is started before the
 * current one is hashed, so reading overlaps hashing, and no thread waits
 * for another until the end.
 */
export async function hashDataLevel(
  file: FileHandle,
  what: string,
  params: VerityParams,
  geometry: TreeGeometry,
  options: ReadOptions = {},
): Promise<Buffer> {
  const layout = layoutOf(geometry);
  const blockSize = params.dataBlockSize;
  const total = geometry.dataBlocks;
  const blocksPerChunk = Math.min(total, Math.max(1, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / blockSize)));
  const chunkBytes = blocksPerChunk * blockSize;
  const workerCount = resolveConcurrency(options.concurrency, total * blockSize) - 1;
  const outBytes = levelBytes(layout, total);
  const shared = workerCount > 0 ? new SharedArrayBuffer(outBytes) : undefined;
  const out = shared === undefined ? Buffer.alloc(outBytes) : Buffer.from(shared);
  const hasher = new BlockHasher(params, blockSize);
  const locals = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)] as const;
  const workers: HashWorker[] = [];

  /** Picks a destination and starts reading chunk `first` into it; `busy` is the local buffer still being hashed. */
  const startRead = async (first: number, busy: Buffer | undefined): Promise<PendingChunk> => {
    const count = Math.min(blocksPerChunk, total - first);
    throwIfAborted(options.signal, what);
    for (const worker of workers) worker.throwIfFailed();
    await options.beforeRead?.(count * blockSize);
    const worker = workers.find((w) => w.hasFreeSlot());
    const target: Target = worker === undefined ? { local: locals[0] === busy ? locals[1] : locals[0] } : { worker, slot: worker.takeSlot() };
    const into = 'local' in target ? target.local : target.worker.slot(target.slot);
    const read = readFully(file, into, count * blockSize, first * blockSize, what);
    read.catch(() => undefined); // awaited below; this only keeps an early exit from leaving it unhandled
    return { first, count, target, read };
  };

  let next: PendingChunk | undefined;
  let drained = false;
  try {
    workers.push(...acquireWorkers(workerCount));
    for (const worker of workers) worker.bind(params, layout, shared!, chunkBytes);
    next = await startRead(0, undefined);
    while (next !== undefined) {
      const current: PendingChunk = next;
      next = undefined;
      await current.read;
      const busy = 'local' in current.target ? current.target.local : undefined;
      const following = current.first + current.count;
      if (following < total) next = await startRead(following, busy);
      if ('local' in current.target) {
        hasher.digestInto(current.target.local, current.count, out, current.first, layout);
      } else {
        current.target.worker.submit(current.target.slot, current.first, current.count);
      }
    }
    await Promise.all(workers.map((w) => w.drain()));
    drained = true;
  } finally {
    await next?.read.catch(() => undefined);
    await releaseWorkers(workers, drained);
  }
  return out;
}

/**
 * Worker threads are kept between calls: starting one costs 20-40 ms of CPU,
 * and a fresh one runs its hashing loop unoptimised for its first chunks.
 * Idle workers are unref'd (they never keep the process alive) and are
 * terminated after IDLE_MS without work.
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

/** Returns healthy, drained workers to the pool; anything else is terminated. */
async function releaseWorkers(workers: HashWorker[], drained: boolean): Promise<void> {
  const keep = drained ? workers.filter((w) => w.reusable()) : [];
  const drop = workers.filter((w) => !keep.includes(w));
  for (const worker of keep) {
    worker.unbind();
    if (idleWorkers.length < MAX_IDLE_WORKERS) idleWorkers.push(worker);
    else drop.push(worker);
  }
  if (idleWorkers.length > 0) {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => void releaseHashWorkers(), IDLE_MS).unref();
  }
  await Promise.all(drop.map((w) => w.terminate()));
}

/** Terminates the idle hashing threads now (they also go after 10 s idle on their own). */
export async function releaseHashWorkers(): Promise<void> {
  clearTimeout(idleTimer);
  idleTimer = undefined;
  await Promise.all(idleWorkers.splice(0).map((w) => w.terminate()));
}

/** One worker thread with its own pair of chunk buffers (double buffering: read one while the other hashes). */
class HashWorker {
  readonly #worker: Worker;
  #slots: SharedArrayBuffer[] = [];
  #views: Uint8Array[] = [];
  #free: number[] = [];
  #busy = 0;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #terminated = false;

  constructor() {
    this.#worker = new Worker(HASH_WORKER_SOURCE, { eval: true, execArgv: [] });
    this.#worker.unref();
    this.#worker.on('message', (slot: number) => {
      this.#free.push(slot);
      this.#busy--;
      this.#notify();
    });
    this.#worker.on('error', (err) => {
      this.#failure ??= verityError('WORKER_FAILED', `hash worker failed: ${err.message}`, err);
      this.#notify();
    });
    this.#worker.on('exit', (code) => {
      if (!this.#terminated) {
        this.#failure ??= verityError('WORKER_FAILED', `hash worker exited early with code ${code}`);
        this.#notify();
      }
    });
  }

  /** Prepares the worker for one call: parameters, the shared output level, two chunk buffers. */
  bind(params: VerityParams, layout: EntryLayout, out: SharedArrayBuffer, chunkBytes: number): void {
    if (this.#slots[0]?.byteLength !== chunkBytes) {
      this.#slots = Array.from({ length: SLOTS_PER_WORKER }, () => new SharedArrayBuffer(chunkBytes));
      this.#views = this.#slots.map((s) => new Uint8Array(s));
    }
    this.#free = this.#slots.map((_, i) => i);
    this.#busy = 0;
    this.#worker.ref(); // while a call waits on it, the worker must keep the event loop alive
    this.#worker.postMessage({
      kind: 'bind',
      algorithm: params.hashAlgorithm,
      salt: new Uint8Array(params.salt),
      saltFirst: params.hashType === 1,
      blockSize: params.dataBlockSize,
      entrySize: layout.entrySize,
      hashesPerBlock: layout.hashesPerBlock,
      hashBlockSize: layout.hashBlockSize,
      out,
      slots: this.#slots,
    });
  }

  unbind(): void {
    this.#worker.postMessage({ kind: 'unbind' });
    this.#worker.unref();
  }

  reusable(): boolean {
    return this.#failure === undefined && !this.#terminated && this.#busy === 0;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  slot(index: number): Uint8Array {
    return this.#views[index]!;
  }

  hasFreeSlot(): boolean {
    return this.#failure === undefined && this.#free.length > 0;
  }

  takeSlot(): number {
    const slot = this.#free.pop();
    if (slot === undefined) throw new Error('HashWorker.takeSlot: no free slot (check hasFreeSlot first)');
    return slot;
  }

  throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }

  submit(slot: number, firstBlock: number, count: number): void {
    this.#busy++;
    this.#worker.postMessage({ kind: 'job', slot, firstBlock, count });
  }

  async drain(): Promise<void> {
    while (this.#busy > 0) {
      if (this.#failure) throw this.#failure;
      await this.#wait();
    }
    if (this.#failure) throw this.#failure;
  }

  async terminate(): Promise<void> {
    this.#terminated = true;
    await this.#worker.terminate();
  }
}
