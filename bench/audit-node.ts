/**
 * Throughput of the node-side audit daemon on records captured from a lab
 * node (lab/audit/fixtures/node/audit-sample.log: a shell exec'd through
 * CRI, the busybox sleep loop, `cat /etc/shadow`, containerd's setns and
 * mounts), repeated with fresh serials, on one core.
 *
 * Rows, all in the same run:
 * - peer: the engine alone (auditLogToEvents + evaluate, built-in rules),
 *   no placement, no enrichment;
 * - daemon, /proc in memory: parse, assemble, place, enrich, evaluate;
 *   /proc is a map, so this is the daemon's own cost;
 * - daemon, real /proc: every event's pid is this process, so each
 *   placement reads /proc/<pid>/stat and cgroup from the kernel and finds
 *   the process outside the lab: the cost of the /proc reads.
 *
 * - peer: rule evaluation alone, on the very events the daemon built
 *   (placed and enriched), recorded in a warm-up run: what the end-to-end
 *   rows are measured against;
 * - k8s_audit: audit.k8s.io/v1 Events as the log backend writes them (JSON
 *   lines) through k8sAuditEvents and Falco's k8s_audit_rules.yaml, and
 *   the same Event objects already parsed (what a webhook backend hands
 *   over after its own JSON parse).
 *
 * Run: node --import tsx bench/audit-node.ts [events-per-run] [runs]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditDaemon, AuditEngine, BUILTIN_RULES_PATH, auditLogToEvents, type Alert, type AuditEvent, type DaemonIo } from '../lab/audit/index.ts';
import { k8sAuditEvent, k8sAuditEvents } from '../lab/audit/k8saudit.ts';
import { fakeProc } from '../lab/audit/node/fake-proc.ts';
import { realProc } from '../lab/audit/node/daemon-main.ts';

const EVENTS_PER_RUN = Number(process.argv[2] ?? 20_000);
const RUNS = Number(process.argv[3] ?? 3);
const FIXTURES = join(import.meta.dirname, '../lab/audit/fixtures/node');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const builtin = { name: 'builtin', content: readFileSync(BUILTIN_RULES_PATH, 'utf8') };

const LAB = 'mwrvrvmt-17f105';
const NODE = '89549c42c44bff87024121790431499fa3d564236b70a3305eceeb9757b34ee8';
const APP = '4b0a212671a3b76b422021464250771c8162785a33112cb3cda2eeb7700f95c5';

/** The sample's events, repeated with new serials until `n` events. */
function records(n: number, pid?: number): string[] {
  const sample = fixture('audit-sample.log').split('\n').filter(Boolean);
  const perCopy = new Set(sample.map((l) => /:(\d+)\)/.exec(l)![1])).size;
  const out: string[] = [];
  for (let copy = 0; out.length === 0 || (copy * perCopy) < n; copy++) {
    for (const line of sample) {
      let l = line.replace(/audit\((\d+\.\d+):(\d+)\)/, (_, t: string, s: string) => `audit(${t}:${Number(s) + copy * 100_000})`);
      if (pid !== undefined) l = l.replace(/ pid=\d+/, ` pid=${pid}`);
      out.push(l);
    }
  }
  return out;
}

/** An engine that keeps the events it is given, to replay them to the engine alone. */
class RecordingEngine extends AuditEngine {
  readonly seen: AuditEvent[] = [];
  override evaluate(event: AuditEvent): Alert[] {
    this.seen.push(event);
    return super.evaluate(event);
  }
}

/** Kubernetes audit Events of the kinds k8s_audit_rules.yaml looks at, most of them benign. */
function k8sEvents(n: number): Record<string, unknown>[] {
  const shapes = [
    { verb: 'get', resource: 'pods', user: 'system:kube-scheduler' },
    { verb: 'list', resource: 'configmaps', user: 'system:serviceaccount:kube-system:coredns' },
    { verb: 'create', resource: 'pods', user: 'system:serviceaccount:kube-system:replicaset-controller', spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } },
    { verb: 'update', resource: 'leases', user: 'system:kube-controller-manager' },
    { verb: 'create', resource: 'pods', user: 'mallory', spec: { hostPID: true, containers: [{ name: 'c', image: 'busybox:1.36', securityContext: { privileged: true } }] } },
  ];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const s = shapes[i % shapes.length]!;
    const event: Record<string, unknown> = {
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: `a-${i}`, stage: 'ResponseComplete',
      requestURI: `/api/v1/namespaces/default/${s.resource}`, verb: s.verb, user: { username: s.user, groups: ['system:authenticated'] },
      objectRef: { resource: s.resource, namespace: 'default', apiVersion: 'v1' }, responseStatus: { code: s.verb === 'create' ? 201 : 200 },
      requestReceivedTimestamp: '2026-12-05T12:00:00.000000Z', stageTimestamp: '2026-12-05T12:00:00.001000Z',
      annotations: { 'authorization.k8s.io/decision': 'allow' },
    };
    if (s.spec) event.requestObject = { kind: 'Pod', spec: s.spec };
    out.push(event);
  }
  return out;
}
const k8sRules = { name: 'k8s_audit_rules.yaml', content: readFileSync(join(import.meta.dirname, '../lab/audit/fixtures/k8saudit/k8s_audit_rules.yaml'), 'utf8') };

function daemonOver(proc: DaemonIo['proc'], sink: Alert[], engine: AuditEngine = new AuditEngine({ hostname: 'bench' })): AuditDaemon {
  const cri = JSON.parse(fixture('cri-app.json'));
  const io: DaemonIo = {
    now: () => new Date(0),
    proc,
    listContainers: async () => [{ id: APP, state: 'CONTAINER_RUNNING' }],
    containerStatus: async () => cri,
    auditctl: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    auditctlInNode: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
    readRules: async () => [builtin],
    emit: (a) => sink.push(a),
    log: () => {},
  };
  return new AuditDaemon({ labId: LAB, nodeContainerId: NODE, nodePid: 23827, hostname: 'bench', sensitivePaths: [], rulesFiles: ['builtin'] }, io, engine);
}

async function timeIt(run: () => Promise<number> | number): Promise<{ ms: number; events: number }> {
  const t = performance.now();
  const events = await run();
  return { ms: performance.now() - t, events };
}

const memoryProc = fakeProc({
  [`/proc/23827/mountinfo`]: fixture('node-mountinfo.txt'),
  '/proc/23871/cgroup': fixture('cgroup-node.txt'),
  '/proc/23871/stat': '23871 (containerd) S 23827 1 1 0',
  '/proc/24159/cgroup': fixture('cgroup-container-init.txt'),
  '/proc/24159/stat': '24159 (run.sh) S 24000 1 1 0',
});

/** The daemon's placed and enriched events, recorded once. */
const enriched = await (async () => {
  const recorder = new RecordingEngine({ hostname: 'bench' });
  const d = daemonOver(memoryProc, [], recorder);
  await d.start();
  await d.syncInventory();
  for (const l of records(EVENTS_PER_RUN)) d.handleAuditLine(l);
  d.tick();
  d.tick();
  return recorder.seen.filter((e) => e.source === undefined || e.source === 'syscall');
})();
const k8sObjects = k8sEvents(EVENTS_PER_RUN);
// Engines that stay loaded across runs, like the daemon's: runs after the first measure warm rules.
const evalEngine = new AuditEngine({ hostname: 'bench' });
evalEngine.load([builtin]);
const k8sEngine = new AuditEngine({ hostname: 'bench' });
k8sEngine.load([k8sRules]);
const k8sLog = k8sObjects.map((o) => JSON.stringify(o)).join('\n');

/** Times building the events (inside the timing: parsing is part of the path) and evaluating each. */
async function evaluateAll(engine: AuditEngine, events: () => readonly AuditEvent[]): Promise<{ ms: number; events: number; alerts: number }> {
  let alerts = 0;
  const r = await timeIt(() => {
    const list = events();
    for (const e of list) alerts += engine.evaluate(e).length;
    return list.length;
  });
  return { ...r, alerts };
}

const rows: { name: string; best: number; alerts: number }[] = [];
const variants: [string, () => Promise<{ ms: number; events: number; alerts: number }>][] = [
  ['peer: rule evaluation alone, on the daemon\'s enriched events', () => evaluateAll(evalEngine, () => enriched)],
  ['auditd text → events → rules, no placement', async () => {
    const text = records(EVENTS_PER_RUN).join('\n');
    const engine = new AuditEngine({ hostname: 'bench' });
    engine.load([builtin]);
    let alerts = 0;
    const r = await timeIt(() => {
      const events = auditLogToEvents(text);
      for (const e of events) alerts += engine.evaluate(e).length;
      return events.length;
    });
    return { ...r, alerts };
  }],
  ['daemon, /proc in memory', async () => {
    const lines = records(EVENTS_PER_RUN);
    const sink: Alert[] = [];
    const d = daemonOver(memoryProc, sink);
    await d.start();
    await d.syncInventory();
    const r = await timeIt(() => {
      for (const l of lines) d.handleAuditLine(l);
      d.tick();
      d.tick();
      return d.counters.events;
    });
    return { ...r, alerts: sink.length };
  }],
  ['daemon, real /proc (every pid read, outside the lab)', async () => {
    const lines = records(EVENTS_PER_RUN, process.pid);
    const sink: Alert[] = [];
    const d = daemonOver(realProc, sink);
    await d.start();
    const r = await timeIt(() => {
      for (const l of lines) d.handleAuditLine(l);
      d.tick();
      d.tick();
      return d.counters.events;
    });
    return { ...r, alerts: sink.length };
  }],
  ['k8s_audit: log lines (JSON) → Events → k8s_audit_rules.yaml', () => evaluateAll(k8sEngine, () => k8sAuditEvents(k8sLog))],
  ['k8s_audit: parsed Event objects → k8s_audit_rules.yaml', () => evaluateAll(k8sEngine, () => k8sObjects.map((o) => k8sAuditEvent(o)))],
];

for (const [name, run] of variants) {
  let best = 0;
  let alerts = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = await run();
    best = Math.max(best, r.events / (r.ms / 1000));
    alerts = r.alerts;
  }
  rows.push({ name, best, alerts });
}

const peer = rows[0]!.best;
console.log(`Node-side audit daemon, ${EVENTS_PER_RUN} events per run (captured lab records), best of ${RUNS}, one core, ${new Date().toISOString().slice(0, 10)}`);
console.log('');
console.log('| path | events/s | vs engine alone | alerts per run |');
console.log('| --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.best).toLocaleString('en-US')} | ${(r.best / peer).toFixed(3)}x | ${r.alerts} |`);
const e2e = rows.find((r) => r.name.startsWith('daemon, real /proc'))!.best;
console.log('');
console.log(`Goal ≥ 1,000,000 events/s end to end (daemon, real /proc): ${Math.round(e2e).toLocaleString('en-US')} (${e2e >= 1_000_000 ? 'met' : 'NOT met'}); load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)} at the end.`);
