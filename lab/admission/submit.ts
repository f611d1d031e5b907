/**
 * Creating pods the way a user would (API server, admission, then the
 * kubelet's CRI calls), with the outcome as data: where the pod runs, or
 * which component refused it and with what answer. Scenarios on both the
 * vanilla control and the integrity profile use the same calls; on vanilla
 * there is no admission, so every pod reaches CRI.
 */
import { isLabError } from '../errors.ts';
import type { PodSpec, RunningPod } from '../cri/index.ts';
import type { AdmissionAnswer } from '../node/component.ts';
import type { LabNodeHandle } from '../node/handle.ts';
import type { StartedLabNode } from '../node/lab-node.ts';
import type { Workload } from '../spec/schemas.ts';
import { admissionOf, type AdmissionReviewOutcome } from './component.ts';

export interface PodSubmission {
  /** The CRI pod the kubelet would run. */
  pod: PodSpec;
  /** The Kubernetes object admission saw (or would have seen). */
  object: Record<string, unknown>;
  /** Set when the pod was created. */
  running?: RunningPod;
  /** Set when an admission component refused it. */
  refused?: { component: string; answer: AdmissionAnswer };
  /** The admission webhook's answer (admitted or refused), when the node has one. */
  review?: AdmissionReviewOutcome;
}

/** A workload's pod, placed in another namespace (the same pod, submitted elsewhere). */
export function inNamespace(workload: Workload, namespace: string | undefined): Workload {
  return namespace === undefined ? workload : { ...workload, spec: { ...workload.spec, namespace } };
}

/** StartedLabNode.startWorkload, with a refusal returned instead of thrown. */
export async function submitWorkload(node: StartedLabNode, workload: Workload): Promise<PodSubmission> {
  const pod = node.podSpecOf(workload);
  const out: PodSubmission = { pod, object: node.podObjectOf(workload) as unknown as Record<string, unknown> };
  const admission = admissionOf(node);
  const before = admission?.reviews(node).length ?? 0;
  try {
    out.running = await node.startWorkload(workload);
  } catch (err) {
    if (!isLabError(err, 'POD_ADMISSION_DENIED')) throw err;
    const denied = err as typeof err & { answer: AdmissionAnswer; component: string };
    out.refused = { component: denied.component, answer: denied.answer };
  }
  const reviews = admission?.reviews(node) ?? [];
  if (reviews.length > before) out.review = reviews.at(-1);
  return out;
}

/**
 * For Kubernetes fields a CRI pod spec cannot carry (runAsUser,
 * runAsNonRoot…): admission sees `object`; if it admits (or the node has no
 * admission), CRI runs `pod`. The admission answer is then the assertion.
 */
export async function submitPodObject(node: LabNodeHandle, pod: PodSpec, object: Record<string, unknown>): Promise<PodSubmission> {
  const out: PodSubmission = { pod, object };
  const admission = admissionOf(node);
  if (admission !== undefined) {
    out.review = await admission.review(node, object, pod.namespace);
    if (!out.review.allowed) {
      out.refused = { component: admission.name, answer: out.review };
      return out;
    }
  }
  const { runPod } = await import('../cri/index.ts');
  out.running = await runPod(node.cri, pod);
  return out;
}

/** What CRI holds for a pod name in a namespace: its sandboxes and containers. */
export async function criFootprint(node: LabNodeHandle, pod: Pick<PodSpec, 'name' | 'namespace'>): Promise<{ sandboxes: string[]; containers: string[] }> {
  const { KUBELET_LABELS } = await import('../cri/index.ts');
  const sandboxes = (await node.cri.listPodSandboxes()).filter((s) => s.metadata.name === pod.name && s.metadata.namespace === pod.namespace).map((s) => s.id);
  const containers = (await node.cri.listContainers())
    .filter((c) => c.labels[KUBELET_LABELS.podName] === pod.name && c.labels[KUBELET_LABELS.podNamespace] === pod.namespace)
    .map((c) => c.id);
  return { sandboxes, containers };
}
