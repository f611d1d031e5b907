/**
 * The kind substrate's costs, measured against the node substrate in the
 * same run:
 * - cold build of the Kubernetes binaries (from their cache's build.json,
 *   recorded when they were built) and of the kind node image (rebuilt here
 *   only with --cold-image);
 * - warm cluster ready time (kind create → nodes Ready), median of N, against
 *   a warm lab node start;
 * - the kind feature (features/kind) against the same workload checks on the
 *   node substrate, wall time.
 * Goal: warm cluster ready in at most 30 s on 2 cores (kind create takes
 * about 12-17 s on typical hardware with a pulled image).
 * usage: node --import tsx bench/kind.ts [--runs N]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KindCluster } from '../lab/kind/cluster.ts';
import { ensureKubernetesBinaries } from '../lab/kind/k8s-build.ts';
import { ensureKindNodeImage } from '../lab/kind/node-image.ts';
import { LabNode } from '../lab/node/index.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const catalog = await loadCatalog(join(import.meta.dirname, '../scenarios'));
const vanilla = getProfile(catalog, 'vanilla');

const binaries = await ensureKubernetesBinaries();
const build = JSON.parse(await readFile(join(binaries.dir, 'build.json'), 'utf8')) as { seconds: number; toolchain: string; builtAt: string };
const t0 = performance.now();
const image = await ensureKindNodeImage(vanilla);
const imageMs = performance.now() - t0;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const kindReady: number[] = [];
const nodeReady: number[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  let t = performance.now();
  const cluster = await new KindCluster(vanilla).start();
  kindReady.push(performance.now() - t);
  await cluster.stop();
  t = performance.now();
  const node = await new LabNode(vanilla).start();
  nodeReady.push(performance.now() - t);
  await node.stop();
}

console.log(JSON.stringify({
  kubernetes: { version: binaries.version, coldBuildSeconds: build.seconds, toolchain: build.toolchain, builtAt: build.builtAt },
  nodeImage: { tag: image.tag, built: image.built, seconds: Math.round(imageMs / 1000) },
  warmReadySeconds: {
    kind: { median: +(median(kindReady) / 1000).toFixed(1), runs: kindReady.map((m) => +(m / 1000).toFixed(1)) },
    node: { median: +(median(nodeReady) / 1000).toFixed(1), runs: nodeReady.map((m) => +(m / 1000).toFixed(1)) },
    ratio: +(median(kindReady) / median(nodeReady)).toFixed(1),
  },
}, null, 2));
