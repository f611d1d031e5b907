/**
 * Application tier overhead: pull + unpack + start of a 100 MiB, 5-layer
 * unsigned application image in an application namespace (`apps`), on the
 * integrity profile (start-time check against the digests, EROFS references
 * rebuilt from the blobs) against vanilla, in the same run (alternating, a
 * fresh node each time, median of N).
 *
 * Goal: at most 15% overhead (issue 14).
 * usage: node --import tsx bench/app-image-check.ts [--runs N]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runPod, removePod } from '../lab/cri/index.ts';
import { startGateDecisions } from '../lab/gates/app-lab.ts';
import { startLabNode } from '../lab/start.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';
import type { Workload } from '../lab/spec/schemas.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const catalog = await loadCatalog(join(import.meta.dirname, '../scenarios'));

const workload: Workload = {
  apiVersion: 'integrity-lab.io/v1alpha1',
  kind: 'Workload',
  metadata: { name: 'bench-app-100mb' },
  spec: {
    namespace: 'apps',
    image: {
      repository: 'lab/bench-app',
      tag: '100mb',
      layers: [
        { busybox: true, random: { path: '/data/0', sizeMiB: 18, seed: 'bench-app-0' } },
        ...[1, 2, 3, 4].map((i) => ({ random: { path: `/data/${i}`, sizeMiB: 20, seed: `bench-app-${i}` } })),
      ],
      entrypoint: ['/bin/sh', '-c', 'while :; do sleep 1; done'],
    },
  },
};

async function once(profileName: string): Promise<{ ms: number; checkMs?: number }> {
  const profile = getProfile(catalog, profileName);
  const node = await startLabNode(profile);
  try {
    await node.pushImage(workload.spec.image);
    const t0 = performance.now();
    const pod = await runPod(node.cri, { ...node.podSpecOf(workload), imagePullPolicy: 'Always' });
    const ms = performance.now() - t0;
    await removePod(node.cri, pod);
    if (profileName === 'vanilla') return { ms };
    const d = (await startGateDecisions(node)).filter((x) => x.namespace === 'apps').pop();
    if (d?.action !== 'allow' || d.tier !== 'application') throw new Error(`the start gate did not check the bench image in the application tier: ${JSON.stringify(d)}`);
    return { ms, checkMs: d.durationMs };
  } finally {
    await node.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times: Record<string, number[]> = { vanilla: [], integrity: [] };
const checks: number[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  for (const p of i % 2 === 0 ? ['vanilla', 'integrity'] : ['integrity', 'vanilla']) {
    const r = await once(p);
    times[p]!.push(r.ms);
    if (r.checkMs !== undefined) checks.push(r.checkMs);
  }
}
const v = median(times.vanilla!);
const g = median(times.integrity!);
console.log(`Measured ${new Date().toISOString().slice(0, 10)}: pull + unpack + start, 100 MiB in 5 layers, unsigned, namespace apps (application tier); ${values.runs} alternating runs each, fresh node per run.\n`);
console.log('| profile | median | runs (ms) |\n| --- | --- | --- |');
for (const p of ['vanilla', 'integrity']) console.log(`| ${p} | ${median(times[p]!).toFixed(0)} ms | ${times[p]!.map((x) => x.toFixed(0)).join(', ')} |`);
console.log(`\nStart gate decision (application check) as logged in the node: median ${median(checks)} ms (${checks.join(', ')}).`);
console.log(`Overhead of the application tier: ${(((g - v) / v) * 100).toFixed(1)}% (goal ≤ 15%).`);
