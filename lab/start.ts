/**
 * The one way to start a lab for a profile, on either substrate: the
 * profile's integrity components (lab/components.ts), progress, and whether
 * to keep the lab afterwards (`INTEGRITY_LAB_KEEP=1` unless the caller says).
 * Steps, the CLI and the benchmarks call these instead of chaining builders.
 */
import { componentsFor } from './components.ts';
import { registerAdmissionOf } from './kind/admission.ts';
import { LabError, describeError } from './errors.ts';
import { KindCluster, clustersStarting, type StartedKindCluster } from './kind/cluster.ts';
import { LabNode, StartedLabNode, activeNodes, type ContainerdStore } from './node/index.ts';
import { silent, type ProgressListener } from './progress.ts';
import type { LabProfile } from './spec/schemas.ts';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

export interface StartOptions {
  progress?: ProgressListener;
  /** Keep the lab after the run; default: INTEGRITY_LAB_KEEP=1. */
  keep?: boolean;
  /** Where a lab node's containerd keeps layers and blobs (LabNode.withContainerdStore); default `disk`. */
  containerdStore?: ContainerdStore;
}

const keepByDefault = () => process.env.INTEGRITY_LAB_KEEP === '1';

/** Set in this thread once it is interrupted: no lab starts after that. */
let interruptedBy: NodeJS.Signals | undefined;
/** This thread's removal of its labs, once interrupted. */
let removal: Promise<void> | undefined;
/** Aborted with the interrupt: a kind start still preparing stops there (KindCluster.withSignal). */
const interruption = new AbortController();
/** Lab starts under way in this thread (a node is known to `activeNodes` only once its container runs). */
const startsInFlight = new Set<Promise<unknown>>();

/** Runs a start, known to the interrupt handler; refused once the thread is interrupted. */
function tracked<T>(start: () => Promise<T>): Promise<T> {
  if (interruptedBy) {
    return Promise.reject(new LabError<'INTERRUPTED'>('INTERRUPTED', `${interruptedBy}: the run is stopping and removing its labs; no new lab is started`));
  }
  const started = start();
  startsInFlight.add(started);
  void started.then(
    () => startsInFlight.delete(started),
    () => startsInFlight.delete(started),
  );
  return started;
}

/** A single lab node with the profile's components. */
export function startLabNode(profile: LabProfile, options: StartOptions = {}): Promise<StartedLabNode> {
  return tracked(() => startLabNodeNow(profile, options));
}

function startLabNodeNow(profile: LabProfile, options: StartOptions): Promise<StartedLabNode> {
  return new LabNode(profile)
    .withComponents(componentsFor(profile))
    .withProgress(options.progress ?? silent)
    .withKeep(options.keep ?? keepByDefault())
    .withContainerdStore(options.containerdStore ?? 'disk')
    .start();
}

/**
 * A kind cluster (one control plane, `workers` workers) with the profile's
 * components on its nodes, and the admission webhook (if the profile has
 * one) registered with its kube-apiserver (lab/kind/admission.ts).
 */
export function startKindCluster(profile: LabProfile, options: StartOptions & { workers?: number } = {}): Promise<StartedKindCluster> {
  return tracked(() => startKindClusterNow(profile, options));
}

async function startKindClusterNow(profile: LabProfile, options: StartOptions & { workers?: number }): Promise<StartedKindCluster> {
  const keep = options.keep ?? keepByDefault();
  const cluster = await new KindCluster(profile)
    .withComponents(componentsFor(profile))
    .withWorkers(options.workers ?? 0)
    .withProgress(options.progress ?? silent)
    .withKeep(keep)
    .withSignal(interruption.signal)
    .start();
  try {
    await registerAdmissionOf(cluster, options.progress ?? silent);
  } catch (err) {
    // As for a cluster that never became Ready: removed unless kept for inspection.
    if (!keep) await cluster.stop().catch(() => {});
    throw err;
  }
  return cluster;
}

/**
 * Set by a process that loads the step definitions only to list them (the
 * lint, the runner's lint gate): it starts no lab, so the support code
 * leaves its signals alone (a handler there would exit the runner at once,
 * before cucumber-js, its child, has removed its labs).
 */
export const CATALOG_ONLY_ENV = 'INTEGRITY_LAB_CATALOG_ONLY';

/**
 * Once this thread was interrupted: the removal of its labs, which ends when
 * they are gone. Until then the thread must not finish (a worker thread
 * that ends is terminated with whatever it still had under way): the
 * harness's hooks wait for it, and skip the scenarios left.
 */
export function labsBeingRemoved(): Promise<void> | undefined {
  return removal;
}

/** Something this process started and must remove on Ctrl-C. */
export interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * How the main thread reaches labs started in worker threads. cucumber-js
 * runs `--parallel` scenarios in worker threads of one process, and a
 * worker thread gets no signals: only the main thread's handler runs, and
 * it knows only its own thread's labs (each thread has its own module
 * instances, so its own `activeNodes`). The main thread asks every worker
 * over this channel, and waits for their answers before it exits.
 */
const INTERRUPT_CHANNEL = 'integrity-lab:interrupt';
type InterruptMessage =
  | { kind: 'joined'; thread: number }
  | { kind: 'interrupt'; signal: NodeJS.Signals }
  | { kind: 'removing'; thread: number }
  | { kind: 'said'; thread: number; message: string; failed: boolean }
  | { kind: 'done'; thread: number };

/** A worker that has not said it is removing its labs this long after the interrupt is taken to be gone. */
const WORKER_ANSWER_MS = 5_000;
/** Longest wait for a worker's removals (a kind cluster's delete takes up to a few minutes). */
const WORKER_REMOVAL_MS = 5 * 60_000;

/**
 * Removes this thread's labs, saying what and each failure; resolves when
 * all are gone or failed. From here on the thread starts no lab. A kind
 * cluster still being created is deleted at once (its `kind create` then
 * fails); a lab node still starting is waited for (seconds) and removed.
 */
function removeOwnLabs(signal: NodeJS.Signals, say: (message: string, failed?: boolean) => void, others: () => Iterable<Stoppable>): Promise<void> {
  interruptedBy = signal;
  interruption.abort(new LabError<'INTERRUPTED'>('INTERRUPTED', `${signal}: the run is stopping and removing its labs; this kind lab's start stopped before its cluster was created`));
  removal ??= removeNowAndStarted(signal, say, others);
  return removal;
}

async function removeNowAndStarted(signal: NodeJS.Signals, say: (message: string, failed?: boolean) => void, others: () => Iterable<Stoppable>): Promise<void> {
  const removed = new Set<Stoppable>();
  const removeNow = async (): Promise<void> => {
    const labs = new Set<Stoppable>([...activeNodes, ...others(), ...clustersStarting].filter((l) => !removed.has(l)));
    for (const lab of labs) removed.add(lab);
    const stops = [...labs].map((lab) => (lab instanceof StartedLabNode ? lab.stop({ force: true }) : lab.stop()));
    for (const r of await Promise.allSettled(stops)) if (r.status === 'rejected') say(`cleanup failed: ${describeError(r.reason)}`, true);
  };
  const clusters = new Set([...others(), ...clustersStarting]).size;
  if (isMainThread || activeNodes.size + clusters + startsInFlight.size > 0) {
    say(`${signal}: removing ${activeNodes.size} lab node(s) and ${clusters} kind cluster(s)${startsInFlight.size ? `, once ${startsInFlight.size} start(s) under way end` : ''}`);
  }
  await removeNow();
  // A start under way ends with its lab known (removed here) or removes what it made itself.
  while (startsInFlight.size > 0) {
    await Promise.allSettled([...startsInFlight]);
    await removeNow();
  }
}

/**
 * Ctrl-C (or SIGTERM): removes every lab node this process runs, every kind
 * cluster whose `kind create` is still going, and whatever `others` gives
 * at that moment, in every thread that registered (cucumber's parallel
 * workers), then exits with 130. `say` reports what is removed and each
 * failure (`failed`), the workers' too. Returns the function that takes the
 * handler off again; once interrupted, the handler stays until its cleanup
 * exits the process.
 *
 * One handler per thread: a second would race this one's exit. It stays
 * on the signals with `on`, not `once`: with no listener left, signal-exit
 * (a dependency's) re-raises the signal as soon as it arrives, and the
 * process would die in the middle of the cleanup.
 */
export function removeLabsOnInterrupt(say: (message: string, failed?: boolean) => void, others: () => Iterable<Stoppable> = () => []): () => void {
  const channel = new BroadcastChannel(INTERRUPT_CHANNEL);
  // The channel never keeps a finished process (or worker) alive.
  channel.unref();
  const post = (m: InterruptMessage) => channel.postMessage(m);
  let interrupted = false;

  if (!isMainThread) {
    post({ kind: 'joined', thread: threadId });
    channel.onmessage = (event) => {
      const m = (event as { data: InterruptMessage }).data;
      if (m.kind !== 'interrupt' || interrupted) return;
      interrupted = true;
      post({ kind: 'removing', thread: threadId });
      void removeOwnLabs(m.signal, (message, failed = false) => post({ kind: 'said', thread: threadId, message, failed }), others).finally(() =>
        post({ kind: 'done', thread: threadId }),
      );
    };
    return () => {
      if (!interrupted) channel.close();
    };
  }

  // Main thread: the workers that registered, and which of them are still removing labs.
  const workers = new Set<number>();
  const removing = new Set<number>();
  let settled: (() => void) | undefined;
  const check = () => {
    if (removing.size === 0) settled?.();
  };
  channel.onmessage = (event) => {
    const m = (event as { data: InterruptMessage }).data;
    if (m.kind === 'joined') workers.add(m.thread);
    if (m.kind === 'removing') removing.add(m.thread);
    if (m.kind === 'said') say(`worker ${m.thread}: ${m.message}`, m.failed);
    if (m.kind === 'done') {
      workers.delete(m.thread);
      removing.delete(m.thread);
      check();
    }
  };
  const workersDone = async (): Promise<void> => {
    await new Promise((r) => setTimeout(r, workers.size > removing.size ? WORKER_ANSWER_MS : 0).unref());
    for (const w of workers) if (!removing.has(w)) say(`worker ${w} did not answer (finished, or stuck); \`integrity-lab lab down --all\` removes what it left`, true);
    if (removing.size === 0) return;
    await new Promise<void>((resolve) => {
      settled = resolve;
      setTimeout(() => {
        say(`worker(s) ${[...removing].join(', ')} still removing labs after ${WORKER_REMOVAL_MS / 60_000} min; \`integrity-lab lab down --all\` removes what they left`, true);
        resolve();
      }, WORKER_REMOVAL_MS).unref();
      check();
    });
  };
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    if (workers.size > 0) post({ kind: 'interrupt', signal });
    void Promise.all([removeOwnLabs(signal, say, others), workersDone()]).then(() => process.exit(130));
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt);
  return () => {
    if (interrupted) return;
    process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
    channel.close();
  };
}
