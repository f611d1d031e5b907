/**
 * The `k8s_audit` event source for admission decisions: lab/admission's
 * DecisionRecord (one per AdmissionReview the webhook answered) as the
 * `audit.k8s.io/v1` Event kube-apiserver's audit log would hold for the
 * same request (RequestResponse level, stage ResponseComplete). The engine
 * then extracts Falco's k8saudit fields from it (../k8saudit.ts), exactly
 * as for events from a real API server's log or webhook backend.
 *
 * The response code is the API server's: 201 for a created object, 200
 * for an update, 403 for an admission denial. The record carries no
 * requesting user, so `user` is left out (ka.user.name is absent). The
 * object is the requester's: it goes into requestObject as given and is
 * only read by field extraction.
 */
import type { DecisionRecord } from '../../admission/index.ts';
import { formatTime, normalizeTime } from '../engine.ts';
import type { AuditEvent } from '../fields.ts';
import { k8sAuditEvent } from '../k8saudit.ts';

/** kind → (API group path, group, version, resource), for the kinds lab/admission decides on. */
const RESOURCES: Record<string, { api: string; group: string; version: string; resource: string }> = {
  Pod: { api: '/api/v1', group: '', version: 'v1', resource: 'pods' },
  Deployment: { api: '/apis/apps/v1', group: 'apps', version: 'v1', resource: 'deployments' },
  ReplicaSet: { api: '/apis/apps/v1', group: 'apps', version: 'v1', resource: 'replicasets' },
  StatefulSet: { api: '/apis/apps/v1', group: 'apps', version: 'v1', resource: 'statefulsets' },
  DaemonSet: { api: '/apis/apps/v1', group: 'apps', version: 'v1', resource: 'daemonsets' },
};

/** The audit Event kube-apiserver would log for this admission decision. */
export function decisionToAuditEventObject(record: DecisionRecord, object?: unknown): Record<string, unknown> {
  const known = RESOURCES[record.kind];
  const resource = known?.resource ?? `${record.kind.toLowerCase()}s`;
  const collection = `${known?.api ?? '/apis'}/namespaces/${record.namespace}/${resource}`;
  const verb = record.operation === 'CREATE' ? 'create' : 'update';
  const code = record.outcome === 'denied' ? 403 : verb === 'create' ? 201 : 200;
  const time = normalizeTime(record.time) ?? isoToRfc3339(record.time);
  const objectRef: Record<string, string> = { resource, namespace: record.namespace, name: record.name, apiVersion: known?.version ?? 'v1' };
  if (known?.group) objectRef.apiGroup = known.group;
  // Without the object, a Pod's images are still known from the record.
  const requestObject = object ?? (record.kind === 'Pod'
    ? { kind: 'Pod', apiVersion: 'v1', metadata: { name: record.name, namespace: record.namespace }, spec: { containers: record.images.map((image, i) => ({ name: `c${i}`, image })) } }
    : undefined);
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: record.uid || `${record.time}/${record.namespace}/${record.name}`,
    stage: 'ResponseComplete',
    requestURI: verb === 'create' ? collection : `${collection}/${record.name}`,
    verb,
    objectRef,
    responseStatus: code === 403 ? { metadata: {}, status: 'Failure', reason: 'Forbidden', code } : { metadata: {}, code },
    requestReceivedTimestamp: time,
    stageTimestamp: time,
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '' },
  };
  if (requestObject !== undefined) event.requestObject = requestObject;
  if (code !== 403 && requestObject !== undefined) event.responseObject = requestObject;
  return event;
}

/** Turns one admission decision into a k8s_audit event. */
export function decisionToK8sAuditEvent(record: DecisionRecord, object?: unknown): AuditEvent {
  return k8sAuditEvent(decisionToAuditEventObject(record, object));
}

/** `2026-11-22T12:53:23.670Z` (Date#toISOString) → 9 fraction digits; other text passes through. */
function isoToRfc3339(time: string): string {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? time : formatTime(d);
}
