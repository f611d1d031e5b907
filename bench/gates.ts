/**
 * Node gates overhead: pull + unpack + start of a 100 MB, 5-layer signed
 * image in a protected namespace, on the integrity profile against vanilla,
 * in the same run (alternating, fresh node each time, median of N).
 *
 * Goal: at most 15% overhead. Anchor: containerd measured +109% unpack
 * time for its set_immutable option.
 * usage: node --import tsx bench/gates.ts [--runs N]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runPod, removePod } from '../lab/cri/index.ts';
import type { StartedLabNode } from '../lab/node/index.ts';
import { startLabNode } from '../lab/start.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';
import type { Workload } from '../lab/spec/schemas.ts';
import { signImage } from '../lab/trust/index.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
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
}

/** The last allow decision about the bench image, or (`match`) another one: the pod's sandbox is decided too. */
const lastDecision = async (node: StartedLabNode, log: string, match = 'system/bench') => {
  const r = await node.exec.run(['sh', '-c', `grep '"action":"allow"' ${log} 2>/dev/null | grep -F '${match}' | tail -1`]);
  const text = r.stdout.toString().trim();
  return text ? (JSON.parse(text) as { durationMs?: number; layers?: { cached: boolean }[] }) : undefined;
};

async function once(profileName: string): Promise<Run> {
  const profile = getProfile(catalog, profileName);
  const node = await startLabNode(profile);
  try {
    await node.pushImage(workload.spec.image);
    await signImage(node, workload.spec.image.repository, workload.spec.image.tag, { format: 'v2' });
    const t0 = performance.now();
    const pod = await runPod(node.cri, { ...node.podSpecOf(workload), imagePullPolicy: 'Always' });
    const ms = performance.now() - t0;
    await removePod(node.cri, pod);
    const log = await node.exec.run(['sh', '-c', 'grep \'"action":"allow"\' /var/log/integrity-lab/gate-decisions.jsonl 2>/dev/null | grep -c system/bench || true']);
    const start = await lastDecision(node, '/var/log/integrity-lab/gate-decisions.jsonl');
    const sandbox = await lastDecision(node, '/var/log/integrity-lab/gate-decisions.jsonl', '"sandbox":true');
    const pull = await lastDecision(node, '/var/log/integrity-lab/pull-decisions.jsonl');
    return { ms, verify: log.stdout.toString().trim(), startGateMs: start?.durationMs, sandboxGateMs: sandbox?.durationMs, pullGateMs: pull?.durationMs, cachedLayers: start?.layers?.filter((l) => l.cached).length };
  } finally {
    await node.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times: Record<string, number[]> = { vanilla: [], integrity: [] };
const inside: Run[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  for (const p of i % 2 === 0 ? ['vanilla', 'integrity'] : ['integrity', 'vanilla']) {
    const r = await once(p);
    if (p === 'integrity' && r.verify !== '1') throw new Error(`the start gate did not verify the bench image (allow decisions: ${r.verify})`);
    times[p]!.push(r.ms);
    if (p === 'integrity') inside.push(r);
  }
}
const v = median(times.vanilla!);
const g = median(times.integrity!);
console.log(`Measured ${new Date().toISOString().slice(0, 10)}: pull + unpack + start, 100 MiB in 5 layers, signed (v2), kube-system; ${values.runs} alternating runs each, fresh node per run.\n`);
console.log('| profile | median | runs (ms) |\n| --- | --- | --- |');
for (const p of ['vanilla', 'integrity']) console.log(`| ${p} | ${median(times[p]!).toFixed(0)} ms | ${times[p]!.map((x) => x.toFixed(0)).join(', ')} |`);
console.log(`\nOverhead of the integrity gates: ${(((g - v) / v) * 100).toFixed(1)}% (goal ≤ 15%; anchor: containerd's set_immutable +109% unpack).`);
console.log(`\nInside the gates (integrity runs, from their decision logs): start gate ${inside.map((r) => r.startGateMs ?? '?').join(', ')} ms (median ${median(inside.map((r) => r.startGateMs ?? 0))}), layers cached ${inside.map((r) => r.cachedLayers ?? '?').join(', ')} of 6; sandbox (pause image) ${inside.map((r) => r.sandboxGateMs ?? '?').join(', ')} ms (median ${median(inside.map((r) => r.sandboxGateMs ?? 0))}); pull gate ${inside.map((r) => r.pullGateMs ?? '?').join(', ')} ms (median ${median(inside.map((r) => r.pullGateMs ?? 0))}).`);
