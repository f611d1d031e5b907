/**
 * Pod Security Standards, levels `baseline` and `restricted`, as the
 * Kubernetes reference implementation checks them at version "latest":
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/ and
 * k8s.io/pod-security-admission `policy/check_*.go` (checks as of v1.37:
 * sysctls incl. tcp_rmem/tcp_wmem/tcp_slow_start_after_idle/tcp_notsent_lowat,
 * SELinux type container_engine_t, probe/lifecycle host, user-namespace
 * relaxations, restricted procMount).
 *
 * Each check is a pure function of the pod spec and metadata that returns
 * PSA's ForbiddenReason and ForbiddenDetail, so messages read like those of
 * the built-in admission plugin. `pss.test.ts` cross-checks every check
 * against PSA's own fixture corpus (test/testdata/{baseline,restricted}/v1.37).
 *
 * Assignment (Deckhouse admission-policy-engine): the namespace label
 * `security.deckhouse.io/pod-policy` picks the level, falling back to the
 * configured default; `security.deckhouse.io/pod-policy-action` picks deny,
 * warn or dryrun. The bypass label `security.deckhouse.io/skip-pss-check`
 * is refused outright: an integrity lab does not let a pod opt out.
 */
import { type AdmissionObject, type Container, type ObjectMeta, type PodSpec, allContainers, objectName, podMetaOf, podSpecOf } from '../pod.ts';
import type { EnforcementMode, NamespaceInfo, Policy, Violation } from '../types.ts';

export type PssLevel = 'privileged' | 'baseline' | 'restricted';

export const POD_POLICY_LABEL = 'security.deckhouse.io/pod-policy';
export const POD_POLICY_ACTION_LABEL = 'security.deckhouse.io/pod-policy-action';
export const SKIP_PSS_LABEL = 'security.deckhouse.io/skip-pss-check';

export const PSS_LEVELS: readonly PssLevel[] = ['privileged', 'baseline', 'restricted'];
export const PSS_MODES: readonly EnforcementMode[] = ['deny', 'dryrun', 'warn'];

export interface CheckFailure {
  id: string;
  reason: string;
  detail: string;
}

type Check = (meta: ObjectMeta, spec: PodSpec) => CheckFailure | undefined;

// -- helpers (policy/helpers.go) ---------------------------------------------

function joinQuote(items: readonly string[]): string {
  return items.length === 0 ? '' : `"${items.join('", "')}"`;
}

function pluralize(singular: string, plural: string, count: number): string {
  return count === 1 ? singular : plural;
}

function containersPhrase(names: readonly string[]): string {
  return `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;
}

function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** Pods in a user namespace (`hostUsers: false`) get the relaxations of PSA ≥ 1.35. */
function inUserNamespace(spec: PodSpec): boolean {
  return spec.hostUsers === false;
}

function isWindows(spec: PodSpec): boolean {
  return spec.os?.name === 'windows';
}

function visit(spec: PodSpec, fn: (c: Container) => void): void {
  for (const ref of allContainers(spec)) fn(ref.container);
}

// -- baseline checks -----------------------------------------------------------

/** check_windowsHostProcess.go */
const windowsHostProcess: Check = (_meta, spec) => {
  const setters: string[] = [];
  if (spec.securityContext?.windowsOptions?.hostProcess === true) setters.push('pod');
  const bad: string[] = [];
  visit(spec, (c) => {
    if (c.securityContext?.windowsOptions?.hostProcess === true) bad.push(c.name);
  });
  if (bad.length > 0) setters.push(containersPhrase(bad));
  if (setters.length === 0) return undefined;
  return { id: 'windowsHostProcess', reason: 'hostProcess', detail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true` };
};

/** check_hostNamespaces.go */
const hostNamespaces: Check = (_meta, spec) => {
  const used: string[] = [];
  if (spec.hostNetwork === true) used.push('hostNetwork=true');
  if (spec.hostPID === true) used.push('hostPID=true');
  if (spec.hostIPC === true) used.push('hostIPC=true');
  return used.length === 0 ? undefined : { id: 'hostNamespaces', reason: 'host namespaces', detail: used.join(', ') };
};

/** check_privileged.go */
const privileged: Check = (_meta, spec) => {
  const bad: string[] = [];
  visit(spec, (c) => {
    if (c.securityContext?.privileged === true) bad.push(c.name);
  });
  return bad.length === 0 ? undefined : { id: 'privileged', reason: 'privileged', detail: `${containersPhrase(bad)} must not set securityContext.privileged=true` };
};

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);

/** check_capabilities_baseline.go */
const capabilitiesBaseline: Check = (_meta, spec) => {
  const bad: string[] = [];
  const caps: string[] = [];
  visit(spec, (c) => {
    let valid = true;
    for (const cap of c.securityContext?.capabilities?.add ?? []) {
      if (!BASELINE_CAPABILITIES.has(cap)) {
        valid = false;
        caps.push(cap);
      }
    }
    if (!valid) bad.push(c.name);
  });
  if (bad.length === 0) return undefined;
  return { id: 'capabilities_baseline', reason: 'non-default capabilities', detail: `${containersPhrase(bad)} must not include ${joinQuote(sortedUnique(caps))} in securityContext.capabilities.add` };
};

/** check_hostPathVolumes.go */
const hostPathVolumes: Check = (_meta, spec) => {
  const bad = (spec.volumes ?? []).filter((v) => v.hostPath !== undefined).map((v) => v.name);
  return bad.length === 0 ? undefined : { id: 'hostPathVolumes', reason: 'hostPath volumes', detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)}` };
};

/** check_hostPorts.go */
const hostPorts: Check = (_meta, spec) => {
  const bad: string[] = [];
  const ports: string[] = [];
  visit(spec, (c) => {
    let valid = true;
    for (const p of c.ports ?? []) {
      if (p.hostPort !== undefined && p.hostPort !== 0) {
        valid = false;
        ports.push(String(p.hostPort));
      }
    }
    if (!valid) bad.push(c.name);
  });
  if (bad.length === 0) return undefined;
  const list = sortedUnique(ports);
  return { id: 'hostPorts', reason: 'hostPort', detail: `${containersPhrase(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}` };
};

const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

/** check_appArmorProfile.go */
const appArmorProfile: Check = (meta, spec) => {
  const allowedType = (t: string | undefined) => t === 'RuntimeDefault' || t === 'Localhost';
  const setters: string[] = [];
  const values: string[] = [];
  const podType = spec.securityContext?.appArmorProfile;
  if (podType !== undefined && !allowedType(podType.type)) {
    setters.push('pod');
    values.push(podType.type ?? '');
  }
  const bad: string[] = [];
  visit(spec, (c) => {
    const p = c.securityContext?.appArmorProfile;
    if (p !== undefined && !allowedType(p.type)) {
      bad.push(c.name);
      values.push(p.type ?? '');
    }
  });
  if (bad.length > 0) setters.push(containersPhrase(bad));
  const annotations: string[] = [];
  for (const [k, v] of Object.entries(meta.annotations ?? {})) {
    if (k.startsWith(APPARMOR_ANNOTATION_PREFIX) && !(v === '' || v === 'runtime/default' || v.startsWith('localhost/'))) {
      annotations.push(`${k}=${JSON.stringify(v)}`);
    }
  }
  const valueList = sortedUnique(values);
  if (annotations.length > 0) {
    valueList.push(...annotations.sort());
    setters.push(pluralize('annotation', 'annotations', annotations.length));
  }
  if (setters.length === 0) return undefined;
  return {
    id: 'appArmorProfile',
    reason: pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', valueList.length),
    detail: `${setters.join(' and ')} must not set AppArmor profile type to ${joinQuote(valueList)}`,
  };
};

const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

/** check_seLinuxOptions.go (types as of 1.31) */
const seLinuxOptions: Check = (_meta, spec) => {
  const setters: string[] = [];
  const badTypes = new Set<string>();
  let setUser = false;
  let setRole = false;
  const valid = (o: { type?: string; user?: string; role?: string }) => {
    let ok = true;
    if (!SELINUX_TYPES.has(o.type ?? '')) {
      ok = false;
      badTypes.add(o.type ?? '');
    }
    if ((o.user ?? '') !== '') {
      ok = false;
      setUser = true;
    }
    if ((o.role ?? '') !== '') {
      ok = false;
      setRole = true;
    }
    return ok;
  };
  const podOpts = spec.securityContext?.seLinuxOptions;
  if (podOpts !== undefined && !valid(podOpts)) setters.push('pod');
  const bad: string[] = [];
  visit(spec, (c) => {
    const o = c.securityContext?.seLinuxOptions;
    if (o !== undefined && !valid(o)) bad.push(c.name);
  });
  if (bad.length > 0) setters.push(containersPhrase(bad));
  if (setters.length === 0) return undefined;
  const data: string[] = [];
  if (badTypes.size > 0) data.push(`${pluralize('type', 'types', badTypes.size)} ${joinQuote(sortedUnique(badTypes))}`);
  if (setUser) data.push('user may not be set');
  if (setRole) data.push('role may not be set');
  return { id: 'seLinuxOptions', reason: 'seLinuxOptions', detail: `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}` };
};

/** check_procMount_baseline.go (1.0 body); the 1.35 variant relaxes user-namespace pods. */
const procMountAny: Check = (_meta, spec) => {
  const bad: string[] = [];
  const types: string[] = [];
  visit(spec, (c) => {
    const pm = c.securityContext?.procMount;
    if (pm !== undefined && pm !== 'Default') {
      bad.push(c.name);
      types.push(pm);
    }
  });
  if (bad.length === 0) return undefined;
  return { id: 'procMount', reason: 'procMount', detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedUnique(types))}` };
};

const procMountBaseline: Check = (meta, spec) => (inUserNamespace(spec) ? undefined : procMountAny(meta, spec));

const validSeccompType = (t: string | undefined) => t === 'RuntimeDefault' || t === 'Localhost';

/** check_seccompProfile_baseline.go (1.19+) */
const seccompBaseline: Check = (_meta, spec) => {
  const setters: string[] = [];
  const values: string[] = [];
  const podProfile = spec.securityContext?.seccompProfile;
  if (podProfile !== undefined && !validSeccompType(podProfile.type)) {
    setters.push('pod');
    values.push(podProfile.type ?? '');
  }
  const bad: string[] = [];
  visit(spec, (c) => {
    const p = c.securityContext?.seccompProfile;
    if (p !== undefined && !validSeccompType(p.type)) {
      bad.push(c.name);
      values.push(p.type ?? '');
    }
  });
  if (bad.length > 0) setters.push(containersPhrase(bad));
  if (setters.length === 0) return undefined;
  return { id: 'seccompProfile_baseline', reason: 'seccompProfile', detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedUnique(values))}` };
};

/** check_sysctls.go, allowed set of 1.37. */
export const SAFE_SYSCTLS: ReadonlySet<string> = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
  'net.ipv4.tcp_slow_start_after_idle',
  'net.ipv4.tcp_notsent_lowat',
]);

const sysctls: Check = (_meta, spec) => {
  const bad = (spec.securityContext?.sysctls ?? []).map((s) => s.name).filter((n) => !SAFE_SYSCTLS.has(n));
  return bad.length === 0 ? undefined : { id: 'sysctls', reason: 'forbidden sysctls', detail: bad.join(', ') };
};

/** check_hostProbesAndhostLifecycle.go (1.34) */
const hostProbesAndHostLifecycle: Check = (_meta, spec) => {
  const bad = new Set<string>();
  const hosts = new Set<string>();
  const inspect = (name: string, h: { httpGet?: { host?: string }; tcpSocket?: { host?: string } } | undefined) => {
    if (h === undefined) return;
    for (const host of [h.httpGet?.host, h.tcpSocket?.host]) {
      if (host !== undefined && host !== '') {
        bad.add(name);
        hosts.add(host);
      }
    }
  };
  visit(spec, (c) => {
    inspect(c.name, c.livenessProbe);
    inspect(c.name, c.readinessProbe);
    inspect(c.name, c.startupProbe);
    inspect(c.name, c.lifecycle?.postStart);
    inspect(c.name, c.lifecycle?.preStop);
  });
  if (bad.size === 0) return undefined;
  const names = sortedUnique(bad);
  const hostList = sortedUnique(hosts);
  return {
    id: 'hostProbesAndHostLifecycle',
    reason: 'probe or lifecycle host',
    detail: `${containersPhrase(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('probe or lifecycle host', 'probe or lifecycle hosts', hostList.length)} ${joinQuote(hostList)}`,
  };
};

// -- restricted checks ---------------------------------------------------------

const RESTRICTED_VOLUME_SOURCES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret']);

/**
 * check_restrictedVolumes.go. Stricter than PSA in one respect: PSA's Go
 * switch accepts a volume as soon as one allowed source is set, so a crafted
 * object with both `emptyDir` and `hostPath` passes it (the API server would
 * reject such a pod, but a webhook must not count on that). Here every source
 * present must be allowed. A volume with no source is what the API server
 * defaults to emptyDir, so it is allowed.
 */
const restrictedVolumes: Check = (_meta, spec) => {
  const bad: string[] = [];
  const types: string[] = [];
  for (const v of spec.volumes ?? []) {
    const sources = Object.keys(v).filter((k) => k !== 'name');
    const forbidden = sources.filter((k) => !RESTRICTED_VOLUME_SOURCES.has(k));
    if (forbidden.length > 0) {
      bad.push(v.name);
      types.push(...forbidden.map((k) => (k === 'cephFS' ? 'cephfs' : k)));
    }
  }
  if (bad.length === 0) return undefined;
  const list = sortedUnique(types);
  return {
    id: 'restrictedVolumes',
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', list.length)} ${joinQuote(list)}`,
  };
};

/** check_allowPrivilegeEscalation.go (1.25: Windows pods exempt) */
const allowPrivilegeEscalation: Check = (_meta, spec) => {
  if (isWindows(spec)) return undefined;
  const bad: string[] = [];
  visit(spec, (c) => {
    if (c.securityContext?.allowPrivilegeEscalation !== false) bad.push(c.name);
  });
  return bad.length === 0 ? undefined : { id: 'allowPrivilegeEscalation', reason: 'allowPrivilegeEscalation != false', detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false` };
};

/** check_runAsNonRoot.go (1.35: user-namespace pods exempt) */
const runAsNonRoot: Check = (_meta, spec) => {
  if (inUserNamespace(spec)) return undefined;
  const setters: string[] = [];
  let podNonRoot = false;
  const podValue = spec.securityContext?.runAsNonRoot;
  if (podValue !== undefined) {
    if (!podValue) setters.push('pod');
    else podNonRoot = true;
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  visit(spec, (c) => {
    const v = c.securityContext?.runAsNonRoot;
    if (v !== undefined) {
      if (!v) explicit.push(c.name);
    } else if (!podNonRoot) {
      implicit.push(c.name);
    }
  });
  if (explicit.length > 0) setters.push(containersPhrase(explicit));
  if (setters.length > 0) {
    return { id: 'runAsNonRoot', reason: 'runAsNonRoot != true', detail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false` };
  }
  if (implicit.length > 0) {
    return { id: 'runAsNonRoot', reason: 'runAsNonRoot != true', detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true` };
  }
  return undefined;
};

/** check_runAsUser.go (1.35: user-namespace pods exempt) */
const runAsUser: Check = (_meta, spec) => {
  if (inUserNamespace(spec)) return undefined;
  const setters: string[] = [];
  if (spec.securityContext?.runAsUser === 0) setters.push('pod');
  const bad: string[] = [];
  visit(spec, (c) => {
    if (c.securityContext?.runAsUser === 0) bad.push(c.name);
  });
  if (bad.length > 0) setters.push(containersPhrase(bad));
  return setters.length === 0 ? undefined : { id: 'runAsUser', reason: 'runAsUser=0', detail: `${setters.join(' and ')} must not set runAsUser=0` };
};

/** check_seccompProfile_restricted.go (1.25: Windows pods exempt) */
const seccompRestricted: Check = (_meta, spec) => {
  if (isWindows(spec)) return undefined;
  const setters: string[] = [];
  const values: string[] = [];
  let podSet = false;
  const podProfile = spec.securityContext?.seccompProfile;
  if (podProfile !== undefined) {
    if (!validSeccompType(podProfile.type)) {
      setters.push('pod');
      values.push(podProfile.type ?? '');
    } else {
      podSet = true;
    }
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  visit(spec, (c) => {
    const p = c.securityContext?.seccompProfile;
    if (p !== undefined) {
      if (!validSeccompType(p.type)) {
        explicit.push(c.name);
        values.push(p.type ?? '');
      }
    } else if (!podSet) {
      implicit.push(c.name);
    }
  });
  if (explicit.length > 0) setters.push(containersPhrase(explicit));
  if (setters.length > 0) {
    return { id: 'seccompProfile_restricted', reason: 'seccompProfile', detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedUnique(values))}` };
  }
  if (implicit.length > 0) {
    return { id: 'seccompProfile_restricted', reason: 'seccompProfile', detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` };
  }
  return undefined;
};

/** check_capabilities_restricted.go (1.25: Windows pods exempt) */
const capabilitiesRestricted: Check = (_meta, spec) => {
  if (isWindows(spec)) return undefined;
  const missingDrop: string[] = [];
  const adding: string[] = [];
  const caps: string[] = [];
  visit(spec, (c) => {
    const capabilities = c.securityContext?.capabilities;
    if (capabilities === undefined) {
      missingDrop.push(c.name);
      return;
    }
    if (!(capabilities.drop ?? []).includes('ALL')) missingDrop.push(c.name);
    let bad = false;
    for (const cap of capabilities.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE') {
        bad = true;
        caps.push(cap);
      }
    }
    if (bad) adding.push(c.name);
  });
  const details: string[] = [];
  if (missingDrop.length > 0) details.push(`${containersPhrase(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length > 0) details.push(`${containersPhrase(adding)} must not include ${joinQuote(sortedUnique(caps))} in securityContext.capabilities.add`);
  return details.length === 0 ? undefined : { id: 'capabilities_restricted', reason: 'unrestricted capabilities', detail: details.join('; ') };
};

/** check_procMount_restricted.go (1.35): no user-namespace relaxation at restricted. */
const procMountRestricted: Check = (meta, spec) => {
  const failure = procMountAny(meta, spec);
  return failure === undefined ? undefined : { ...failure, id: 'procMount_restricted' };
};

// -- levels --------------------------------------------------------------------

const BASELINE: Readonly<Record<string, Check>> = {
  windowsHostProcess,
  hostNamespaces,
  privileged,
  capabilities_baseline: capabilitiesBaseline,
  hostPathVolumes,
  hostPorts,
  appArmorProfile,
  seLinuxOptions,
  procMount: procMountBaseline,
  seccompProfile_baseline: seccompBaseline,
  sysctls,
  hostProbesAndHostLifecycle,
};

/** Restricted checks, and the baseline checks each one replaces (PSA OverrideCheckIDs). */
const RESTRICTED: Readonly<Record<string, { check: Check; overrides?: string }>> = {
  restrictedVolumes: { check: restrictedVolumes, overrides: 'hostPathVolumes' },
  allowPrivilegeEscalation: { check: allowPrivilegeEscalation },
  runAsNonRoot: { check: runAsNonRoot },
  runAsUser: { check: runAsUser },
  seccompProfile_restricted: { check: seccompRestricted, overrides: 'seccompProfile_baseline' },
  capabilities_restricted: { check: capabilitiesRestricted, overrides: 'capabilities_baseline' },
  procMount_restricted: { check: procMountRestricted, overrides: 'procMount' },
};

/** Runs every check of `level` on a pod spec; empty when it conforms. */
export function checkPodSecurity(level: PssLevel, meta: ObjectMeta, spec: PodSpec): CheckFailure[] {
  if (level === 'privileged') return [];
  const checks: [string, Check][] = Object.entries(BASELINE);
  if (level === 'restricted') {
    const overridden = new Set(Object.values(RESTRICTED).flatMap((r) => (r.overrides === undefined ? [] : [r.overrides])));
    const kept = checks.filter(([id]) => !overridden.has(id));
    checks.length = 0;
    checks.push(...kept, ...Object.entries(RESTRICTED).map(([id, r]) => [id, r.check] as [string, Check]));
  }
  const failures: CheckFailure[] = [];
  for (const [, check] of checks) {
    const failure = check(meta, spec);
    if (failure !== undefined) failures.push(failure);
  }
  return failures;
}

/** PSA's aggregate text: `reason (detail), reason (detail)`. */
export function formatFailures(failures: readonly CheckFailure[]): string {
  return failures.map((f) => (f.detail === '' ? f.reason : `${f.reason} (${f.detail})`)).join(', ');
}

export interface PodSecurityStandardsOptions {
  /** Level for namespaces without the pod-policy label. Default baseline (DVP ≥ 1.55). */
  defaultPolicy?: PssLevel;
  /** Mode for namespaces without the pod-policy-action label. Default deny. */
  enforcementAction?: EnforcementMode;
}

export class PodSecurityStandardsPolicy implements Policy {
  readonly name = 'pod-security-standards';
  readonly #defaultLevel: PssLevel;
  readonly #defaultMode: EnforcementMode;

  constructor(options: PodSecurityStandardsOptions = {}) {
    this.#defaultLevel = options.defaultPolicy ?? 'baseline';
    this.#defaultMode = options.enforcementAction ?? 'deny';
  }

  evaluate(object: AdmissionObject, namespace: NamespaceInfo): Violation[] {
    const deny = (message: string): Violation[] => [{ policy: this.name, mode: 'deny', message: `[${this.name}] ${message}` }];

    // The bypass label is refused wherever it appears, whatever its value:
    // letting a workload opt out of the checks would make them advisory.
    const bypassOn: string[] = [];
    if (Object.hasOwn(namespace.labels, SKIP_PSS_LABEL)) bypassOn.push(`namespace "${namespace.name}"`);
    if (Object.hasOwn(object.metadata?.labels ?? {}, SKIP_PSS_LABEL)) bypassOn.push(`${object.kind} "${objectName(object)}"`);
    if (object.kind !== 'Pod' && Object.hasOwn(podMetaOf(object).labels ?? {}, SKIP_PSS_LABEL)) bypassOn.push('pod template');
    if (bypassOn.length > 0) {
      return deny(`label ${SKIP_PSS_LABEL} on ${bypassOn.join(' and ')} asks to skip Pod Security Standards; the bypass is not honoured, so the object is refused (remove the label)`);
    }

    const levelLabel = namespace.labels[POD_POLICY_LABEL];
    const level = levelLabel ?? this.#defaultLevel;
    if (!(PSS_LEVELS as readonly string[]).includes(level)) {
      return deny(`namespace "${namespace.name}" has ${POD_POLICY_LABEL}=${JSON.stringify(level)}; expected one of ${PSS_LEVELS.join(', ')}, so the level is unknown and the object is refused`);
    }
    const modeLabel = namespace.labels[POD_POLICY_ACTION_LABEL];
    const mode = modeLabel ?? this.#defaultMode;
    if (!(PSS_MODES as readonly string[]).includes(mode)) {
      return deny(`namespace "${namespace.name}" has ${POD_POLICY_ACTION_LABEL}=${JSON.stringify(mode)}; expected one of ${PSS_MODES.join(', ')}, so the mode is unknown and the object is refused`);
    }

    const failures = checkPodSecurity(level as PssLevel, podMetaOf(object), podSpecOf(object));
    if (failures.length === 0) return [];
    const verb = mode === 'deny' ? 'violates' : 'would violate';
    return [
      {
        policy: this.name,
        mode: mode as EnforcementMode,
        message: `[${this.name}] ${object.kind} "${objectName(object)}" ${verb} PodSecurity "${level}:latest": ${formatFailures(failures)}`,
      },
    ];
  }
}
