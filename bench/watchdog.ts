/**
 * The mount watchdog on real lab nodes: detection latency, the daemon's CPU
 * with 1, 20 and 50 running containers, and the CPU and read rate of layer
 * re-verification against its budget.
 *
 *   node --import tsx bench/watchdog.ts [--window 15] [--samples 20]
 *
 * Nodes run the vanilla containerd configuration with only the watchdog
 * installed (no gates, so fifty pods start in seconds), watching one
 * namespace `bench` in detect mode. Each figure with a goal is paired with a
 * peer measured in the same run: fanotify mount events against polling
 * at its default period, a 16 MB/s re-verification budget against an effectively
 * unlimited one (10 GB/s).
 *
 * - Latency: an nsenter bind mount over a file of a running container; the
 *   node's clock is read just before mount(8) runs (date +%s%N in the same
 *   shell) and compared with the alert's detectedAt (the node's clock too).
 * - CPU: utime + stime of the daemon and its fanotify helper from
 *   /proc/<pid>/stat over a window, as a share of one core.
 * - Re-verification: a signed image with a 64 MiB random layer; bytes hashed
 *   from the daemon's counters, and bytes read as the kernel counts them
 *   (/proc/<pid>/io rchar) as an independent check of the budget.
 *
 * Goals: p95 ≤ 1 s; ≤ 2 % of one core with 50 containers; re-verification
 * reads at most its budget.
 */
import { parseArgs } from 'node:util';
import type { StartedLabNode } from '../lab/node/index.ts';
import { startLabNode } from '../lab/start.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';
import type { LabProfile, Workload } from '../lab/spec/schemas.ts';
import * as trust from '../lab/trust/index.ts';
import { containerPid, readAlerts, requireWatchdog, resolveConfig, startDaemon, stopDaemon, watchdogStatus, WATCHDOG_DEFAULTS, type WatchdogSettings } from '../lab/watchdog/index.ts';
import { join } from 'node:path';

const { values } = parseArgs({ options: { window: { type: 'string', default: '15' }, samples: { type: 'string', default: '20' } } });
const WINDOW_S = Number(values.window);
const SAMPLES = Number(values.samples);
const ROOT = join(import.meta.dirname, '..');
const CLK_TCK = 100;

const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);

function sleeper(i: number): Workload {
  return {
    apiVersion: 'integrity-lab.io/v1alpha1',
    kind: 'Workload',
    metadata: { name: `bench-${i}` },
    spec: {
      namespace: 'bench',
      image: {
        repository: 'bench/sleeper',
        tag: '1.0',
        layers: [{ busybox: true }, { files: [{ path: '/opt/app/run.sh', mode: 0o755, content: '#!/bin/sh\nwhile :; do sleep 1; done\n' }] }],
        entrypoint: ['/opt/app/run.sh'],
      },
    },
  };
}

const BIG: Workload = {
  apiVersion: 'integrity-lab.io/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'bench-big' },
  spec: {
    namespace: 'bench',
    image: {
      repository: 'bench/big',
      tag: '1.0',
      layers: [{ busybox: true }, { random: { path: '/data/blob', sizeMiB: 64, seed: 'watchdog-bench' } }],
      entrypoint: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
    },
  },
};

async function node(base: LabProfile, settings: Omit<WatchdogSettings, 'namespaces'>): Promise<StartedLabNode> {
  const profile: LabProfile = {
    ...base,
    metadata: { name: 'vanilla', description: 'bench: vanilla with the watchdog only' },
    spec: { ...base.spec, components: ['watchdog'] as unknown as LabProfile['spec']['components'], watchdog: { namespaces: [{ match: 'bench', mode: 'detect' }], ...settings } },
  };
  return startLabNode(profile);
}

/** utime + stime (clock ticks) of the daemon and its helper, and the daemon's rchar. */
async function cpuTicks(n: StartedLabNode): Promise<{ ticks: number; rchar: number; at: number }> {
  const status = await watchdogStatus(n);
  const pids = [status!.pid, status!.helperPid].filter((p): p is number => p !== undefined);
  const r = await n.run(['sh', '-c', `cat ${pids.map((p) => `/proc/${p}/stat`).join(' ')}; grep rchar /proc/${status!.pid}/io`]);
  const lines = r.stdout.toString().trim().split('\n');
  let ticks = 0;
  for (const line of lines.filter((l) => !l.startsWith('rchar'))) {
    const f = line.slice(line.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  const rchar = Number(lines.find((l) => l.startsWith('rchar'))?.split(/\s+/)[1] ?? 0);
  return { ticks, rchar, at: performance.now() };
}

async function cpuShare(n: StartedLabNode, seconds: number): Promise<{ cpuPct: number; readMBps: number }> {
  const a = await cpuTicks(n);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = await cpuTicks(n);
  const wall = (b.at - a.at) / 1000;
  return { cpuPct: (100 * (b.ticks - a.ticks)) / CLK_TCK / wall, readMBps: (b.rchar - a.rchar) / 1e6 / wall };
}

async function startSleepers(n: StartedLabNode, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await n.startWorkload(sleeper(i), { pushImage: i === 0 });
  // Let discovery and the first scans settle before measuring.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const s = await watchdogStatus(n);
    if ((s?.containers.filter((c) => !c.sandbox).length ?? 0) >= to) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await new Promise((r) => setTimeout(r, 2000));
}

/** One overmount per sample; latency from mount(8) returning to the alert, both on the node's clock. */
async function latencies(n: StartedLabNode, containerId: string, samples: number, settleMs: number): Promise<{ total: number[]; fromEvent: number[] }> {
  const pid = await containerPid(n, containerId);
  const config = requireWatchdog(n).config;
  await n.run(['sh', '-c', `echo bench > /proc/${pid}/root/dev/shm/bench-payload`]);
  const out: number[] = [];
  const fromEvent: number[] = [];
  for (let i = 0; i < samples; i++) {
    // A random phase against the watchdog's timers, so polling latency is sampled fairly.
    await new Promise((res) => setTimeout(res, Math.random() * 1000));
    // The node's clock just before the attacker runs mount(8): the latency
    // includes nsenter and mount themselves (a few ms), so it is an upper bound.
    const r = await n.run(['sh', '-c', `date +%s%N && nsenter -t ${pid} -m mount --bind /dev/shm/bench-payload /opt/app/run.sh`]);
    const startedAt = Number(BigInt(r.stdout.toString().trim()) / 1000n) / 1000;
    const deadline = Date.now() + 5000;
    let alert;
    while (!alert && Date.now() < deadline) {
      alert = (await readAlerts(n.exec, config, new Date(startedAt))).find((a) => a.container === containerId && a.mount?.mountPoint === '/opt/app/run.sh');
      if (!alert) await new Promise((res) => setTimeout(res, 20));
    }
    if (!alert) throw new Error(`sample ${i}: no alert within 5000 ms`);
    out.push(alert.detectedAt - startedAt);
    if (alert.eventTime !== undefined) fromEvent.push(alert.detectedAt - alert.eventTime);
    await n.run(['nsenter', '-t', String(pid), '-m', 'umount', '/opt/app/run.sh']);
    // The next mount may reuse the mount id: the watchdog must see the umount first.
    await new Promise((res) => setTimeout(res, settleMs));
  }
  return { total: out, fromEvent };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (x: number, d = 1) => x.toFixed(d);

const catalog = await loadCatalog(join(ROOT, 'scenarios'));
const vanilla = getProfile(catalog, 'vanilla');

interface ModeRow {
  mode: string;
  latency1: { total: number[]; fromEvent: number[] };
  latency50: { total: number[]; fromEvent: number[] };
  cpu: Record<number, { cpuPct: number }>;
}
const rows: ModeRow[] = [];
for (const notify of ['fanotify', 'poll'] as const) {
  log(`${notify}: starting a node`);
  const n = await node(vanilla, { notify });
  try {
    const status = await watchdogStatus(n);
    if (notify === 'fanotify' && status?.notify !== 'fanotify-mnt') throw new Error(`the watchdog fell back to ${status?.notify}: ${status?.notifyDetail}`);
    const row: ModeRow = { mode: status!.notify === 'poll' ? `poll every ${WATCHDOG_DEFAULTS.pollIntervalMs} ms` : status!.notify, latency1: { total: [], fromEvent: [] }, latency50: { total: [], fromEvent: [] }, cpu: {} };
    await startSleepers(n, 0, 1);
    const first = (await n.cri.listContainers()).find((c) => c.labels['io.kubernetes.pod.name'] === 'bench-0')!.id;
    log(`${notify}: latency with 1 container (${SAMPLES} samples)`);
    row.latency1 = await latencies(n, first, SAMPLES, notify === 'poll' ? WATCHDOG_DEFAULTS.pollIntervalMs + 200 : 150);
    for (const [from, to] of [[1, 1], [1, 20], [20, 50]] as const) {
      if (to > from) {
        log(`${notify}: starting containers ${from + 1}..${to}`);
        await startSleepers(n, from, to);
      }
      log(`${notify}: CPU with ${to} containers (${WINDOW_S} s)`);
      row.cpu[to] = await cpuShare(n, WINDOW_S);
    }
    log(`${notify}: latency with 50 containers (${SAMPLES} samples)`);
    row.latency50 = await latencies(n, first, SAMPLES, notify === 'poll' ? WATCHDOG_DEFAULTS.pollIntervalMs + 200 : 150);
    rows.push(row);
  } finally {
    await n.stop();
  }
}

log('re-verification: starting a node with a signed 64 MiB layer');
const reverifyRows: { budget: string; cpuPct: number; hashedMBps: number; readMBps: number; verifications: number }[] = [];
{
  const n = await node(vanilla, { notify: 'fanotify', reverify: { minIntervalMs: 1000, maxParallel: 1, maxReadMBps: 16 } });
  try {
    await n.pushImage(BIG.spec.image);
    await trust.signImage(n, BIG.spec.image.repository, BIG.spec.image.tag, { format: 'v2' });
    await n.startWorkload(BIG, { pushImage: false });
    for (const maxReadMBps of [16, 10_000]) {
      const w = requireWatchdog(n);
      const config = resolveConfig({ ...w.settings, reverify: { minIntervalMs: 1000, maxParallel: 1, maxReadMBps } });
      await n.exec.run(['sh', '-c', `cat > /etc/integrity-lab/watchdog.json`], { input: JSON.stringify(config, null, 2) });
      await stopDaemon(n.exec, config);
      await startDaemon(n.exec, config);
      // Wait for the layers to be registered, then measure a window.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && ((await watchdogStatus(n))?.reverify.layers.length ?? 0) < 2) await new Promise((r) => setTimeout(r, 250));
      await new Promise((r) => setTimeout(r, 2000));
      const s0 = (await watchdogStatus(n))!;
      const t0 = performance.now();
      log(`re-verification at ${maxReadMBps} MB/s (${WINDOW_S} s)`);
      const share = await cpuShare(n, WINDOW_S);
      const s1 = (await watchdogStatus(n))!;
      const wall = (performance.now() - t0) / 1000;
      reverifyRows.push({
        budget: maxReadMBps >= 10_000 ? 'peer: 10 GB/s (unlimited)' : `${maxReadMBps} MB/s`,
        cpuPct: share.cpuPct,
        hashedMBps: (s1.reverify.bytesRead - s0.reverify.bytesRead) / 1e6 / wall,
        readMBps: share.readMBps,
        verifications: s1.reverify.verifications - s0.reverify.verifications,
      });
    }
  } finally {
    await n.stop();
  }
}

const out: string[] = [];
out.push(`Window ${WINDOW_S} s per CPU figure, ${SAMPLES} latency samples per row; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`, '');
out.push('| Notify | Containers | Latency p50 (ms) | Latency p95 (ms) | Max (ms) | vs 1 s goal (p95) | Event read → alert p50 (ms) |', '|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  for (const [count, l] of [[1, r.latency1], [50, r.latency50]] as const) {
    const ev = l.fromEvent.length ? fmt(pct(l.fromEvent, 50)) : '–';
    out.push(`| ${r.mode} | ${count} | ${fmt(pct(l.total, 50))} | ${fmt(pct(l.total, 95))} | ${fmt(Math.max(...l.total))} | ${fmt(pct(l.total, 95) / 1000, 3)}× | ${ev} |`);
  }
}
out.push('', '| Notify | 1 container | 20 containers | 50 containers | vs 2 % goal at 50 |', '|---|---:|---:|---:|---:|');
for (const r of rows) {
  out.push(`| ${r.mode} | ${fmt(r.cpu[1]!.cpuPct, 2)} % | ${fmt(r.cpu[20]!.cpuPct, 2)} % | ${fmt(r.cpu[50]!.cpuPct, 2)} % | ${fmt(r.cpu[50]!.cpuPct / 2, 2)}× |`);
}
out.push('', '| Re-verification budget | CPU (one core) | Hashed MB/s (daemon) | Read MB/s (kernel rchar) | Verifications | Read / budget |', '|---|---:|---:|---:|---:|---:|');
for (const r of reverifyRows) {
  const budget = r.budget.startsWith('peer') ? undefined : Number(r.budget.split(' ')[0]);
  out.push(`| ${r.budget} | ${fmt(r.cpuPct, 2)} % | ${fmt(r.hashedMBps)} | ${fmt(r.readMBps)} | ${r.verifications} | ${budget ? `${fmt(r.readMBps / budget, 2)}×` : '–'} |`);
}
process.stdout.write(out.join('\n') + '\n');
