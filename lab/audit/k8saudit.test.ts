import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AuditEngine } from './engine.ts';
import { k8sAuditEvent, k8sAuditEvents } from './k8saudit.ts';
import type { RulesSource } from './loader.ts';

const RULES: RulesSource = {
  name: 'k8saudit/k8s_audit_rules.yaml',
  content: readFileSync(new URL('./fixtures/k8saudit/k8s_audit_rules.yaml', import.meta.url), 'utf8'),
};

interface Req {
  verb: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  user?: string;
  code?: number;
  stage?: string;
  uri?: string;
  requestObject?: unknown;
  annotations?: Record<string, string>;
}

/** An audit.k8s.io/v1 Event as kube-apiserver's log backend writes it (RequestResponse level). */
function auditEvent(r: Req): Record<string, unknown> {
  const ns = r.namespace ?? 'default';
  const collection = `/api/v1/namespaces/${ns}/${r.resource}`;
  const objectRef: Record<string, string> = { resource: r.resource, namespace: ns, apiVersion: 'v1' };
  if (r.name) objectRef.name = r.name;
  if (r.subresource) objectRef.subresource = r.subresource;
  const event: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'RequestResponse',
    auditID: '5c2b6a8e-5d0f-4a39-8e0b-0d8b3c1f9a11',
    stage: r.stage ?? 'ResponseComplete',
    requestURI: r.uri ?? (r.name ? `${collection}/${r.name}${r.subresource ? `/${r.subresource}` : ''}` : collection),
    verb: r.verb,
    user: { username: r.user ?? 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
    sourceIPs: ['172.18.0.1'],
    userAgent: 'kubectl/v1.36.0',
    objectRef,
    responseStatus: { metadata: {}, code: r.code ?? (r.verb === 'create' ? 201 : 200) },
    requestReceivedTimestamp: '2026-12-05T12:00:00.123456Z',
    stageTimestamp: '2026-12-05T12:00:00.130000Z',
    annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '', ...r.annotations },
  };
  if (r.requestObject !== undefined) event.requestObject = r.requestObject;
  return event;
}

const pod = (spec: Record<string, unknown>) => ({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }], ...spec } });

/**
 * One crafted event per enabled rule. Rules whose shipped condition holds a
 * placeholder macro (`k8s_audit_always_true`/`never_true`, "override this")
 * are fired with the override the file's comments ask for (TUNING).
 */
const CASES: Record<string, Req> = {
  'Disallowed K8s User': { verb: 'get', resource: 'pods', user: 'mallory' },
  'Create Disallowed Pod': { verb: 'create', resource: 'pods', requestObject: pod({}) },
  'Create Privileged Pod': { verb: 'create', resource: 'pods', requestObject: pod({ containers: [{ name: 'c', image: 'nginx:1.27', securityContext: { privileged: true } }] }) },
  'Create Sensitive Mount Pod': { verb: 'create', resource: 'pods', requestObject: pod({ volumes: [{ name: 'v', hostPath: { path: '/proc' } }] }) },
  'Create HostNetwork Pod': { verb: 'create', resource: 'pods', requestObject: pod({ hostNetwork: true }) },
  'Create HostPid Pod': { verb: 'create', resource: 'pods', requestObject: pod({ hostPID: true }) },
  'Create HostIPC Pod': { verb: 'create', resource: 'pods', requestObject: pod({ hostIPC: true }) },
  'Create NodePort Service': { verb: 'create', resource: 'services', requestObject: { kind: 'Service', spec: { type: 'NodePort' } } },
  'Create/Modify Configmap With Private Credentials': { verb: 'update', resource: 'configmaps', name: 'cfg', requestObject: { kind: 'ConfigMap', data: { db_password: 'hunter2' } } },
  'Anonymous Request Allowed': { verb: 'get', resource: 'pods', user: 'system:anonymous', uri: '/api/v1/pods' },
  'Attach/Exec Pod': { verb: 'create', resource: 'pods', name: 'p', subresource: 'exec', stage: 'ResponseStarted' },
  'port-forward': { verb: 'create', resource: 'pods', name: 'p', subresource: 'portforward' },
  'EphemeralContainers Created': { verb: 'patch', resource: 'pods', name: 'p', subresource: 'ephemeralcontainers' },
  'Create Disallowed Namespace': { verb: 'create', resource: 'namespaces', name: 'attackers' },
  'Pod Created in Kube Namespace': { verb: 'create', resource: 'pods', namespace: 'kube-system', requestObject: pod({}) },
  'Service Account Created in Kube Namespace': { verb: 'create', resource: 'serviceaccounts', namespace: 'kube-system', name: 'backdoor' },
  'System ClusterRole Modified/Deleted': { verb: 'delete', resource: 'clusterroles', name: 'system:node' },
  'Attach to cluster-admin Role': { verb: 'create', resource: 'clusterrolebindings', requestObject: { roleRef: { name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'mallory' }] } },
  'ClusterRole With Wildcard Created': { verb: 'create', resource: 'clusterroles', requestObject: { rules: [{ apiGroups: [''], resources: ['*'], verbs: ['get'] }] } },
  'ClusterRole With Write Privileges Created': { verb: 'create', resource: 'roles', requestObject: { rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }] } },
  'ClusterRole With Pod Exec Created': { verb: 'create', resource: 'clusterroles', requestObject: { rules: [{ resources: ['pods/exec'], verbs: ['get'] }] } },
  'K8s Deployment Created': { verb: 'create', resource: 'deployments' },
  'K8s Deployment Deleted': { verb: 'delete', resource: 'deployments', name: 'd' },
  'K8s Service Created': { verb: 'create', resource: 'services' },
  'K8s Service Deleted': { verb: 'delete', resource: 'services', name: 's' },
  'K8s ConfigMap Created': { verb: 'create', resource: 'configmaps' },
  'K8s ConfigMap Deleted': { verb: 'delete', resource: 'configmaps', name: 'c' },
  'K8s Namespace Created': { verb: 'create', resource: 'namespaces' },
  'K8s Namespace Deleted': { verb: 'delete', resource: 'namespaces', name: 'n' },
  'K8s Serviceaccount Created': { verb: 'create', resource: 'serviceaccounts' },
  'K8s Serviceaccount Deleted': { verb: 'delete', resource: 'serviceaccounts', name: 'sa' },
  'K8s Role Created': { verb: 'create', resource: 'roles' },
  'K8s Role Deleted': { verb: 'delete', resource: 'roles', name: 'r' },
  'K8s ClusterRole Created': { verb: 'create', resource: 'clusterroles' },
  'K8s ClusterRole Deleted': { verb: 'delete', resource: 'clusterroles', name: 'cr' },
  'K8s RoleBinding Created': { verb: 'create', resource: 'rolebindings' },
  'K8s RoleBinding Deleted': { verb: 'delete', resource: 'rolebindings', name: 'rb' },
  'K8s ClusterRoleBinding Created': { verb: 'create', resource: 'clusterrolebindings' },
  'K8s ClusterRoleBinding Deleted': { verb: 'delete', resource: 'clusterrolebindings', name: 'crb' },
  'K8s Secret Created': { verb: 'create', resource: 'secrets' },
  'K8s Secret Deleted': { verb: 'delete', resource: 'secrets', name: 's' },
  'K8s Secret Get Successfully': { verb: 'get', resource: 'secrets', name: 's' },
  'K8s Secret Get Unsuccessfully Tried': { verb: 'get', resource: 'secrets', name: 's', code: 403 },
  'All K8s Audit Events': { verb: 'list', resource: 'pods' },
  'Full K8s Administrative Access': { verb: 'list', resource: 'pods', user: 'kubernetes-admin' },
  'Ingress Object without TLS Certificate Created': { verb: 'create', resource: 'ingresses', requestObject: { kind: 'Ingress', spec: { rules: [] } } },
  'Untrusted Node Successfully Joined the Cluster': { verb: 'create', resource: 'nodes', name: 'node-x' },
  'Untrusted Node Unsuccessfully Tried to Join the Cluster': { verb: 'create', resource: 'nodes', name: 'node-x', code: 403 },
};

/** The placeholder macros the rules file tells users to override, flipped so the guarded rules can fire. */
const TUNING: RulesSource = {
  name: 'tuning.yaml',
  content: ['allowed_k8s_containers', 'allowed_full_admin_users', 'allow_all_k8s_nodes']
    .map((m) => `- macro: ${m}\n  condition: (k8s_audit_never_true)\n  override:\n    condition: replace\n`)
    .concat(['- macro: consider_all_events\n  condition: (k8s_audit_always_true)\n  override:\n    condition: replace\n'])
    .join('\n'),
};

describe('k8s_audit_rules.yaml (falcosecurity/plugins)', () => {
  const engine = new AuditEngine({ hostname: 'h' });
  const set = engine.load([RULES, TUNING]);
  const enabled = set.rules.filter((r) => r.enabled).map((r) => r.name);

  it('loads without error, and every rule is enabled and covered by a crafted event', () => {
    assert.equal(set.rules.length, 48);
    assert.deepEqual([...enabled].sort(), Object.keys(CASES).sort());
  });

  for (const [rule, req] of Object.entries(CASES)) {
    it(`fires "${rule}" on an event crafted for it`, () => {
      const fired = engine.evaluate(k8sAuditEvent(auditEvent(req))).map((a) => a.rule);
      assert.ok(fired.includes(rule), `fired: ${fired.join(', ') || 'nothing'}`);
    });
  }

  describe('when the shipped placeholders are kept (no tuning)', () => {
    const plain = new AuditEngine({ hostname: 'h' });
    plain.load([RULES]);
    it('never fires the rules guarded by k8s_audit_always_true / never_true, as in Falco', () => {
      for (const rule of ['Create Disallowed Pod', 'All K8s Audit Events', 'Full K8s Administrative Access', 'Untrusted Node Successfully Joined the Cluster']) {
        const fired = plain.evaluate(k8sAuditEvent(auditEvent(CASES[rule]!))).map((a) => a.rule);
        assert.ok(!fired.includes(rule), `${rule} fired`);
      }
    });
  });

  describe('when an event is benign', () => {
    it('raises nothing for a system user listing pods', () => {
      const fired = engine.evaluate(k8sAuditEvent(auditEvent({ verb: 'list', resource: 'pods', user: 'system:kube-scheduler' })));
      assert.deepEqual(fired.map((a) => a.rule), ['All K8s Audit Events']);
    });
    it('does not fire Create Privileged Pod for an unprivileged pod, nor for an allowed image', () => {
      const fire = (spec: Record<string, unknown>) => engine.evaluate(k8sAuditEvent(auditEvent({ verb: 'create', resource: 'pods', requestObject: pod(spec) }))).map((a) => a.rule);
      assert.ok(!fire({}).includes('Create Privileged Pod'));
      assert.ok(!fire({ containers: [{ name: 'c', image: 'registry.k8s.io/kube-proxy:v1.36.0', securityContext: { privileged: true } }] }).includes('Create Privileged Pod'));
    });
  });

  it('renders jevt.value and %ka fields in outputs', () => {
    const alerts = engine.evaluate(k8sAuditEvent(auditEvent(CASES['Create Sensitive Mount Pod']!)));
    const a = alerts.find((x) => x.rule === 'Create Sensitive Mount Pod')!;
    assert.equal(a.output_fields['jevt.value[/requestObject/spec/volumes]'], '[{"name":"v","hostPath":{"path":"/proc"}}]');
    assert.deepEqual(a.output_fields['ka.req.pod.containers.image'], ['nginx:1.27']);
    assert.equal(a.time, '2026-12-05T12:00:00.130000000Z');
  });
});

describe('k8s_audit field extraction', () => {
  const fire = (condition: string, ev: Record<string, unknown>): boolean => {
    const engine = new AuditEngine({ hostname: 'h' });
    engine.load([{ name: 'r.yaml', content: `- rule: R\n  desc: d\n  condition: ${JSON.stringify(condition)}\n  output: o\n  priority: INFO\n  source: k8s_audit\n` }]);
    return engine.evaluate(k8sAuditEvent(ev)).length === 1;
  };
  const ev = auditEvent({
    verb: 'create', resource: 'pods', uri: '/api/v1/namespaces/default/pods/p/exec?command=sh&stdin=true',
    requestObject: pod({ containers: [{ name: 'a', image: 'registry.local:5000/app:1', command: ['sh', '-c'], ports: [{ containerPort: 80, hostPort: 8080 }] }, { name: 'b', image: 'busybox@sha256:ab' }] }),
  });

  const cases: [string, boolean][] = [
    ['ka.uri.param[command] = sh', true],
    ['ka.uri.param[stdin] = true', true],
    ['ka.uri.param[missing] exists', false],
    // As upstream: the repository is cut at the first ':' (a registry port shortens it).
    ['ka.req.pod.containers.image.repository in (registry.local, busybox)', true],
    ['ka.req.pod.containers.image[1] = busybox@sha256:ab', true],
    ['ka.req.pod.containers.command = "sh -c"', true],
    ['ka.req.pod.containers.host_port intersects (8080)', true],
    ['ka.req.container.image = registry.local:5000/app:1', true],
    ['ka.req.container.privileged = false', true],
    ['ka.response.code = 201', true],
    ['ka.user.groups intersects (system:masters)', true],
    ['jevt.value[/user/username] = kubernetes-admin', true],
    ['jevt.value[/responseStatus/code] = 201', true],
    ['jevt.value[/nope] exists', false],
    ['jevt.rawtime = 1796472000130000000', true],
    ['jevt.obj contains "\\"auditID\\": \\"5c2b6a8e"', true],
    ['ka.target.subresource exists', false],
    ['ka.sourceips exists', false], // as upstream: looked up under requestObject.rules
  ];
  for (const [c, expected] of cases) it(`${c} is ${expected}`, () => assert.equal(fire(c, ev), expected));

  it('refuses a key field without its argument and an index field with a word', () => {
    assert.throws(() => fire('jevt.value = x', ev), { code: 'BAD_VALUE' });
    assert.throws(() => fire('ka.req.pod.containers.image[first] = x', ev), { code: 'BAD_VALUE' });
  });
});

describe('k8sAuditEvents', () => {
  const one = auditEvent({ verb: 'get', resource: 'pods' });
  it('reads an Event, an EventList (webhook backend) and JSON lines (log backend)', () => {
    assert.equal(k8sAuditEvents(one).length, 1);
    assert.equal(k8sAuditEvents({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [one, one] }).length, 2);
    assert.equal(k8sAuditEvents(`${JSON.stringify(one)}\n\n${JSON.stringify(one)}\n`).length, 2);
  });
  it('names the line or item of bad input', () => {
    assert.throws(() => k8sAuditEvents(`${JSON.stringify(one)}\n{not json`), { code: 'EVENT_FORMAT', message: /line 2: not JSON/ });
    assert.throws(() => k8sAuditEvents({ kind: 'EventList', items: [one, { kind: 'Event' }] }), { code: 'EVENT_FORMAT', message: /item 1: .*auditID/ });
    assert.throws(() => k8sAuditEvent({ kind: 'Pod', auditID: 'x' }), { code: 'EVENT_FORMAT', message: /kind Event/ });
  });
});
