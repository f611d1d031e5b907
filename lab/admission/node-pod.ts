/**
 * The Pod object kube-apiserver would hand to validating webhooks for a pod
 * the lab runs through CRI (pure). The lab's pods are CRI-level specs
 * (lab/cri PodSpec); admission reads core/v1 Pods. Every field CRI carries
 * is translated; nothing is invented:
 *
 *   ContainerSpec.privileged            → containers[].securityContext.privileged
 *   ContainerSpec.readOnlyRootFilesystem → containers[].securityContext.readOnlyRootFilesystem
 *   ContainerSpec.mounts (host paths)   → a hostPath volume per mount + volumeMounts
 *   ContainerSpec.command / args / env  → command / args / env
 *   PodSpec.hostNetwork                 → spec.hostNetwork
 *
 * Fields CRI does not carry (runAsUser, runAsNonRoot, seccomp…) exist only
 * in the Kubernetes object: `withContainerSecurityContext` adds them for
 * pods whose admission answer is the whole assertion.
 */
import type { PodSpec } from '../cri/index.ts';

type Json = Record<string, unknown>;

/** The core/v1 Pod for a CRI pod spec, as sent in AdmissionReview.request.object. */
export function podObjectOf(pod: PodSpec): Json {
  const volumes: Json[] = [];
  const containers = pod.containers.map((c, ci) => {
    const container: Json = { name: c.name, image: c.image };
    if (c.command !== undefined) container['command'] = [...c.command];
    if (c.args !== undefined) container['args'] = [...c.args];
    const env = Object.entries(c.env ?? {});
    if (env.length > 0) container['env'] = env.map(([name, value]) => ({ name, value }));
    const securityContext: Json = {};
    if (c.privileged !== undefined) securityContext['privileged'] = c.privileged;
    if (c.readOnlyRootFilesystem !== undefined) securityContext['readOnlyRootFilesystem'] = c.readOnlyRootFilesystem;
    if (Object.keys(securityContext).length > 0) container['securityContext'] = securityContext;
    const mounts = c.mounts ?? [];
    if (mounts.length > 0) {
      container['volumeMounts'] = mounts.map((m, mi) => {
        // A CRI mount is a host path bind: the API object for it is a hostPath volume.
        const name = `host-${ci}-${mi}`;
        volumes.push({ name, hostPath: { path: m.hostPath } });
        return { name, mountPath: m.containerPath, ...(m.readonly === true ? { readOnly: true } : {}) };
      });
    }
    return container;
  });
  const spec: Json = { containers };
  if (volumes.length > 0) spec['volumes'] = volumes;
  if (pod.hostNetwork === true) spec['hostNetwork'] = true;
  const metadata: Json = { name: pod.name, namespace: pod.namespace };
  if (pod.uid !== undefined) metadata['uid'] = pod.uid;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/** A copy of `pod` with `securityContext` merged into every container's securityContext. */
export function withContainerSecurityContext(pod: Json, securityContext: Json): Json {
  const copy = structuredClone(pod);
  const spec = copy['spec'] as Json | undefined;
  const containers = Array.isArray(spec?.['containers']) ? (spec['containers'] as Json[]) : [];
  for (const c of containers) c['securityContext'] = { ...((c['securityContext'] as Json | undefined) ?? {}), ...structuredClone(securityContext) };
  return copy;
}

/**
 * The defaulting kube-apiserver applies to a Pod before validating webhooks
 * see it, where a policy depends on it (pkg/apis/core/v1/defaults.go,
 * SetDefaults_Pod): a hostNetwork pod's container ports get `hostPort` equal
 * to `containerPort` when unset, for containers and init containers. Without
 * it the stand-in would show the webhook a pod without the host ports it will
 * bind. Returns a copy; the input is not changed. Workload templates are not
 * defaulted this way (the API server defaults the pods they create).
 */
export function withApiDefaults(object: Json): Json {
  const copy = structuredClone(object);
  if (copy['kind'] !== 'Pod') return copy;
  const spec = copy['spec'] as Json | undefined;
  if (spec?.['hostNetwork'] !== true) return copy;
  for (const list of ['containers', 'initContainers']) {
    const containers = Array.isArray(spec[list]) ? (spec[list] as Json[]) : [];
    for (const c of containers) {
      for (const port of Array.isArray(c['ports']) ? (c['ports'] as Json[]) : []) {
        if ((port['hostPort'] === undefined || port['hostPort'] === 0) && typeof port['containerPort'] === 'number') port['hostPort'] = port['containerPort'];
      }
    }
  }
  return copy;
}

/** A copy of `pod` that also mounts the image `reference` as an image volume (Kubernetes-only: CRI here cannot mount it). */
export function withImageVolume(pod: Json, name: string, reference: string): Json {
  const copy = structuredClone(pod);
  const spec = copy['spec'] as Json;
  spec['volumes'] = [...((spec['volumes'] as Json[] | undefined) ?? []), { name, image: { reference, pullPolicy: 'IfNotPresent' } }];
  const first = (spec['containers'] as Json[])[0];
  if (first) first['volumeMounts'] = [...((first['volumeMounts'] as Json[] | undefined) ?? []), { name, mountPath: `/volumes/${name}`, readOnly: true }];
  return copy;
}

/** A copy of `pod` whose first container declares `containerPort` (as written: no hostPort). */
export function withContainerPort(pod: Json, containerPort: number): Json {
  const copy = structuredClone(pod);
  const first = ((copy['spec'] as Json)['containers'] as Json[])[0];
  if (first) first['ports'] = [{ containerPort }];
  return copy;
}
