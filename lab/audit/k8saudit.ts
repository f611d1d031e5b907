/**
 * The `k8s_audit` event source over Kubernetes audit events
 * (`audit.k8s.io/v1` Event, what kube-apiserver's log and webhook backends
 * emit), and the fields Falco's k8saudit and json plugins extract from them.
 *
 * Field semantics follow falcosecurity/plugins at 0b3cbd8d, read not
 * copied: plugins/k8saudit/pkg/k8saudit/extract.go (ka.*) and
 * plugins/json/pkg/json/json.go (json.* and its jevt.* aliases). Where the
 * plugin has a quirk, it is reproduced and marked "as upstream", because
 * the lab's verdict must be Falco's. `jevt.time` and `jevt.time.iso8601`
 * come from Falco's pre-plugin json_evt (removed in 0.32) and are kept for
 * old rules.
 *
 * Events are operator or apiserver input: nothing here trusts their shape;
 * a path that is missing or of another type yields no value.
 */
import { LabError } from '../errors.ts';
import type { AuditEvent, FieldValue } from './fields.ts';

/** Where an event built by k8sAuditEvent keeps the Event object. */
export const K8S_AUDIT_OBJECT: unique symbol = Symbol('audit.k8s.io/v1 Event');

/** An audit.k8s.io/v1 Event as JSON gives it (only the parts the engine reads are named). */
export interface K8sAuditEventObject {
  kind?: string;
  apiVersion?: string;
  auditID: string;
  stage?: string;
  stageTimestamp?: string;
  requestReceivedTimestamp?: string;
  [key: string]: unknown;
}

/** Argument kinds: index for list fields (`[0]`), key for named arguments. */
export type K8sArg = 'index' | 'key';

export interface K8sFieldSpec {
  list: boolean;
  arg?: K8sArg;
  /** Whether the argument must be given. */
  argRequired?: boolean;
}

const CONTAINER_SUBFIELDS = [
  'name', 'image', 'image.repository', 'command', 'args', 'privileged', 'allow_privilege_escalation',
  'read_only_fs', 'run_as_user', 'eff_run_as_user', 'run_as_group', 'eff_run_as_group', 'proc_mount',
  'add_capabilities',
] as const;
const CONTAINER_LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

/** Every field of the k8s_audit source (k8saudit + json plugins), as plugins/k8saudit fields.go lists them. */
export const K8S_AUDIT_FIELDS: Readonly<Record<string, K8sFieldSpec>> = (() => {
  const s = (): K8sFieldSpec => ({ list: false });
  const l = (arg?: K8sArg): K8sFieldSpec => (arg ? { list: true, arg } : { list: true });
  const key = (): K8sFieldSpec => ({ list: false, arg: 'key', argRequired: true });
  const out: Record<string, K8sFieldSpec> = {
    'ka.auditid': s(), 'ka.stage': s(), 'ka.auth.decision': s(), 'ka.auth.reason': s(),
    'ka.auth.openshift.decision': s(), 'ka.validations.admission.policy.failure': s(),
    'ka.security.pod.violations': s(), 'ka.auth.openshift.username': s(), 'ka.user.name': s(),
    'ka.user.groups': l(), 'ka.impuser.name': s(), 'ka.verb': s(), 'ka.uri': s(), 'ka.uri.param': key(),
    'ka.target.name': s(), 'ka.target.namespace': s(), 'ka.target.resource': s(), 'ka.target.subresource': s(),
    'ka.target.pod.name': s(), 'ka.req.binding.subjects': l(), 'ka.req.binding.subjects.user_names': l(),
    'ka.req.binding.subjects.serviceaccount_names': l(), 'ka.req.binding.subjects.serviceaccount_ns_names': l(),
    'ka.req.binding.subjects.group_names': l(), 'ka.req.binding.role': s(), 'ka.req.binding.subject.has_name': key(),
    'ka.req.configmap.name': s(), 'ka.req.configmap.obj': s(), 'ka.req.container.image': s(),
    'ka.req.container.image.repository': s(), 'ka.req.pod.host_ipc': s(), 'ka.req.pod.host_network': s(),
    'ka.req.container.host_network': s(), 'ka.req.pod.host_pid': s(), 'ka.req.container.privileged': s(),
    'ka.req.pod.run_as_user': s(), 'ka.req.pod.run_as_group': s(), 'ka.req.role.rules': l(),
    'ka.req.role.rules.apiGroups': l('index'), 'ka.req.role.rules.nonResourceURLs': l('index'),
    'ka.req.role.rules.verbs': l('index'), 'ka.req.role.rules.resources': l('index'), 'ka.req.pod.fs_group': s(),
    'ka.req.pod.supplemental_groups': l(), 'ka.req.service.type': s(), 'ka.req.service.ports': l('index'),
    'ka.req.volume.hostpath': key(), 'ka.req.pod.volumes.hostpath': l('index'),
    'ka.req.pod.volumes.flexvolume_driver': l('index'), 'ka.req.pod.volumes.volume_type': l('index'),
    'ka.resp.name': s(), 'ka.response.code': s(), 'ka.response.reason': s(), 'ka.useragent': s(),
    'ka.sourceips': l('index'), 'ka.cluster.name': s(),
    'json.value': key(), 'json.obj': s(), 'json.rawtime': s(),
    'jevt.value': key(), 'jevt.obj': s(), 'jevt.rawtime': s(), 'jevt.time': s(), 'jevt.time.iso8601': s(),
  };
  for (const list of CONTAINER_LISTS) {
    for (const sub of CONTAINER_SUBFIELDS) out[`ka.req.pod.${list}.${sub}`] = l('index');
    if (list !== 'ephemeralContainers') out[`ka.req.pod.${list}.host_port`] = l('index');
  }
  return out;
})();

/** Wraps an audit.k8s.io/v1 Event as an engine event. Throws EVENT_FORMAT for anything else. */
export function k8sAuditEvent(object: unknown): AuditEvent {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    throw new LabError('EVENT_FORMAT', `a k8s_audit event should be an audit.k8s.io/v1 Event object, got ${describe(object)}`);
  }
  const o = object as Record<string, unknown>;
  if (o.kind !== undefined && o.kind !== 'Event') {
    throw new LabError('EVENT_FORMAT', `a k8s_audit event should have kind Event, got '${String(o.kind)}' (an EventList goes to k8sAuditEvents)`);
  }
  if (typeof o.apiVersion === 'string' && !o.apiVersion.startsWith('audit.k8s.io/')) {
    throw new LabError('EVENT_FORMAT', `a k8s_audit event should have apiVersion audit.k8s.io/v1, got '${o.apiVersion}'`);
  }
  if (typeof o.auditID !== 'string' || o.auditID === '') {
    // The k8saudit plugin extracts nothing from JSON without auditID (ExtractFromJSON).
    throw new LabError('EVENT_FORMAT', `a k8s_audit event needs a non-empty auditID string, got ${describe(o.auditID)}`);
  }
  const time = eventTime(o);
  const event: Record<string | symbol, unknown> = { source: 'k8s_audit' };
  if (time !== undefined) event['evt.time'] = time;
  event[K8S_AUDIT_OBJECT] = o;
  return event as AuditEvent;
}

/**
 * What a log or webhook backend delivers, as engine events: one Event, an
 * EventList (webhook backend's request body), or JSON lines (log backend,
 * one Event per line), as text or parsed. Throws EVENT_FORMAT naming the
 * line or item.
 */
export function k8sAuditEvents(payload: string | object): AuditEvent[] {
  if (typeof payload === 'string') {
    // One JSON document (an Event or EventList, maybe pretty-printed), else JSON lines.
    let whole: unknown;
    try {
      whole = JSON.parse(payload);
    } catch {
      whole = undefined;
    }
    if (typeof whole === 'object' && whole !== null) return k8sAuditEvents(whole);
    const out: AuditEvent[] = [];
    const lines = payload.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        throw new LabError('EVENT_FORMAT', `audit log line ${i + 1}: not JSON: ${(err as Error).message}`, { cause: err });
      }
      try {
        out.push(...k8sAuditEvents(parsed as object));
      } catch (err) {
        if (err instanceof LabError) throw new LabError('EVENT_FORMAT', `audit log line ${i + 1}: ${err.message}`, { cause: err });
        throw err;
      }
    }
    return out;
  }
  const o = payload as Record<string, unknown>;
  if (o.kind === 'EventList') {
    if (!Array.isArray(o.items)) throw new LabError('EVENT_FORMAT', 'an EventList should have an items array');
    return o.items.map((item, i) => {
      try {
        return k8sAuditEvent(item);
      } catch (err) {
        if (err instanceof LabError) throw new LabError('EVENT_FORMAT', `EventList item ${i}: ${err.message}`, { cause: err });
        throw err;
      }
    });
  }
  return [k8sAuditEvent(payload)];
}

/** The Event object of an event built by k8sAuditEvent, if any. */
export function k8sAuditObject(event: AuditEvent): Record<string, unknown> | undefined {
  return (event as { [K8S_AUDIT_OBJECT]?: Record<string, unknown> })[K8S_AUDIT_OBJECT];
}

/** The value Falco's plugins extract for `field` (e.g. `ka.verb`, `jevt.value[/stage]`) from an event built by k8sAuditEvent. */
export function k8sAuditField(event: AuditEvent, field: string): FieldValue {
  const m = /^([^[\]]+)(?:\[([^\]]*)\])?$/.exec(field);
  const o = k8sAuditObject(event);
  const extract = m ? k8sAuditExtractor(m[1]!, m[2]) : undefined;
  if (!extract) throw new LabError('EVENT_FORMAT', `'${field}' is not a k8s_audit field`);
  return o ? extract(o) : undefined;
}

/**
 * An extractor for `name[arg]` over an Event object, or undefined when the
 * name is not a k8s_audit field. Values are what the plugin sets: strings,
 * or string lists for list fields; undefined when it sets none.
 */
export function k8sAuditExtractor(name: string, arg: string | undefined): ((o: Record<string, unknown>) => FieldValue) | undefined {
  const spec = K8S_AUDIT_FIELDS[name];
  if (!spec) return undefined;
  const index = arg !== undefined && /^\d+$/.test(arg) ? Number(arg) : undefined;
  // As upstream: a key argument still makes ArgPresent true, and ArgIndex is then 0.
  const filter = arg === undefined ? -1 : (index ?? 0);
  const fromKeys = (...keys: string[]) => (o: Record<string, unknown>): FieldValue => {
    const v = getPath(o, keys);
    if (v === undefined) return undefined;
    if (spec.list) return Array.isArray(v) ? v.map(asString) : undefined;
    return asString(v);
  };
  for (const list of CONTAINER_LISTS) {
    const prefix = `ka.req.pod.${list}.`;
    if (name.startsWith(prefix)) return containerField(list, name.slice(prefix.length), filter);
  }
  switch (name) {
    case 'ka.auditid': return fromKeys('auditID');
    case 'ka.stage': return fromKeys('stage');
    case 'ka.auth.decision': return fromKeys('annotations', 'authorization.k8s.io/decision');
    case 'ka.auth.reason': return fromKeys('annotations', 'authorization.k8s.io/reason');
    case 'ka.auth.openshift.decision': return fromKeys('annotations', 'authentication.openshift.io/decision');
    case 'ka.auth.openshift.username': return fromKeys('annotations', 'authentication.openshift.io/username');
    case 'ka.validations.admission.policy.failure': return fromKeys('annotations', 'validation.policy.admission.k8s.io/validation_failure');
    case 'ka.security.pod.violations': return fromKeys('annotations', 'pod-security.kubernetes.io/audit-violations');
    case 'ka.user.name': return fromKeys('user', 'username');
    case 'ka.user.groups': return fromKeys('user', 'groups');
    case 'ka.impuser.name': return fromKeys('impersonatedUser', 'username');
    case 'ka.verb': return fromKeys('verb');
    case 'ka.uri': return fromKeys('requestURI');
    case 'ka.uri.param': return (o) => {
      const uri = getPath(o, ['requestURI']);
      if (typeof uri !== 'string') return undefined;
      const q = uri.indexOf('?');
      if (q < 0) return undefined;
      return new URLSearchParams(uri.slice(q + 1)).get(arg ?? '') ?? undefined;
    };
    case 'ka.target.name': return fromKeys('objectRef', 'name');
    case 'ka.target.namespace': return fromKeys('objectRef', 'namespace');
    case 'ka.target.resource': return fromKeys('objectRef', 'resource');
    case 'ka.target.subresource': return fromKeys('objectRef', 'subresource');
    case 'ka.target.pod.name': return (o) => {
      if (getPath(o, ['objectRef', 'resource']) !== 'pods') return undefined;
      const sub = getPath(o, ['objectRef', 'subresource']);
      if (sub !== undefined && sub !== '') return undefined;
      const v = getPath(o, ['responseObject', 'metadata', 'name']);
      return v === undefined ? undefined : asString(v);
    };
    case 'ka.req.binding.subjects': return fromKeys('requestObject', 'subjects');
    case 'ka.req.binding.subjects.user_names': return subjectNames('User', false);
    case 'ka.req.binding.subjects.serviceaccount_names': return subjectNames('ServiceAccount', false);
    case 'ka.req.binding.subjects.serviceaccount_ns_names': return subjectNames('ServiceAccount', true);
    case 'ka.req.binding.subjects.group_names': return subjectNames('Group', false);
    case 'ka.req.binding.role': return fromKeys('requestObject', 'roleRef', 'name');
    case 'ka.req.binding.subject.has_name': return () => 'true'; // deprecated upstream: always "true"
    case 'ka.req.configmap.name': return fromKeys('objectRef', 'name');
    case 'ka.req.configmap.obj': return fromKeys('requestObject', 'data');
    case 'ka.req.container.image': return first(containerField('containers', 'image', 0));
    case 'ka.req.container.image.repository': return first(containerField('containers', 'image.repository', 0));
    case 'ka.req.pod.host_ipc': return fromKeys('requestObject', 'spec', 'hostIPC');
    case 'ka.req.pod.host_network': case 'ka.req.container.host_network': return fromKeys('requestObject', 'spec', 'hostNetwork');
    case 'ka.req.pod.host_pid': return fromKeys('requestObject', 'spec', 'hostPID');
    case 'ka.req.container.privileged': return (o) => {
      const arr = valuesRecursive(o, -1, ['requestObject', 'spec', 'containers', 'securityContext', 'privileged']);
      if (arr === undefined) return undefined;
      return arr.some((v) => v === true) ? 'true' : 'false';
    };
    case 'ka.req.pod.run_as_user': return fromKeys('requestObject', 'spec', 'securityContext', 'runAsUser');
    case 'ka.req.pod.run_as_group': return fromKeys('requestObject', 'spec', 'securityContext', 'runAsGroup');
    case 'ka.req.role.rules': return fromKeys('requestObject', 'rules');
    case 'ka.req.role.rules.apiGroups': return rulesField('apiGroups', filter);
    case 'ka.req.role.rules.nonResourceURLs': return rulesField('nonResourceURLs', filter);
    case 'ka.req.role.rules.verbs': return rulesField('verbs', filter);
    case 'ka.req.role.rules.resources': return rulesField('resources', filter);
    // As upstream: sourceIPs is looked up under requestObject.rules, so it is absent on real events.
    case 'ka.sourceips': return rulesField('sourceIPs', filter);
    case 'ka.req.pod.fs_group': return fromKeys('requestObject', 'spec', 'securityContext', 'fsGroup');
    case 'ka.req.pod.supplemental_groups': return fromKeys('requestObject', 'spec', 'securityContext', 'supplementalGroups');
    case 'ka.req.service.type': return fromKeys('requestObject', 'spec', 'type');
    case 'ka.req.service.ports': return stringsSkipNil(['requestObject', 'spec', 'ports'], filter);
    case 'ka.req.pod.volumes.hostpath': return stringsSkipNil(['requestObject', 'spec', 'volumes', 'hostPath', 'path'], filter);
    case 'ka.req.pod.volumes.flexvolume_driver': return stringsSkipNil(['requestObject', 'spec', 'volumes', 'flexVolume', 'driver'], filter);
    case 'ka.req.volume.hostpath': return (o) => {
      const arr = valuesRecursive(o, filter, ['requestObject', 'spec', 'volumes', 'hostPath', 'path']);
      if (arr === undefined) return undefined;
      const a = arg ?? '';
      const prefix = a.endsWith('*') ? a.slice(0, -1) : undefined;
      return skipNil(arr).some((v) => (prefix !== undefined && v.startsWith(prefix)) || v === a) ? 'true' : 'false';
    };
    case 'ka.req.pod.volumes.volume_type': return (o) => {
      const arr = valuesRecursive(o, filter, ['requestObject', 'spec', 'volumes', '']);
      if (arr === undefined) return undefined;
      const out: string[] = [];
      for (const v of arr) if (isObject(v)) for (const k of Object.keys(v)) if (k !== 'name') out.push(k);
      return out;
    };
    case 'ka.resp.name': return fromKeys('responseObject', 'metadata', 'name');
    case 'ka.response.code': return fromKeys('responseStatus', 'code');
    case 'ka.response.reason': return fromKeys('responseStatus', 'reason');
    case 'ka.useragent': return fromKeys('userAgent');
    case 'ka.cluster.name': return fromKeys('annotations', 'cluster_name');
    case 'json.value': case 'jevt.value': return jsonPointer(arg ?? '');
    case 'json.obj': case 'jevt.obj': return (o) => JSON.stringify(o, null, 2);
    case 'json.rawtime': case 'jevt.rawtime': return (o) => rawTime(o);
    case 'jevt.time': case 'jevt.time.iso8601': return (o) => eventTime(o);
    default: return undefined;
  }
}

// ---- container lists (extractContainerField)

function containerField(list: string, sub: string, filter: number): (o: Record<string, unknown>) => FieldValue {
  const path = (keys: string[]) => ['requestObject', 'spec', list, ...keys];
  switch (sub) {
    case 'name': return (o) => stringsStrict(valuesRecursive(o, filter, path(['name'])));
    case 'image': return (o) => stringsStrict(valuesRecursive(o, filter, path(['image'])));
    case 'image.repository': return (o) => {
      const images = stringsStrict(valuesRecursive(o, filter, path(['image'])));
      // As upstream: cut at the first ':' then '@' (a registry port cuts the name short).
      return images?.map((i) => i.split(':')[0]!.split('@')[0]!);
    };
    case 'command': case 'args': return (o) => {
      const arr = valuesRecursive(o, filter, path([sub]));
      if (arr === undefined) return undefined;
      const out: string[] = [];
      for (const v of arr) {
        if (v === undefined) continue;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
        out.push(v.join(' '));
      }
      return out.length === 0 ? undefined : out;
    };
    case 'host_port': return (o) => {
      const arr = valuesRecursive(o, filter, path(['ports']));
      if (arr === undefined) return undefined;
      const out: string[] = [];
      for (const ports of arr) {
        if (ports === undefined) continue;
        if (!Array.isArray(ports)) return undefined;
        for (const p of ports) {
          const v = getPath(p, ['hostPort']) ?? getPath(p, ['containerPort']);
          if (v !== undefined) out.push(asString(v));
        }
      }
      return out;
    };
    case 'privileged': return stringsSkipNil(path(['securityContext', 'privileged']), filter);
    case 'allow_privilege_escalation': return stringsSkipNil(path(['securityContext', 'allowPrivilegeEscalation']), filter);
    case 'read_only_fs': return stringsSkipNil(path(['securityContext', 'readOnlyRootFilesystem']), filter);
    case 'run_as_user': return stringsSkipNil(path(['securityContext', 'runAsUser']), filter);
    case 'run_as_group': return stringsSkipNil(path(['securityContext', 'runAsGroup']), filter);
    case 'proc_mount': return stringsSkipNil(path(['securityContext', 'procMount']), filter);
    case 'add_capabilities': return stringsSkipNil(path(['securityContext', 'capabilities', 'add']), filter);
    case 'eff_run_as_user': case 'eff_run_as_group': return (o) => {
      // As upstream (readFromContainerEffectively): the pod default is spec.<key> and the
      // container value <container>.<key>, both outside securityContext.
      const key = sub === 'eff_run_as_user' ? 'runAsUser' : 'runAsGroup';
      const podValue = getPath(o, ['requestObject', 'spec', key]);
      const def = podValue === undefined ? '0' : asString(podValue);
      const arr = valuesRecursive(o, filter, path([key]));
      return arr?.map((v) => (v === undefined ? def : asString(v)));
    };
    default: return () => undefined;
  }
}

function subjectNames(kind: string, withNamespace: boolean): (o: Record<string, unknown>) => FieldValue {
  return (o) => {
    const subjects = getPath(o, ['requestObject', 'subjects']);
    if (subjects === undefined) return [];
    if (!Array.isArray(subjects)) return undefined;
    const out: string[] = [];
    for (const s of subjects) {
      const k = getPath(s, ['kind']);
      const n = getPath(s, ['name']);
      if (k === undefined || n === undefined || asString(k) !== kind) continue;
      if (withNamespace) {
        const ns = getPath(s, ['namespace']);
        if (ns === undefined) continue;
        out.push(`${asString(ns)}:${asString(n)}`);
      } else out.push(asString(n));
    }
    return out;
  };
}

function rulesField(key: string, filter: number): (o: Record<string, unknown>) => FieldValue {
  return (o) => {
    const arr = valuesRecursive(o, filter, ['requestObject', 'rules', key]);
    if (arr === undefined) return undefined;
    const out: string[] = [];
    for (const v of arr) if (Array.isArray(v)) out.push(...skipNil(v));
    return out;
  };
}

function stringsSkipNil(path: string[], filter: number): (o: Record<string, unknown>) => FieldValue {
  return (o) => {
    const arr = valuesRecursive(o, filter, path);
    return arr === undefined ? undefined : skipNil(arr);
  };
}

function first(get: (o: Record<string, unknown>) => FieldValue): (o: Record<string, unknown>) => FieldValue {
  return (o) => {
    const v = get(o);
    return Array.isArray(v) ? (v[0] as string | undefined) : undefined;
  };
}

// ---- JSON walking (getValuesRecursive, jsonValueAsString)

/**
 * Walks `keys`; at an array, every element (filter -1, a missing path then
 * gives an `undefined` placeholder) or the element at `filter`. An empty key
 * takes the value itself. Undefined when the path is missing.
 */
function valuesRecursive(v: unknown, filter: number, keys: readonly string[]): unknown[] | undefined {
  let cur = v;
  for (let i = 0; i < keys.length; i++) {
    if (Array.isArray(cur)) {
      if (filter === -1) {
        const out: unknown[] = [];
        for (const el of cur) {
          const sub = valuesRecursive(el, filter, keys.slice(i));
          if (sub === undefined) out.push(undefined);
          else out.push(...sub);
        }
        return out;
      }
      if (filter >= cur.length) return undefined;
      cur = cur[filter];
    }
    const k = keys[i]!;
    if (k !== '') cur = isObject(cur) ? cur[k] : undefined;
    if (cur === undefined || cur === null) return undefined;
  }
  return [cur];
}

function getPath(v: unknown, keys: readonly string[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (!isObject(cur)) return undefined;
    cur = cur[k];
  }
  return cur === null ? undefined : cur;
}

/** RFC 6901, with the json plugin's leniency: a leading '/' is optional. The pointer is split once. */
function jsonPointer(pointer: string): (o: unknown) => string | undefined {
  if (pointer === '') return (o) => JSON.stringify(o);
  const p = pointer.startsWith('/') ? pointer.slice(1) : pointer;
  const keys = p.split('/').map((raw) => raw.replaceAll('~1', '/').replaceAll('~0', '~'));
  const indexes = keys.map((k) => (/^\d+$/.test(k) ? Number(k) : undefined));
  return (o) => {
    let cur: unknown = o;
    for (let i = 0; i < keys.length; i++) {
      if (Array.isArray(cur)) cur = indexes[i] === undefined ? undefined : cur[indexes[i]!];
      else cur = isObject(cur) ? cur[keys[i]!] : undefined;
      if (cur === undefined || cur === null) return undefined;
    }
    return asString(cur);
  };
}

function asString(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function skipNil(arr: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const v of arr) if (v !== undefined && v !== null) out.push(asString(v));
  return out;
}

/** arrayAsStrings: a missing element makes the whole extraction fail. */
function stringsStrict(arr: unknown[] | undefined): string[] | undefined {
  if (arr === undefined || arr.some((v) => v === undefined || v === null)) return undefined;
  return arr.map(asString);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The plugin stamps each event with its stageTimestamp (source.go). */
function eventTime(o: Record<string, unknown>): string | undefined {
  const t = o.stageTimestamp;
  if (typeof t !== 'string') return undefined;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return undefined;
  if (m[3] === 'Z') return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? undefined : `${d.toISOString().slice(0, 19)}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

/** Per Event object: rules read jevt.rawtime on every event (k8s_audit_always_true), so compute it once. */
const RAW_TIMES = new WeakMap<object, string | undefined>();

function rawTime(o: Record<string, unknown>): string | undefined {
  if (RAW_TIMES.has(o)) return RAW_TIMES.get(o);
  const v = computeRawTime(o);
  RAW_TIMES.set(o, v);
  return v;
}

function computeRawTime(o: Record<string, unknown>): string | undefined {
  const t = eventTime(o);
  if (t === undefined) return undefined;
  const seconds = BigInt(Math.floor(Date.parse(`${t.slice(0, 19)}Z`) / 1000));
  return (seconds * 1_000_000_000n + BigInt(t.slice(20, 29))).toString();
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `string '${v}'` : typeof v;
}
