/**
 * Throughput of the audit rules engine with the upstream default rules
 * (falco_rules.yaml) and the lab's built-in rules loaded, on a synthetic
 * but realistic event mix, on one core (Node runs the loop on one thread).
 *
 * Mix: 60% open/openat of common paths, 25% execve of common binaries in
 * and out of containers, 10% connect, 5% other syscalls and container
 * starts; about 0.5% of events are meant to fire a rule.
 *
 * The peer measured in the same run is the same engine without the
 * evt.type index (every rule of the source on every event), so the ratio
 * shows what the index buys on this machine, whatever its speed.
 *
 * Run: node --import tsx bench/audit.ts [events-per-run] [runs]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AuditEngine, BUILTIN_RULES_PATH, auditLogToEvents, containerStartedEvent, type AuditEvent } from '../lab/audit/index.ts';
import { seededRandom } from '../lab/random.ts';

const EVENTS_PER_RUN = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 5);
const POOL = 200_000;
const GOAL = 300_000;
const FALCO = { mean: 78_000, p99: 261_000, max: 824_000 };

const corpus = process.env.INTEGRITY_LAB_FALCO_CORPUS ?? fileURLToPath(new URL('../../shared/corpus/falco/', import.meta.url));
const sources = [
  { name: 'falco_rules.yaml', content: readFileSync(`${corpus}/falco_rules.yaml`, 'utf8') },
  { name: 'integrity-lab.rules.yaml', content: readFileSync(BUILTIN_RULES_PATH, 'utf8') },
];


const rand = seededRandom(20240506);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

const CONTAINERS: Record<string, string>[] = [
  { 'container.id': 'host', 'container.name': 'host' },
  { 'container.id': '3ad7b26ded6d', 'container.name': 'cart', 'container.image.repository': 'registry.local/shop/cart', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'cart-7f9c' },
  { 'container.id': '91c0ffee1234', 'container.name': 'api', 'container.image.repository': 'registry.local/shop/api', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-5d8b' },
  { 'container.id': 'b00c2d3e4f50', 'container.name': 'coredns', 'container.image.repository': '127.0.0.1:5000/system/coredns', 'k8s.ns.name': 'kube-system', 'k8s.pod.name': 'coredns-1' },
];
const READ_PATHS = ['/etc/ld.so.cache', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/proc/self/status', '/etc/hosts', '/etc/resolv.conf', '/usr/share/zoneinfo/UTC', '/app/config.yaml', '/etc/nsswitch.conf', '/etc/passwd', '/sys/fs/cgroup/cpu.max'];
const WRITE_PATHS = ['/var/log/app.log', '/tmp/cache.bin', '/app/data/db.sqlite', '/var/lib/app/state.json', '/dev/null'];
const PROCS = ['node', 'python3', 'java', 'nginx', 'containerd', 'kubelet', 'coredns', 'cat', 'ls'];
const BINARIES = ['ls', 'cat', 'grep', 'python3', 'node', 'date', 'curl', 'find', 'ps', 'sleep', 'awk', 'sed'];

function base(type: string): Record<string, string | number | boolean | string[]> {
  const c = pick(CONTAINERS);
  const name = pick(PROCS);
  return {
    'evt.type': type,
    'evt.dir': '<',
    'proc.name': name,
    'proc.exepath': `/usr/bin/${name}`,
    'proc.cmdline': `${name} --serve`,
    'proc.pname': 'containerd-shim',
    'proc.aname': [name, 'containerd-shim', 'systemd'],
    'proc.pid': 1000 + Math.floor(rand() * 30000),
    'proc.tty': 0,
    'user.name': 'app',
    'user.uid': 1000,
    'user.loginuid': -1,
    ...c,
  };
}

function openEvent(): AuditEvent {
  const write = rand() < 0.3;
  const path = write ? pick(WRITE_PATHS) : pick(READ_PATHS);
  const e = base(rand() < 0.8 ? 'openat' : 'open');
  Object.assign(e, {
    'fd.name': path,
    'fd.directory': path.slice(0, path.lastIndexOf('/')) || '/',
    'fd.filename': path.slice(path.lastIndexOf('/') + 1),
    'fd.typechar': 'f',
    'fd.num': 3 + Math.floor(rand() * 20),
    'evt.is_open_read': !write,
    'evt.is_open_write': write,
    'evt.arg.flags': write ? 'O_WRONLY|O_CREAT|O_APPEND' : 'O_RDONLY|O_CLOEXEC',
  });
  return e;
}

function execEvent(): AuditEvent {
  const e = base('execve');
  const bin = pick(BINARIES);
  Object.assign(e, { 'proc.name': bin, 'proc.exepath': `/usr/bin/${bin}`, 'proc.cmdline': `${bin} -l /app`, 'proc.args': '-l /app', 'proc.pname': 'node', 'proc.aname': [bin, 'node', 'containerd-shim'] });
  return e;
}

function connectEvent(): AuditEvent {
  const e = base('connect');
  Object.assign(e, { 'fd.typechar': '4', 'fd.name': '10.0.0.5:41234->10.96.0.1:443', 'evt.rawres': 0, 'evt.res': 'SUCCESS' });
  return e;
}

function otherEvent(): AuditEvent {
  if (rand() < 0.02) {
    return containerStartedEvent({ id: 'c0ffee000001', name: 'job', image: 'registry.local/batch/job:2', mounts: [{ source: '/var/lib/kubelet/pods/x/volumes/v', dest: '/data' }] }, '2024-05-06T07:08:09Z');
  }
  return base(pick(['close', 'read', 'mmap', 'clone', 'fstat', 'futex']));
}

/** About 0.5% of events: each should raise at least one alert. */
function firingEvent(): AuditEvent {
  switch (Math.floor(rand() * 4)) {
    case 0: {
      const e = openEvent();
      return { ...e, 'fd.name': '/etc/shadow', 'fd.directory': '/etc', 'fd.filename': 'shadow', 'evt.is_open_read': true, 'evt.is_open_write': false, 'proc.name': 'cat' };
    }
    case 1:
      return { ...execEvent(), ...CONTAINERS[1], 'proc.name': 'bash', 'proc.tty': 34816, 'proc.pname': 'runc:[1:CHILD]', 'proc.aname': ['bash', 'runc:[1:CHILD]'] };
    case 2:
      return containerStartedEvent({ id: 'bad000000001', name: 'debug', image: 'registry.local/tools/debug:1', privileged: true, mounts: [{ source: '/', dest: '/host' }] }, '2024-05-06T07:08:09Z');
    default:
      return { ...execEvent(), 'proc.name': 'grep', 'proc.args': '-r "BEGIN RSA PRIVATE" /home' };
  }
}

function generate(n: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.005) out.push(firingEvent());
    else if (r < 0.6) out.push(openEvent());
    else if (r < 0.85) out.push(execEvent());
    else if (r < 0.95) out.push(connectEvent());
    else out.push(otherEvent());
  }
  return out;
}

function run(engine: AuditEngine, events: AuditEvent[], n: number): { seconds: number; alerts: number } {
  let alerts = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) alerts += engine.evaluate(events[i % events.length]!).length;
  return { seconds: (performance.now() - start) / 1000, alerts };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const loadStart = performance.now();
const indexed = new AuditEngine({ hostname: 'bench', clock: () => new Date(0) });
const set = indexed.load(sources);
const loadMs = performance.now() - loadStart;
const flat = new AuditEngine({ hostname: 'bench', clock: () => new Date(0), indexByEventType: false });
flat.load(sources);

const events = generate(POOL);
const enabled = set.rules.filter((r) => r.enabled && r.source === 'syscall').length;

// Warm both up so the JIT has settled before timing.
run(indexed, events, 200_000);
run(flat, events, 200_000);

const rates = { indexed: [] as number[], flat: [] as number[] };
let alerts = 0;
for (let i = 0; i < RUNS; i++) {
  const a = run(indexed, events, EVENTS_PER_RUN);
  alerts = a.alerts;
  rates.indexed.push(EVENTS_PER_RUN / a.seconds);
  const b = run(flat, events, EVENTS_PER_RUN);
  rates.flat.push(EVENTS_PER_RUN / b.seconds);
}

// End to end from auditd text: the hand-written sample log (7 syscall events), repeated with fresh serials.
const sample = readFileSync(fileURLToPath(new URL('../lab/audit/fixtures/audit.log', import.meta.url)), 'utf8');
const COPIES = 2_000;
const logText = Array.from({ length: COPIES }, (_, i) => sample.replace(/:(\d+)\)/g, (_m, serial: string) => `:${Number(serial) + i * 1000})`)).join('');
const auditRates: number[] = [];
let auditEvents = 0;
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  const evs = auditLogToEvents(logText);
  for (const ev of evs) indexed.evaluate(ev);
  auditRates.push(evs.length / ((performance.now() - start) / 1000));
  auditEvents = evs.length;
}

const ix = median(rates.indexed);
const fl = median(rates.flat);
console.log(`Rules: falco_rules.yaml + integrity-lab.rules.yaml, ${enabled} enabled syscall rules, loaded in ${loadMs.toFixed(0)} ms. ` +
  `Events: ${fmt(POOL)} generated (60% open/openat, 25% execve, 10% connect, 5% other), replayed to ${fmt(EVENTS_PER_RUN)} per run; ` +
  `${(100 * alerts / EVENTS_PER_RUN).toFixed(2)} alerts per 100 events (about 0.5% of events are crafted to fire one or two rules each; the rest raise none). ` +
  `Median of ${RUNS} runs, one core, Node ${process.version}.`);
console.log('');
console.log('| Engine | Events/s (median) | Min | Max | vs 300k/s goal | vs Falco mean 78k | vs Falco p99 261k | vs Falco max 824k |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const [name, xs] of [['indexed by evt.type', rates.indexed], ['peer: every rule on every event', rates.flat]] as const) {
  const m = median(xs);
  console.log(`| ${name} | ${fmt(m)} | ${fmt(Math.min(...xs))} | ${fmt(Math.max(...xs))} | ${(m / GOAL).toFixed(2)}× | ${(m / FALCO.mean).toFixed(1)}× | ${(m / FALCO.p99).toFixed(2)}× | ${(m / FALCO.max).toFixed(2)}× |`);
}
{
  const m = median(auditRates);
  console.log(`| auditd text → events → rules (${fmt(auditEvents)} events per run) | ${fmt(m)} | ${fmt(Math.min(...auditRates))} | ${fmt(Math.max(...auditRates))} | ${(m / GOAL).toFixed(2)}× | ${(m / FALCO.mean).toFixed(1)}× | ${(m / FALCO.p99).toFixed(2)}× | ${(m / FALCO.max).toFixed(2)}× |`);
}
console.log('');
console.log(`Index speed-up in this run: ${(ix / fl).toFixed(1)}×. Goal ${ix >= GOAL ? 'met' : 'NOT met'}: ${fmt(ix)} events/s against ${fmt(GOAL)}.`);
