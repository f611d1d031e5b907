export { CriClient, CriCallError } from './client.ts';
export { runPod, removePod, removeAllPods, PodStartError, KUBELET_LABELS } from './pods.ts';
export { criPodOf, parseQuantity } from './pod-object.ts';
export type { CriErrorCode, CriCallRecord } from './client.ts';
export type { PodErrorCode, PodStage, PodSpec, ContainerSpec, RunningPod, RunPodHooks } from './pods.ts';
export type { CriPod, PodObjectErrorCode } from './pod-object.ts';
export type * from './types.ts';
