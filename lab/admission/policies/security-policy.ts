/**
 * Deckhouse SecurityPolicy (`deckhouse.io/v1alpha1`): every field of
 * `spec.policies` the CRD defines that concerns pods. Semantics follow the
 * Gatekeeper constraint templates Deckhouse compiles them into
 * (modules/015-admission-policy-engine/charts/constraint-templates, derived
 * from the gatekeeper-library `pod-security-policy` templates), which in
 * turn mirror PodSecurityPolicy:
 * https://kubernetes.io/docs/concepts/security/pod-security-policy/
 *
 * Fields that concern other objects (allowedClusterRoles, allowRbacWildcards)
 * are accepted and reported as not applicable to pods in docs/admission.md.
 *
 * Where the CRD text and the seed documents disagree, the lab picks the
 * fail-closed reading and documents it: `allowedHostPaths: []` allows no
 * hostPath at all (the seed's baseline/restricted examples rely on that).
 */
import { posix } from 'node:path';
import { anyGlobMatch, globMatch } from '../glob.ts';
import { matchesReferencePattern } from '../image.ts';
import { type AdmissionObject, type Container, type PodSpec, allContainers, podMetaOf, podSpecOf, pulledImagesOf } from '../pod.ts';
import type { SecurityPolicies, SecurityPolicyDoc } from '../schema.ts';
import { matchesLabelSelector, matchesNamespaceSelector } from '../selector.ts';
import type { EnforcementMode, NamespaceInfo, Policy, PolicyContext, Violation } from '../types.ts';

export const VERIFY_IMAGE_SIGNATURES_PREFIX = '[verify-image-signatures] Image signature verification failed: ';

type IdRule = NonNullable<SecurityPolicies['fsGroup']>;
type Range = { min: number; max: number };

function inRanges(value: number, ranges: readonly Range[] | undefined): boolean {
  return (ranges ?? []).some((r) => value >= r.min && value <= r.max);
}

function rangesText(ranges: readonly Range[] | undefined): string {
  const list = (ranges ?? []).map((r) => `${r.min}-${r.max}`);
  return list.length === 0 ? 'no ranges' : list.join(', ');
}

function modeOf(action: string | undefined): EnforcementMode {
  if (action === 'Warn') return 'warn';
  if (action === 'Dryrun') return 'dryrun';
  return 'deny';
}

/**
 * `/foo` allows `/foo`, `/foo/` and `/foo/bar`, not `/food` (CRD
 * allowedHostPaths.pathPrefix). Both are compared after `.` and repeated `/`
 * are folded (the kernel resolves them so); a path with a `..` element is
 * never allowed: kube-apiserver refuses it (validatePathNoBacksteps on
 * hostPath.path), and `/var/log/../../etc` must not pass as `/var/log`.
 */
export function hostPathAllowedByPrefix(prefix: string, path: string): boolean {
  if (hasBackstep(path) || hasBackstep(prefix) || !path.startsWith('/')) return false;
  const fold = (p: string) => {
    const n = posix.normalize(p);
    return n.length > 1 ? n.replace(/\/+$/, '') : n;
  };
  const pre = fold(prefix);
  const target = fold(path);
  if (pre === '/') return true;
  return target === pre || target.startsWith(`${pre}/`);
}

/** A `..` path element, as kube-apiserver's validatePathNoBacksteps reads it. */
export function hasBackstep(path: string): boolean {
  return path.split('/').includes('..');
}

/**
 * A sysctl name in the dotted form: kubelet and the API server accept
 * `kernel/msgmax` for `kernel.msgmax` (component-helpers
 * `sysctl.NormalizeName`: when the first separator is `/`, `/` and `.` swap).
 */
export function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first < 0 || name[first] === '.') return name;
  return name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

const APPARMOR_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';
const SECCOMP_CONTAINER_PREFIX = 'container.seccomp.security.alpha.kubernetes.io/';
const SECCOMP_POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';

/** The AppArmor profile a container runs with, in annotation form; unset means runtime/default. */
function appArmorProfileOf(c: Container, spec: PodSpec, annotations: Record<string, string>): string {
  const fromField = (p: { type?: string; localhostProfile?: string } | undefined): string | undefined => {
    if (p === undefined) return undefined;
    if (p.type === 'RuntimeDefault') return 'runtime/default';
    if (p.type === 'Unconfined') return 'unconfined';
    if (p.type === 'Localhost') return `localhost/${p.localhostProfile ?? ''}`;
    return p.type ?? '';
  };
  return (
    fromField(c.securityContext?.appArmorProfile) ??
    annotations[`${APPARMOR_PREFIX}${c.name}`] ??
    fromField(spec.securityContext?.appArmorProfile) ??
    'runtime/default'
  );
}

interface SeccompProfile {
  /** RuntimeDefault, Unconfined, Localhost, `undefined` (unset), or whatever odd value was written. */
  kind: string;
  file?: string;
  /** Where it came from, for messages. */
  source: string;
}

/** Resolution order of Deckhouse's D8AllowedSeccompProfiles: container field, pod field, container annotation, pod annotation. */
function seccompProfileOf(c: Container, spec: PodSpec, annotations: Record<string, string>): SeccompProfile {
  const fromField = (p: { type?: string; localhostProfile?: string } | undefined, source: string): SeccompProfile | undefined => {
    if (p === undefined) return undefined;
    const kind = p.type ?? '';
    return kind === 'Localhost' ? { kind, file: p.localhostProfile ?? '', source } : { kind, source };
  };
  const fromAnnotation = (v: string | undefined, source: string): SeccompProfile | undefined => {
    if (v === undefined) return undefined;
    if (v === 'runtime/default' || v === 'docker/default') return { kind: 'RuntimeDefault', source };
    if (v === 'unconfined') return { kind: 'Unconfined', source };
    if (v.startsWith('localhost/')) return { kind: 'Localhost', file: v.slice('localhost/'.length), source };
    return { kind: v, source };
  };
  return (
    fromField(c.securityContext?.seccompProfile, 'container securityContext') ??
    fromField(spec.securityContext?.seccompProfile, 'pod securityContext') ??
    fromAnnotation(annotations[`${SECCOMP_CONTAINER_PREFIX}${c.name}`], 'container annotation') ??
    fromAnnotation(annotations[SECCOMP_POD_ANNOTATION], 'pod annotation') ?? { kind: 'undefined', source: 'unset' }
  );
}

const SECCOMP_SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  RuntimeDefault: ['RuntimeDefault', 'runtime/default', 'docker/default'],
  Unconfined: ['Unconfined', 'unconfined'],
};

function seccompAllowed(p: SeccompProfile, allowedProfiles: readonly string[], localhostFiles: readonly string[]): boolean {
  if (allowedProfiles.includes('*')) return true;
  if (p.kind === 'Localhost') {
    const file = p.file ?? '';
    if (file === '') return false;
    if (allowedProfiles.some((a) => a.startsWith('localhost/') && globMatch(a, `localhost/${file}`))) return true;
    return (allowedProfiles.includes('Localhost') || allowedProfiles.includes('localhost')) && anyGlobMatch(localhostFiles, file);
  }
  const names = SECCOMP_SYNONYMS[p.kind] ?? [p.kind];
  return names.some((n) => allowedProfiles.includes(n));
}

function describeSeccomp(p: SeccompProfile): string {
  if (p.kind === 'undefined') return 'unset';
  if (p.kind === 'Localhost') return `Localhost ${JSON.stringify(p.file ?? '')} (${p.source})`;
  return `${JSON.stringify(p.kind)} (${p.source})`;
}

/** The effective value of a security-context field: the container's, else the pod's. */
function effective<K extends 'runAsUser' | 'runAsGroup' | 'runAsNonRoot'>(c: Container, spec: PodSpec, key: K) {
  return c.securityContext?.[key] ?? spec.securityContext?.[key];
}

function seLinuxAllowed(options: Record<string, unknown>, allowed: readonly Record<string, string | undefined>[]): boolean {
  const fields = ['level', 'role', 'type', 'user'] as const;
  // gatekeeper psp-selinux-v2: every field set on the object must equal the same field of one allowed entry.
  return allowed.some((entry) => fields.every((f) => options[f] === undefined || entry[f] === options[f]));
}

function volumeTypes(v: Record<string, unknown>): string[] {
  const keys = Object.keys(v).filter((k) => k !== 'name');
  return keys.length === 0 ? ['emptyDir'] : keys;
}

/**
 * The synchronous checks: a list of messages (without the policy prefix),
 * one per offending container or field. Pure, exported for unit tests.
 */
export function securityPolicyViolations(p: SecurityPolicies, object: AdmissionObject): string[] {
  const spec = podSpecOf(object);
  const meta = podMetaOf(object);
  const annotations = meta.annotations ?? {};
  const containers = allContainers(spec);
  const out: string[] = [];

  if (p.allowHostIPC === false && spec.hostIPC === true) out.push('sharing the host IPC namespace is not allowed (spec.hostIPC=true)');
  if (p.allowHostPID === false && spec.hostPID === true) out.push('sharing the host PID namespace is not allowed (spec.hostPID=true)');
  if (p.allowHostNetwork === false && spec.hostNetwork === true) out.push('using the host network is not allowed (spec.hostNetwork=true)');

  if (p.allowedHostPorts !== undefined) {
    for (const { container } of containers) {
      for (const port of container.ports ?? []) {
        if (port.hostPort === undefined) continue;
        if (!inRanges(port.hostPort, p.allowedHostPorts)) {
          out.push(`container "${container.name}" uses hostPort ${port.hostPort}, allowed ranges are ${rangesText(p.allowedHostPorts)}`);
        }
      }
    }
  }

  for (const { container } of containers) {
    const sc = container.securityContext;
    if (p.allowPrivileged === false && sc?.privileged === true) {
      out.push(`container "${container.name}" is privileged (securityContext.privileged=true); privileged containers are not allowed`);
    }
    if (p.allowPrivilegeEscalation === false && sc?.allowPrivilegeEscalation !== false) {
      out.push(`container "${container.name}" must set securityContext.allowPrivilegeEscalation=false, got ${sc?.allowPrivilegeEscalation === undefined ? 'unset' : 'true'}`);
    }
    if (p.allowedProcMount === 'Default' && sc?.procMount !== undefined && sc.procMount !== 'Default') {
      out.push(`container "${container.name}" sets procMount ${JSON.stringify(sc.procMount)}, only "Default" is allowed`);
    }
    if (p.readOnlyRootFilesystem === true && sc?.readOnlyRootFilesystem !== true) {
      out.push(`container "${container.name}" must set securityContext.readOnlyRootFilesystem=true`);
    }
    if (p.requiredDropCapabilities !== undefined) {
      const dropped = sc?.capabilities?.drop ?? [];
      if (!dropped.includes('ALL')) {
        const missing = p.requiredDropCapabilities.filter((cap) => !dropped.includes(cap));
        if (missing.length > 0) out.push(`container "${container.name}" must drop capabilities [${missing.join(', ')}]`);
      }
    }
    if (p.allowedCapabilities !== undefined && !p.allowedCapabilities.includes('ALL')) {
      const extra = (sc?.capabilities?.add ?? []).filter((cap) => !(p.allowedCapabilities as readonly string[]).includes(cap));
      if (extra.length > 0) out.push(`container "${container.name}" adds capabilities [${extra.join(', ')}], allowed are [${p.allowedCapabilities.join(', ')}]`);
    }
    if (p.allowedAppArmor !== undefined) {
      const profile = appArmorProfileOf(container, spec, annotations);
      if (!anyGlobMatch(p.allowedAppArmor, profile)) {
        out.push(`container "${container.name}" uses AppArmor profile ${JSON.stringify(profile)}, allowed are [${p.allowedAppArmor.join(', ')}]`);
      }
    }
    if (p.seccompProfiles !== undefined) {
      const profile = seccompProfileOf(container, spec, annotations);
      const allowed = p.seccompProfiles.allowedProfiles ?? [];
      if (!seccompAllowed(profile, allowed, p.seccompProfiles.allowedLocalhostFiles ?? [])) {
        out.push(`container "${container.name}" uses seccomp profile ${describeSeccomp(profile)}, allowed are [${allowed.join(', ')}]${profile.kind === 'Localhost' ? ` with files [${(p.seccompProfiles.allowedLocalhostFiles ?? []).join(', ')}]` : ''}`);
      }
    }
    if (p.seLinux !== undefined) {
      const opts = sc?.seLinuxOptions;
      if (opts !== undefined && !seLinuxAllowed(opts, p.seLinux)) {
        out.push(`container "${container.name}" sets seLinuxOptions ${JSON.stringify(opts)}, which matches no allowed entry`);
      }
    }
    if (p.runAsUser !== undefined) {
      const user = effective(container, spec, 'runAsUser');
      const rule = p.runAsUser.rule;
      if (rule === 'MustRunAs' && (user === undefined || !inRanges(user, p.runAsUser.ranges))) {
        out.push(`container "${container.name}" is attempting to run as disallowed user ${user ?? '(unset)'}, allowed ranges are ${rangesText(p.runAsUser.ranges)}`);
      } else if (rule === 'MustRunAsNonRoot') {
        if (user === 0) out.push(`container "${container.name}" is attempting to run as root (runAsUser=0)`);
        else if (user === undefined && effective(container, spec, 'runAsNonRoot') !== true) {
          out.push(`container "${container.name}" must set runAsUser to a non-zero value or runAsNonRoot=true`);
        }
      }
    }
    if (p.runAsGroup !== undefined) {
      const msg = idRuleViolation('runAsGroup', p.runAsGroup, effective(container, spec, 'runAsGroup'));
      if (msg !== undefined) out.push(`container "${container.name}" ${msg}`);
    }
  }

  if (spec.securityContext?.seLinuxOptions !== undefined && p.seLinux !== undefined && !seLinuxAllowed(spec.securityContext.seLinuxOptions, p.seLinux)) {
    out.push(`pod sets seLinuxOptions ${JSON.stringify(spec.securityContext.seLinuxOptions)}, which matches no allowed entry`);
  }

  if (p.fsGroup !== undefined) {
    const msg = idRuleViolation('fsGroup', p.fsGroup, spec.securityContext?.fsGroup);
    if (msg !== undefined) out.push(`pod ${msg}`);
  }
  if (p.supplementalGroups !== undefined) {
    const groups = spec.securityContext?.supplementalGroups;
    const rule = p.supplementalGroups;
    if (groups === undefined || groups.length === 0) {
      if (rule.rule === 'MustRunAs') out.push(`pod must set supplementalGroups within ${rangesText(rule.ranges)}, got none`);
    } else if (rule.rule !== 'RunAsAny') {
      const bad = groups.filter((g) => !inRanges(g, rule.ranges));
      if (bad.length > 0) out.push(`pod uses supplementalGroups [${bad.join(', ')}] outside ${rangesText(rule.ranges)}`);
    }
  }

  const sysctls = spec.securityContext?.sysctls ?? [];
  for (const { name: written } of sysctls) {
    const name = normalizeSysctlName(written);
    if (p.forbiddenSysctls !== undefined && anyGlobMatch(p.forbiddenSysctls, name)) {
      out.push(`sysctl ${name} is forbidden`);
    } else if (p.allowedUnsafeSysctls !== undefined && !anyGlobMatch(p.allowedUnsafeSysctls, name)) {
      out.push(`sysctl ${name} is not allowed, allowed are [${p.allowedUnsafeSysctls.join(', ')}]`);
    }
  }

  for (const volume of spec.volumes ?? []) {
    const types = volumeTypes(volume);
    if (p.allowedVolumes !== undefined && !p.allowedVolumes.includes('*')) {
      for (const t of types) {
        if (p.allowedVolumes.includes('none') || !(p.allowedVolumes as readonly string[]).includes(t)) {
          out.push(`volume "${volume.name}" has type ${t}, allowed are [${p.allowedVolumes.join(', ')}]`);
        }
      }
    }
    if (p.allowedFlexVolumes !== undefined && volume.flexVolume !== undefined) {
      const drivers = p.allowedFlexVolumes.map((f) => f.driver);
      if (!drivers.includes(volume.flexVolume.driver)) {
        out.push(`volume "${volume.name}" uses flexVolume driver ${JSON.stringify(volume.flexVolume.driver)}, allowed are [${drivers.join(', ')}]`);
      }
    }
    if (p.allowedHostPaths !== undefined && volume.hostPath !== undefined) {
      const path = volume.hostPath.path;
      if (hasBackstep(path)) {
        out.push(`volume "${volume.name}" mounts host path ${JSON.stringify(path)}, which contains '..'`);
        continue;
      }
      const matching = p.allowedHostPaths.filter((a) => hostPathAllowedByPrefix(a.pathPrefix, path));
      if (matching.length === 0) {
        out.push(`volume "${volume.name}" mounts host path ${JSON.stringify(path)}, allowed prefixes are [${p.allowedHostPaths.map((a) => a.pathPrefix).join(', ')}]`);
      } else if (matching.every((a) => a.readOnly === true)) {
        for (const { container } of containers) {
          for (const mount of container.volumeMounts ?? []) {
            if (mount.name === volume.name && mount.readOnly !== true) {
              out.push(`container "${container.name}" mounts host path volume "${volume.name}" read-write, the allowed prefix requires readOnly`);
            }
          }
        }
      }
    }
  }

  if (p.automountServiceAccountToken === false && spec.automountServiceAccountToken !== false) {
    out.push('pod must set automountServiceAccountToken=false');
  }
  return out;
}

function idRuleViolation(field: string, rule: IdRule, value: number | undefined): string | undefined {
  if (rule.rule === 'RunAsAny') return undefined;
  if (value === undefined) return rule.rule === 'MustRunAs' ? `must set ${field} within ${rangesText(rule.ranges)}, got unset` : undefined;
  return inRanges(value, rule.ranges) ? undefined : `uses ${field} ${value} outside ${rangesText(rule.ranges)}`;
}

/**
 * Whether an image falls under a verifyImageSignatures `reference`, both
 * normalised as the runtime resolves them (image.ts matchesReferencePattern).
 * True when either cannot be normalised: the check then applies and refuses.
 */
export function referenceMatches(reference: string, image: string): boolean {
  return matchesReferencePattern(reference, image) !== false;
}

export class SecurityPolicyPolicy implements Policy {
  readonly name: string;
  readonly #doc: SecurityPolicyDoc;
  readonly #mode: EnforcementMode;

  constructor(doc: SecurityPolicyDoc) {
    this.#doc = doc;
    this.name = `SecurityPolicy/${doc.metadata.name}`;
    this.#mode = modeOf(doc.spec.enforcementAction);
  }

  async evaluate(object: AdmissionObject, namespace: NamespaceInfo, ctx: PolicyContext): Promise<Violation[]> {
    const match = this.#doc.spec.match;
    if (!matchesNamespaceSelector(match.namespaceSelector, namespace.name, namespace.labels)) return [];
    if (match.labelSelector !== undefined && !matchesLabelSelector(match.labelSelector, podMetaOf(object).labels ?? object.metadata?.labels ?? {})) return [];
    const prefix = `[${this.#doc.metadata.name}] `;
    const violations: Violation[] = securityPolicyViolations(this.#doc.spec.policies, object).map((m) => ({ policy: this.name, mode: this.#mode, message: prefix + m }));
    violations.push(...(await this.#verifySignatures(object, ctx)));
    return violations;
  }

  /** verifyImageSignatures: every image under a reference must be signed by one of that entry's keys. */
  async #verifySignatures(object: AdmissionObject, ctx: PolicyContext): Promise<Violation[]> {
    const entries = this.#doc.spec.policies.verifyImageSignatures ?? [];
    if (entries.length === 0) return [];
    // Image volumes too: kubelet pulls them like container images.
    const images = [...new Set(pulledImagesOf(podSpecOf(object)).map((p) => p.image))];
    const checks: Promise<Violation | undefined>[] = [];
    for (const image of images) {
      for (const entry of entries) {
        const matches = matchesReferencePattern(entry.reference, image);
        if (matches === false) continue;
        if (matches === undefined) {
          checks.push(
            Promise.resolve({
              policy: this.name,
              mode: this.#mode,
              message: `${VERIFY_IMAGE_SIGNATURES_PREFIX}${image}: SecurityPolicy "${this.#doc.metadata.name}" reference ${JSON.stringify(entry.reference)}: the image or the reference cannot be normalised as the runtime resolves it, so the signature requirement cannot be shown not to apply`,
            }),
          );
          continue;
        }
        checks.push(
          (async () => {
            const results = await Promise.all(entry.publicKeys.map((key) => ctx.cosignVerifier.verify(image, key)));
            if (results.some((r) => r.ok === true)) return undefined;
            const reasons = [...new Set(results.map((r) => (r.ok === true ? '' : String(r.reason))))].join('; ');
            return {
              policy: this.name,
              mode: this.#mode,
              message: `${VERIFY_IMAGE_SIGNATURES_PREFIX}${image}: SecurityPolicy "${this.#doc.metadata.name}" reference ${JSON.stringify(entry.reference)}, ${entry.publicKeys.length} key(s): ${reasons}`,
            };
          })(),
        );
      }
    }
    return (await Promise.all(checks)).filter((v): v is Violation => v !== undefined);
  }
}
