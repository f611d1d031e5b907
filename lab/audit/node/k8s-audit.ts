/**
 * The `k8s_audit` event source: an admission decision (lab/admission's
 * DecisionRecord, one per AdmissionReview the webhook answered) as the
 * event a Kubernetes audit log entry gives Falco's k8saudit plugin.
 *
 * Field meanings follow the k8saudit plugin (falcosecurity/plugins,
 * plugins/k8saudit, "Supported Fields") over audit.k8s.io/v1 Event:
 * ka.verb is the lower-case request verb, ka.uri the request URI,
 * ka.target.* the object, ka.response.code the HTTP status of the
 * response (201 for a created object, 200 for an update, 403 for an
 * admission denial), ka.req.pod.* the pod spec in the request.
 *
 * The record names the object and its images but not its spec; pass the
 * AdmissionReview's object (Pod or workload) to fill the privileged flags
 * and hostPath volumes. The object is the requester's: it is read for
 * field values only.
 */
import type { DecisionRecord } from '../../admission/index.ts';
import { formatTime, normalizeTime } from '../engine.ts';
import type { AuditEvent, FieldValue } from '../fields.ts';

/** kind → (API group path, resource), for the kinds lab/admission decides on. */
const RESOURCES: Record<string, { api: string; resource: string }> = {
  Pod: { api: '/api/v1', resource: 'pods' },
  Deployment: { api: '/apis/apps/v1', resource: 'deployments' },
  ReplicaSet: { api: '/apis/apps/v1', resource: 'replicasets' },
  StatefulSet: { api: '/apis/apps/v1', resource: 'statefulsets' },
  DaemonSet: { api: '/apis/apps/v1', resource: 'daemonsets' },
};

/** Turns one admission decision into a k8s_audit event. */
export function decisionToK8sAuditEvent(record: DecisionRecord, object?: unknown): AuditEvent {
  const known = RESOURCES[record.kind];
  const resource = known?.resource ?? `${record.kind.toLowerCase()}s`;
  const collection = `${known?.api ?? '/apis'}/namespaces/${record.namespace}/${resource}`;
  const verb = record.operation === 'CREATE' ? 'create' : 'update';
  const event: Record<string, FieldValue> = {
    'evt.time': normalizeTime(record.time) ?? isoToRfc3339(record.time),
    'ka.verb': verb,
    'ka.uri': verb === 'create' ? collection : `${collection}/${record.name}`,
    'ka.target.resource': resource,
    'ka.target.namespace': record.namespace,
    'ka.target.name': record.name,
    'ka.req.pod.containers.image': [...record.images],
    'ka.response.code': record.outcome === 'denied' ? '403' : verb === 'create' ? '201' : '200',
  };
  const spec = podSpecIn(object);
  if (spec) {
    const containers = [...arrayOf(spec.initContainers), ...arrayOf(spec.containers)];
    event['ka.req.pod.containers.privileged'] = containers.map((c) => String(field(field(c, 'securityContext'), 'privileged') === true));
    event['ka.req.pod.volumes.hostpath'] = arrayOf(spec.volumes)
      .map((v) => field(field(v, 'hostPath'), 'path'))
      .filter((p): p is string => typeof p === 'string');
  }
  return { source: 'k8s_audit', ...event };
}

/** `2026-11-22T12:53:23.670Z` (Date#toISOString) → 9 fraction digits; other text passes through. */
function isoToRfc3339(time: string): string {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? time : formatTime(d);
}

function podSpecIn(object: unknown): Record<string, unknown> | undefined {
  const kind = field(object, 'kind');
  const spec = field(object, 'spec');
  const podSpec = kind === 'Pod' ? spec : field(field(spec, 'template'), 'spec');
  return typeof podSpec === 'object' && podSpec !== null ? (podSpec as Record<string, unknown>) : undefined;
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}

function arrayOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
