/**
 * Deckhouse OperationPolicy (`deckhouse.io/v1alpha1`): operational
 * requirements. Semantics follow the Gatekeeper templates Deckhouse compiles
 * the fields into (constraint-templates/templates/operation/*.yaml, based on
 * gatekeeper-library `general/`), with messages in Gatekeeper's form:
 *
 *   [common] container <app> has an invalid image repo <evil.io/x>, allowed repos are ["registry.deckhouse.io"]
 *
 * Pod-level checks apply to Pods and to the pod template of Deployments,
 * ReplicaSets, StatefulSets and DaemonSets. `maxRevisionHistoryLimit` and
 * `replicaLimits` apply to the workloads only; ingressClassNames and
 * storageClassNames concern Ingresses and PVCs and are not applicable here.
 */
import { anyGlobMatch } from '../glob.ts';
import { effectiveTag, parseImageReference, underRepositoryPrefix } from '../image.ts';
import { type AdmissionObject, allContainers, objectName, podMetaOf, podSpecOf, pulledImagesOf } from '../pod.ts';
import type { OperationPolicies, OperationPolicyDoc } from '../schema.ts';
import { matchesLabelSelector, matchesNamespaceSelector } from '../selector.ts';
import type { EnforcementMode, NamespaceInfo, Policy, Violation } from '../types.ts';

/** Gatekeeper prints Rego arrays with `%v` as `["a", "b"]`. */
function regoList(values: readonly string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
}

/**
 * The pull policy the API server gives a container that sets none
 * (pkg/apis/core/v1/defaults.go SetDefaults_Container): Always for `:latest`
 * or no tag, IfNotPresent otherwise. Validating webhooks see defaulted objects,
 * so offline evaluation must default the same way.
 */
export function defaultPullPolicy(image: string): string {
  const ref = parseImageReference(image);
  if (ref === undefined) return 'Always';
  return effectiveTag(ref) === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Default revisionHistoryLimit of apps/v1 workloads when unset (Deployment, StatefulSet, DaemonSet: 10). */
const DEFAULT_REVISION_HISTORY_LIMIT = 10;

export function operationPolicyViolations(p: OperationPolicies, object: AdmissionObject): string[] {
  const spec = podSpecOf(object);
  const containers = allContainers(spec);
  const out: string[] = [];

  // Every reference kubelet pulls: containers of every kind and image volumes.
  const pulled = pulledImagesOf(spec);
  if (p.allowedRepos !== undefined) {
    for (const { image, source } of pulled) {
      // On registry and path-segment boundaries: `registry.deckhouse.io` does not allow `registry.deckhouse.io.evil.example/…`.
      if (!p.allowedRepos.some((repo) => underRepositoryPrefix(repo, image))) {
        out.push(`${source} has an invalid image repo <${image}>, allowed repos are ${regoList(p.allowedRepos)}`);
      }
    }
  }

  if (p.disallowedImageTags !== undefined) {
    for (const { image, source } of pulled) {
      const ref = parseImageReference(image);
      // An unparseable reference cannot be shown to avoid a disallowed tag.
      const tag = ref === undefined ? undefined : effectiveTag(ref);
      if (ref === undefined || (tag !== undefined && p.disallowedImageTags.includes(tag))) {
        const why = ref === undefined ? 'an unparseable reference' : ref.implicitLatest ? 'no tag or digest, which means latest,' : `tag <${tag}>`;
        out.push(`${source} uses a disallowed tag <${image}> (${why}); disallowed tags are ${regoList(p.disallowedImageTags)}`);
      }
    }
  }

  if (p.requiredResources !== undefined) {
    for (const { container, kind } of containers) {
      if (kind === 'ephemeralContainer') continue; // ephemeral containers may not set resources
      for (const r of p.requiredResources.limits ?? []) {
        if (container.resources?.limits?.[r] === undefined) out.push(`container <${container.name}> does not have <${r}> limits defined`);
      }
      for (const r of p.requiredResources.requests ?? []) {
        if (container.resources?.requests?.[r] === undefined) out.push(`container <${container.name}> does not have <${r}> requests defined`);
      }
    }
  }

  if (p.disallowedCustomResources !== undefined) {
    for (const { container } of containers) {
      const names = new Set([...Object.keys(container.resources?.limits ?? {}), ...Object.keys(container.resources?.requests ?? {})]);
      for (const name of names) {
        if (anyGlobMatch(p.disallowedCustomResources, name)) out.push(`container <${container.name}> requests disallowed resource <${name}>`);
      }
    }
  }

  if (p.requiredProbes !== undefined) {
    for (const { container, kind } of containers) {
      if (kind !== 'container') continue; // init and ephemeral containers cannot have probes
      for (const probe of p.requiredProbes) {
        if (container[probe] === undefined) out.push(`Container <${container.name}> in your <${object.kind}> <${objectName(object)}> has no <${probe}>`);
      }
    }
  }

  if (p.imagePullPolicy !== undefined) {
    for (const { image, source, pullPolicy } of pulled) {
      const policy = pullPolicy ?? defaultPullPolicy(image);
      if (policy !== p.imagePullPolicy) {
        out.push(`${source} has imagePullPolicy <${policy}>${pullPolicy === undefined ? ' (defaulted)' : ''}, required <${p.imagePullPolicy}>`);
      }
    }
  }

  if (p.priorityClassNames !== undefined) {
    const pc = spec.priorityClassName ?? '';
    if (!p.priorityClassNames.includes(pc)) {
      out.push(`<${object.kind}> <${objectName(object)}> has priorityClassName <${pc}>, allowed are ${regoList(p.priorityClassNames)}`);
    }
  }

  if (p.checkHostNetworkDNSPolicy === true && spec.hostNetwork === true && spec.dnsPolicy !== 'ClusterFirstWithHostNet') {
    out.push(`<${object.kind}> <${objectName(object)}> uses hostNetwork with dnsPolicy <${spec.dnsPolicy ?? 'ClusterFirst'}>, it must be <ClusterFirstWithHostNet>`);
  }

  if (p.checkContainerDuplicates === true) {
    const seen = new Set<string>();
    for (const { container } of containers) {
      if (seen.has(container.name)) out.push(`duplicate container name <${container.name}>`);
      seen.add(container.name);
      const envSeen = new Set<string>();
      for (const env of container.env ?? []) {
        if (envSeen.has(env.name)) out.push(`container <${container.name}> has duplicate env variable <${env.name}>`);
        envSeen.add(env.name);
      }
    }
  }

  if (p.disallowedTolerations !== undefined) {
    for (const t of spec.tolerations ?? []) {
      for (const d of p.disallowedTolerations) {
        const hit =
          (d.key === undefined || d.key === t.key) &&
          (d.operator === undefined || d.operator === (t.operator ?? 'Equal')) &&
          (d.value === undefined || d.value === (t.value ?? '')) &&
          (d.effect === undefined || d.effect === t.effect);
        if (hit) {
          out.push(`toleration ${JSON.stringify(t)} is not allowed`);
          break;
        }
      }
    }
  }

  const kindRef = `${object.apiVersion?.includes('/') ? object.apiVersion.split('/')[0] : ''}/${object.kind}`;
  const requiredKeys = (what: 'label' | 'annotation', items: readonly { key: string; allowedRegex?: string }[], watchKinds: readonly string[] | undefined, values: Record<string, string>) => {
    if (watchKinds !== undefined && !watchKinds.includes(kindRef)) return;
    for (const item of items) {
      const v = values[item.key];
      if (v === undefined) out.push(`you must provide ${what} <${item.key}>`);
      else if (item.allowedRegex !== undefined && !new RegExp(item.allowedRegex).test(v)) {
        out.push(`${what} <${item.key}: ${v}> does not satisfy allowed regex: ${item.allowedRegex}`);
      }
    }
  };
  if (p.requiredLabels !== undefined) requiredKeys('label', p.requiredLabels.labels, p.requiredLabels.watchKinds, object.metadata?.labels ?? {});
  if (p.requiredAnnotations !== undefined) requiredKeys('annotation', p.requiredAnnotations.annotations, p.requiredAnnotations.watchKinds, object.metadata?.annotations ?? {});

  if (object.kind !== 'Pod') {
    if (p.maxRevisionHistoryLimit !== undefined && object.kind !== 'ReplicaSet') {
      const limit = object.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
      if (limit > p.maxRevisionHistoryLimit) {
        out.push(`<${object.kind}> <${objectName(object)}> has revisionHistoryLimit <${limit}>${object.spec.revisionHistoryLimit === undefined ? ' (defaulted)' : ''}, the maximum is <${p.maxRevisionHistoryLimit}>`);
      }
    }
    if (p.replicaLimits !== undefined && object.kind !== 'DaemonSet') {
      const replicas = object.spec.replicas ?? 1;
      const { minReplicas, maxReplicas } = p.replicaLimits;
      if ((minReplicas !== undefined && replicas < minReplicas) || (maxReplicas !== undefined && replicas > maxReplicas)) {
        out.push(`<${object.kind}> <${objectName(object)}> has ${replicas} replicas, allowed range is ${minReplicas ?? 0}-${maxReplicas ?? '∞'}`);
      }
    }
  }
  return out;
}

export class OperationPolicyPolicy implements Policy {
  readonly name: string;
  readonly #doc: OperationPolicyDoc;
  readonly #mode: EnforcementMode;

  constructor(doc: OperationPolicyDoc) {
    this.#doc = doc;
    this.name = `OperationPolicy/${doc.metadata.name}`;
    const action = doc.spec.enforcementAction;
    this.#mode = action === 'Warn' ? 'warn' : action === 'Dryrun' ? 'dryrun' : 'deny';
  }

  evaluate(object: AdmissionObject, namespace: NamespaceInfo): Violation[] {
    const match = this.#doc.spec.match;
    if (match.namespaceSelector !== undefined && !matchesNamespaceSelector(match.namespaceSelector, namespace.name, namespace.labels)) return [];
    if (match.labelSelector !== undefined && !matchesLabelSelector(match.labelSelector, podMetaOf(object).labels ?? {})) return [];
    const prefix = `[${this.#doc.metadata.name}] `;
    return operationPolicyViolations(this.#doc.spec.policies, object).map((m) => ({ policy: this.name, mode: this.#mode, message: prefix + m }));
  }
}
