/**
 * The kind substrate's costs, measured against the node substrate in the
 * same run:
 * - cold build of the Kubernetes binaries (from their cache's build.json,
 *   recorded when they were built) and of the kind node image (rebuilt here
 *   only with --cold-image);
 * - warm cluster ready time (kind create → nodes Ready, and for the integrity
 *   profile also the per-lab signing of the control-plane images and the
 *   components' start), median of N, against a warm lab node start of the
 *   same profile, interleaved;
 * - the kind feature (features/kind) against the same workload checks on the
 *   node substrate, wall time.
 * Goal: warm cluster ready in at most 30 s on 2 cores (kind create takes
 * about 12-17 s on typical hardware with a pulled image).
 * usage: node --import tsx bench/kind.ts [--runs N]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureKubernetesBinaries } from '../lab/kind/k8s-build.ts';
import { ensureKindNodeImage } from '../lab/kind/node-image.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';
import { startKindCluster, startLabNode } from '../lab/start.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const catalog = await loadCatalog(join(import.meta.dirname, '../scenarios'));
const vanilla = getProfile(catalog, 'vanilla');

const binaries = await ensureKubernetesBinaries();
const build = JSON.parse(await readFile(join(binaries.dir, 'build.json'), 'utf8')) as { seconds: number; toolchain: string; builtAt: string };
const t0 = performance.now();
const image = await ensureKindNodeImage(vanilla);
const imageMs = performance.now() - t0;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (xs: number[]) => ({ median: +(median(xs) / 1000).toFixed(1), runs: xs.map((m) => +(m / 1000).toFixed(1)) });
const ready: Record<string, { kind: number[]; node: number[] }> = {};
for (const name of ['vanilla', 'integrity']) {
  const profile = getProfile(catalog, name);
  const r = (ready[name] = { kind: [] as number[], node: [] as number[] });
  for (let i = 0; i < Number(values.runs); i++) {
    let t = performance.now();
    const cluster = await startKindCluster(profile, { keep: false });
    r.kind.push(performance.now() - t);
    await cluster.stop();
    t = performance.now();
    const node = await startLabNode(profile, { keep: false });
    r.node.push(performance.now() - t);
    await node.stop();
  }
}
const loadAverage = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
console.log(JSON.stringify({
  kubernetes: { version: binaries.version, coldBuildSeconds: build.seconds, toolchain: build.toolchain, builtAt: build.builtAt },
  nodeImage: { tag: image.tag, built: image.built, seconds: Math.round(imageMs / 1000) },
  loadAverageAtEnd: loadAverage,
  warmReadySeconds: Object.fromEntries(
    Object.entries(ready).map(([name, r]) => [name, { kind: seconds(r.kind), node: seconds(r.node), ratio: +(median(r.kind) / median(r.node)).toFixed(1) }]),
  ),
}, null, 2));
