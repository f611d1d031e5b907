/**
 * Falco's k8s_audit rules on kube-apiserver's own audit events: the kind
 * control plane writes them with the log backend (one audit.k8s.io/v1 Event
 * per line), and the lab's rules engine evaluates them as Falco's k8saudit
 * plugin would (lab/audit/k8saudit.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditEngine, k8sAuditEvents, type Alert } from '../audit/index.ts';

/** Falco's k8s_audit_rules.yaml (falcosecurity/plugins, Apache-2.0; LICENSE and provenance beside it). */
export const UPSTREAM_K8S_AUDIT_RULES = join(import.meta.dirname, '../audit/fixtures/k8saudit/k8s_audit_rules.yaml');

export interface K8sAuditVerdict {
  /** Events read from the log. */
  events: number;
  alerts: Alert[];
}

/** Evaluates the upstream k8s_audit rules on an audit log's text. */
export async function evaluateApiServerAudit(logText: string, rulesFile = UPSTREAM_K8S_AUDIT_RULES): Promise<K8sAuditVerdict> {
  const engine = new AuditEngine({ hostname: 'kind' });
  engine.load([{ name: 'k8s_audit_rules.yaml', content: await readFile(rulesFile, 'utf8') }]);
  const events = k8sAuditEvents(logText);
  return { events: events.length, alerts: events.flatMap((e) => engine.evaluate(e)) };
}

/** Alerts of `rule` that name the pod `namespace/name` (as target or response object). */
export function alertsFor(alerts: readonly Alert[], rule: string, namespace: string, name: string): Alert[] {
  return alerts.filter((a) => {
    if (a.rule !== rule) return false;
    const f = a.output_fields;
    const ns = f['ka.target.namespace'];
    const names = [f['ka.target.name'], f['ka.resp.name']];
    return ns === namespace && names.includes(name);
  });
}
