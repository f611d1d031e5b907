/**
 * Node gates overhead: pull + unpack + start of a 100 MB, 5-layer signed
 * image in a protected namespace, on the integrity profile against vanilla,
 * in the same run (alternating, fresh node each time, median of N).
 *
 * Goal: at most 15% overhead. Anchor: containerd measured +109% unpack
 * time for its set_immutable option.
 * Where the difference goes: each CRI call's time (the client's own
 * records: PullImage, RunPodSandbox, CreateContainer, StartContainer) on
 * both profiles, and inside them the gates' own decision times (pull gate,
 * the sandbox's pause-image decision, the container's decision, the audit
 * start hold on `runc start`). `--gates-only` adds a third profile, the
 * integrity profile with only the pull and start gates (no watchdog, audit
 * or admission), to tell the gates' cost from the other components'.
 * `--mutable` adds the integrity profile without containerd's set_immutable
 * (chattr +i on each layer file at unpack), to tell its share of the pull.
 * `--store memory` keeps every node's containerd volume in tmpfs: the disk's
 * write-back (which set_immutable and overlay unmounts wait for) then costs
 * nothing, so what remains is the defences' own time.
 * usage: node --import tsx bench/gates.ts [--runs N] [--gates-only] [--mutable] [--store disk|memory]
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runPod, removePod } from '../lab/cri/index.ts';
import type { ContainerdStore, StartedLabNode } from '../lab/node/index.ts';
import { startLabNode } from '../lab/start.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';
import type { LabProfile, Workload } from '../lab/spec/schemas.ts';
import { signImage } from '../lab/trust/index.ts';
import { START_DECISION_LOG } from '../lab/gates/start-hold-gate.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'gates-only': { type: 'boolean', default: false },
    mutable: { type: 'boolean', default: false },
    store: { type: 'string', default: 'disk' },
  },
});
if (values.store !== 'disk' && values.store !== 'memory') throw new Error(`--store: expected disk or memory, got ${values.store}`);
const store: ContainerdStore = values.store;
const catalog = await loadCatalog(join(import.meta.dirname, '../scenarios'));

const workload: Workload = {
  apiVersion: 'integrity-lab.io/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'bench-100mb' },
  spec: {
    namespace: 'kube-system',
    image: {
      repository: 'system/bench',
      tag: '100mb',
      layers: [
        { busybox: true, random: { path: '/data/0', sizeMiB: 18, seed: 'bench-0' } },
        ...[1, 2, 3, 4].map((i) => ({ random: { path: `/data/${i}`, sizeMiB: 20, seed: `bench-${i}` } })),
      ],
      entrypoint: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
    },
  },
};

/** The integrity profile with only the node gates: what they cost without the watchdog, audit and admission. */
function gatesOnly(): LabProfile {
  const integrity = getProfile(catalog, 'integrity');
  return { ...integrity, metadata: { ...integrity.metadata, name: 'gates-only' }, spec: { ...integrity.spec, components: ['pull-gate', 'start-gate'] as unknown as LabProfile['spec']['components'] } };
}

/** The integrity profile without set_immutable: the pull's cost of chattr +i on each layer file. */
function mutable(): LabProfile {
  const integrity = getProfile(catalog, 'integrity');
  const containerd = { ...integrity.spec.containerd, setImmutable: false };
  return { ...integrity, metadata: { ...integrity.metadata, name: 'integrity-mutable' }, spec: { ...integrity.spec, containerd } };
}

interface Run {
  ms: number;
  verify: string;
  /** Time inside the gates, from their own decision logs (integrity only). */
  startGateMs?: number;
  /** The start gate's decision on the pod's sandbox (its pause image, verified since issue 11 §3). */
  sandboxGateMs?: number;
  pullGateMs?: number;
  /** Layers whose root hash the start gate found cached (hashed in the background after unpack). */
  cachedLayers?: number;
  /** The start gate's `runc start` decision: its whole time, and the audit start hold's part of it. */
  startHoldMs?: number;
  startDecisionMs?: number;
  /** The container's and the sandbox's decisions, per stage (runtime-gate.ts stagesMs). */
  containerStages?: Record<string, number>;
  sandboxStages?: Record<string, number>;
  /** The pull gate's decision, per stage (pull-gate.ts stagesMs). */
  pullStages?: Record<string, number>;
  /** Milliseconds per CRI call of the pod's start, as the client timed them. */
  cri: Record<string, number>;
}

const CRI_PHASES = ['pullImage', 'runPodSandbox', 'createContainer', 'startContainer'] as const;

/** The last allow decision about the bench image, or (`match`) another one: the pod's sandbox is decided too. */
const lastDecision = async (node: StartedLabNode, log: string, match = 'system/bench') => {
  const r = await node.exec.run(['sh', '-c', `grep '"action":"allow"' ${log} 2>/dev/null | grep -F '${match}' | tail -1`]);
  const text = r.stdout.toString().trim();
  return text ? (JSON.parse(text) as { durationMs?: number; holdMs?: number; layers?: { cached: boolean }[]; stagesMs?: Record<string, number> }) : undefined;
};

async function once(profileName: string): Promise<Run> {
  const profile = profileName === 'gates-only' ? gatesOnly() : profileName === 'integrity-mutable' ? mutable() : getProfile(catalog, profileName);
  const node = await startLabNode(profile, { containerdStore: store });
  try {
    await node.pushImage(workload.spec.image);
    await signImage(node, workload.spec.image.repository, workload.spec.image.tag, { format: 'v2' });
    const before = node.cri.calls.length;
    const t0 = performance.now();
    const pod = await runPod(node.cri, { ...node.podSpecOf(workload), imagePullPolicy: 'Always' });
    const ms = performance.now() - t0;
    const cri: Record<string, number> = {};
    for (const c of node.cri.calls.slice(before)) if ((CRI_PHASES as readonly string[]).includes(c.method)) cri[c.method] = (cri[c.method] ?? 0) + c.durationMs;
    await removePod(node.cri, pod);
    const log = await node.exec.run(['sh', '-c', 'grep \'"action":"allow"\' /var/log/integrity-lab/gate-decisions.jsonl 2>/dev/null | grep -c system/bench || true']);
    const start = await lastDecision(node, '/var/log/integrity-lab/gate-decisions.jsonl');
    const sandbox = await lastDecision(node, '/var/log/integrity-lab/gate-decisions.jsonl', '"sandbox":true');
    const pull = await lastDecision(node, '/var/log/integrity-lab/pull-decisions.jsonl');
    const hold = await lastDecision(node, START_DECISION_LOG, '"start":true');
    return {
      ms,
      cri,
      verify: log.stdout.toString().trim(),
      startGateMs: start?.durationMs,
      sandboxGateMs: sandbox?.durationMs,
      pullGateMs: pull?.durationMs,
      cachedLayers: start?.layers?.filter((l) => l.cached).length,
      startHoldMs: hold?.holdMs,
      startDecisionMs: hold?.durationMs,
      ...(start?.stagesMs ? { containerStages: start.stagesMs } : {}),
      ...(sandbox?.stagesMs ? { sandboxStages: sandbox.stagesMs } : {}),
      ...(pull?.stagesMs ? { pullStages: pull.stagesMs } : {}),
    };
  } finally {
    await node.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const profiles = ['vanilla', 'integrity', ...(values['gates-only'] ? ['gates-only'] : []), ...(values.mutable ? ['integrity-mutable'] : [])];
const runs: Record<string, Run[]> = Object.fromEntries(profiles.map((p) => [p, []]));
const loadBefore = loadavg();
for (let i = 0; i < Number(values.runs); i++) {
  // Alternating order, so that a drift in the machine's load falls on every profile.
  for (const p of i % 2 === 0 ? profiles : [...profiles].reverse()) {
    const r = await once(p);
    if (p !== 'vanilla' && r.verify !== '1') throw new Error(`the start gate did not verify the bench image on ${p} (allow decisions: ${r.verify})`);
    runs[p]!.push(r);
  }
}
const loadAfter = loadavg();
const fmt = (xs: (number | undefined)[]) => xs.map((x) => (x === undefined ? '?' : x.toFixed(0))).join(', ');
const med = (xs: (number | undefined)[]) => median(xs.map((x) => x ?? 0));
const v = med(runs.vanilla!.map((r) => r.ms));
console.log(`Measured ${new Date().toISOString().slice(0, 16)}Z: pull + unpack + start, 100 MiB in 5 layers, signed (v2), kube-system; containerd store on ${store === 'disk' ? 'disk (a Docker volume)' : 'tmpfs'}; ${values.runs} alternating runs each, fresh node per run; load average ${loadBefore.map((x) => x.toFixed(1)).join(' ')} before, ${loadAfter.map((x) => x.toFixed(1)).join(' ')} after.\n`);
console.log('| profile | median | runs (ms) | overhead |\n| --- | ---: | --- | ---: |');
for (const p of profiles) {
  const m = med(runs[p]!.map((r) => r.ms));
  console.log(`| ${p} | ${m.toFixed(0)} ms | ${fmt(runs[p]!.map((r) => r.ms))} | ${p === 'vanilla' ? '' : `${(((m - v) / v) * 100).toFixed(1)} %`} |`);
}
console.log('\nPer CRI call (medians, ms):\n');
console.log(`| call | ${profiles.join(' | ')} |\n| --- |${profiles.map(() => ' ---: |').join('')}`);
for (const c of CRI_PHASES) console.log(`| ${c} | ${profiles.map((p) => med(runs[p]!.map((r) => r.cri[c])).toFixed(0)).join(' | ')} |`);
for (const p of profiles.filter((x) => x !== 'vanilla')) {
  const rs = runs[p]!;
  console.log(
    `\nInside the gates on ${p} (their own records, per run; medians in brackets): pull gate ${fmt(rs.map((r) => r.pullGateMs))} [${med(rs.map((r) => r.pullGateMs))}]; ` +
      `sandbox decision ${fmt(rs.map((r) => r.sandboxGateMs))} [${med(rs.map((r) => r.sandboxGateMs))}]; container decision ${fmt(rs.map((r) => r.startGateMs))} [${med(rs.map((r) => r.startGateMs))}], layers cached ${fmt(rs.map((r) => r.cachedLayers))} of 6; ` +
      `runc start decision ${fmt(rs.map((r) => r.startDecisionMs))} [${med(rs.map((r) => r.startDecisionMs))}], of which the audit start hold ${fmt(rs.map((r) => r.startHoldMs))} [${med(rs.map((r) => r.startHoldMs))}].`,
  );
  for (const which of ['pull', 'sandbox', 'container'] as const) {
    const names = [...new Set(rs.flatMap((r) => Object.keys(r[`${which}Stages`] ?? {})))];
    if (names.length) console.log(`  ${which} decision by stage (medians, ms): ${names.map((n) => `${n} ${med(rs.map((r) => r[`${which}Stages`]?.[n]))}`).join(', ')}`);
  }
}
