/**
 * The one way to start a lab for a profile, on either substrate: the
 * profile's integrity components (lab/components.ts), progress, and whether
 * to keep the lab afterwards (`INTEGRITY_LAB_KEEP=1` unless the caller says).
 * Steps, the CLI and the benchmarks call these instead of chaining builders.
 */
import { componentsFor } from './components.ts';
import { registerAdmissionOf } from './kind/admission.ts';
import { KindCluster, type StartedKindCluster } from './kind/cluster.ts';
import { LabNode, type StartedLabNode } from './node/index.ts';
import { silent, type ProgressListener } from './progress.ts';
import type { LabProfile } from './spec/schemas.ts';

export interface StartOptions {
  progress?: ProgressListener;
  /** Keep the lab after the run; default: INTEGRITY_LAB_KEEP=1. */
  keep?: boolean;
}

const keepByDefault = () => process.env.INTEGRITY_LAB_KEEP === '1';

/** A single lab node with the profile's components. */
export function startLabNode(profile: LabProfile, options: StartOptions = {}): Promise<StartedLabNode> {
  return new LabNode(profile)
    .withComponents(componentsFor(profile))
    .withProgress(options.progress ?? silent)
    .withKeep(options.keep ?? keepByDefault())
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
