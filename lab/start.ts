/**
 * The one way to start a lab for a profile, on either substrate: the
 * profile's integrity components (lab/components.ts), progress, and whether
 * to keep the lab afterwards (`INTEGRITY_LAB_KEEP=1` unless the caller says).
 * Steps, the CLI and the benchmarks call these instead of chaining builders.
 */
import { componentsFor } from './components.ts';
import { registerAdmissionOf } from './kind/admission.ts';
import { describeError } from './errors.ts';
import { KindCluster, clustersStarting, type StartedKindCluster } from './kind/cluster.ts';
import { LabNode, activeNodes, type ContainerdStore, type StartedLabNode } from './node/index.ts';
import { silent, type ProgressListener } from './progress.ts';
import type { LabProfile } from './spec/schemas.ts';

export interface StartOptions {
  progress?: ProgressListener;
  /** Keep the lab after the run; default: INTEGRITY_LAB_KEEP=1. */
  keep?: boolean;
  /** Where a lab node's containerd keeps layers and blobs (LabNode.withContainerdStore); default `disk`. */
  containerdStore?: ContainerdStore;
}

const keepByDefault = () => process.env.INTEGRITY_LAB_KEEP === '1';

/** A single lab node with the profile's components. */
export function startLabNode(profile: LabProfile, options: StartOptions = {}): Promise<StartedLabNode> {
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
export async function startKindCluster(profile: LabProfile, options: StartOptions & { workers?: number } = {}): Promise<StartedKindCluster> {
  const keep = options.keep ?? keepByDefault();
  const cluster = await new KindCluster(profile)
    .withComponents(componentsFor(profile))
    .withWorkers(options.workers ?? 0)
    .withProgress(options.progress ?? silent)
    .withKeep(keep)
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

/** Something this process started and must remove on Ctrl-C. */
export interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * Ctrl-C (or SIGTERM): removes every lab node this process runs, every kind
 * cluster whose `kind create` is still going, and whatever `others` gives
 * at that moment, then exits with 130. `say` reports what is removed and
 * each failure (`failed`). Returns the function that takes the handler off again;
 * once interrupted, the handler stays until its cleanup exits the process.
 *
 * One handler per process: a second would race this one's exit. It stays
 * on the signals with `on`, not `once`: with no listener left, signal-exit
 * (a dependency's) re-raises the signal as soon as it arrives, and the
 * process would die in the middle of the cleanup.
 */
export function removeLabsOnInterrupt(say: (message: string, failed?: boolean) => void, others: () => Iterable<Stoppable> = () => []): () => void {
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    const clusters = new Set<Stoppable>([...others(), ...clustersStarting]);
    say(`${signal}: removing ${activeNodes.size} lab node(s) and ${clusters.size} kind cluster(s)`);
    const stops = [...[...activeNodes].map((n) => n.stop({ force: true })), ...[...clusters].map((c) => c.stop())];
    void Promise.allSettled(stops).then((settled) => {
      for (const r of settled) if (r.status === 'rejected') say(`cleanup failed: ${describeError(r.reason)}`, true);
      process.exit(130);
    });
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt);
  return () => {
    if (!interrupted) process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
  };
}
