/**
 * The Kubernetes Pod a Workload runs as (pure): the object the apiserver
 * receives on the kind substrate, the object admission webhooks review, and
 * the source of the CRI pod on the node substrate (lab/cri/pod-object.ts).
 *
 * A workload says its pod in one of three ways:
 *   - the shorthand fields (readOnlyRootFilesystem, privileged,
 *     hostPathMounts): one container named after the workload;
 *   - `spec.pod`, a core/v1 PodTemplateSpec;
 *   - `spec.manifest`, a whole Pod or apps/v1 Deployment (one pod of it).
 * Every container (and init container) that declares no `image` runs the
 * image the lab builds for the workload.
 */
import type { V1Container, V1Deployment, V1ObjectMeta, V1Pod, V1PodSpec, V1PodTemplateSpec } from '@kubernetes/client-node';
import { LabError } from '../errors.ts';
import type { Workload } from './schemas.ts';

export type WorkloadPodErrorCode = 'WORKLOAD_POD_INVALID';

/** Why a workload's embedded pod cannot be used: a JSON pointer into the workload and a message. */
export interface WorkloadPodProblem {
  pointer: string;
  message: string;
}

const SHORTHANDS = ['readOnlyRootFilesystem', 'privileged', 'hostPathMounts'] as const;

/** The pod template a workload embeds, and where it sits in the workload (a JSON pointer). */
function embeddedTemplate(workload: Workload): { template: V1PodTemplateSpec; at: string } | undefined {
  const { pod, manifest } = workload.spec;
  if (pod) return { template: pod, at: '/spec/pod' };
  if (!manifest) return undefined;
  if (manifest.kind === 'Deployment') return { template: (manifest as V1Deployment).spec?.template ?? {}, at: '/spec/manifest/spec/template' };
  return { template: { metadata: manifest.metadata ?? {}, spec: (manifest as V1Pod).spec ?? { containers: [] } }, at: '/spec/manifest' };
}

/**
 * Meaning checks on a schema-valid workload (the loader's stage 4): one way
 * of saying the pod, a namespace and name that agree, a container that runs
 * the lab's image.
 */
export function workloadPodProblems(workload: Workload): WorkloadPodProblem | undefined {
  const { pod, manifest } = workload.spec;
  if (pod && manifest) return { pointer: '/spec/manifest', message: 'spec.manifest: give either spec.pod or spec.manifest, not both' };
  if (!pod && !manifest) return undefined;
  const field = pod ? 'spec.pod' : 'spec.manifest';
  for (const s of SHORTHANDS) {
    if (workload.spec[s] !== undefined) {
      return { pointer: `/spec/${s}`, message: `spec.${s}: not with ${field}; say it in the pod (securityContext, volumes) instead` };
    }
  }
  if (manifest) {
    const ns = manifest.metadata?.namespace;
    if (ns !== undefined && ns !== workload.spec.namespace) {
      return { pointer: '/spec/manifest/metadata/namespace', message: `spec.manifest.metadata.namespace: is "${ns}" but the workload's spec.namespace is "${workload.spec.namespace}"` };
    }
    if (manifest.kind === 'Pod' && manifest.metadata?.name !== undefined && manifest.metadata.name !== workload.metadata.name) {
      return { pointer: '/spec/manifest/metadata/name', message: `spec.manifest.metadata.name: a Pod manifest is named after its workload "${workload.metadata.name}", got "${manifest.metadata.name}"` };
    }
  }
  const { template, at } = embeddedTemplate(workload)!;
  const containers = template.spec?.containers ?? [];
  if (!containers.some((c) => c.image === undefined)) {
    return {
      pointer: `${at}/spec/containers`,
      message: `${at.slice(1).replaceAll('/', '.')}.spec.containers: no container runs the image the lab builds; leave \`image\` unset on the one that should`,
    };
  }
  return undefined;
}

function withImage(containers: V1Container[] | undefined, image: string): V1Container[] | undefined {
  return containers?.map((c) => (c.image === undefined ? { ...structuredClone(c), image } : structuredClone(c)));
}

/**
 * The core/v1 Pod the workload runs as, with `image` (the lab-built image
 * reference) filled in. This is the object to create through the apiserver.
 */
export function podOfWorkload(workload: Workload, image: string): V1Pod {
  const name = workload.metadata.name;
  const namespace = workload.spec.namespace;
  const embedded = embeddedTemplate(workload);
  if (!embedded) return shorthandPod(workload, image);
  const problem = workloadPodProblems(workload);
  if (problem) throw new LabError<WorkloadPodErrorCode>('WORKLOAD_POD_INVALID', `workload "${name}": ${problem.message}`);
  const { template } = embedded;
  const spec: V1PodSpec = { ...structuredClone(template.spec!), containers: withImage(template.spec!.containers, image)! };
  const init = withImage(template.spec!.initContainers, image);
  if (init) spec.initContainers = init;
  const metadata: V1ObjectMeta = { ...structuredClone(template.metadata ?? {}), name, namespace };
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/**
 * What `kubectl apply` would send for the workload: its manifest with the
 * image filled in (a Deployment stays a Deployment), or its Pod.
 */
export function manifestOfWorkload(workload: Workload, image: string): V1Pod | V1Deployment {
  const manifest = workload.spec.manifest;
  if (manifest?.kind !== 'Deployment') return podOfWorkload(workload, image);
  const pod = podOfWorkload(workload, image);
  const deployment = structuredClone(manifest) as V1Deployment;
  deployment.metadata = { ...deployment.metadata, name: deployment.metadata?.name ?? workload.metadata.name, namespace: workload.spec.namespace };
  deployment.spec!.template.spec = pod.spec!;
  return deployment;
}

/**
 * The shorthand fields as a Pod: one container named after the workload.
 * Field for field what admission has always reviewed for these workloads
 * (hostPath volumes named host-0-<i>).
 */
function shorthandPod(workload: Workload, image: string): V1Pod {
  const container: V1Container = { name: workload.metadata.name, image };
  const securityContext: NonNullable<V1Container['securityContext']> = {};
  if (workload.spec.privileged !== undefined) securityContext.privileged = workload.spec.privileged;
  if (workload.spec.readOnlyRootFilesystem !== undefined) securityContext.readOnlyRootFilesystem = workload.spec.readOnlyRootFilesystem;
  if (Object.keys(securityContext).length > 0) container.securityContext = securityContext;
  const mounts = workload.spec.hostPathMounts ?? [];
  const spec: V1PodSpec = { containers: [container] };
  if (mounts.length > 0) {
    spec.volumes = mounts.map((m, i) => ({ name: `host-0-${i}`, hostPath: { path: m.hostPath } }));
    container.volumeMounts = mounts.map((m, i) => ({ name: `host-0-${i}`, mountPath: m.containerPath, ...(m.readOnly === true ? { readOnly: true } : {}) }));
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: workload.metadata.name, namespace: workload.spec.namespace }, spec };
}
