/**
 * Lab foundation timings (issue: cold and warm lab, whole suite).
 *
 *   cold  = node image build (removed first) + node start to CRI-ready
 *   warm  = node start to CRI-ready with the cached image (median of N)
 *   suite = wall time of `cucumber-js` over all features
 *
 * Anchor: `kind create cluster` takes roughly 12–17 s; goal: warm < 5 s.
 * usage: node --import tsx bench/lab.ts [--warm-runs N] [--skip-cold] [--skip-suite]
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureNodeImage, nodeImageTag } from '../lab/node/index.ts';
import { startLabNode } from '../lab/start.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';

const { values } = parseArgs({
  options: { 'warm-runs': { type: 'string', default: '5' }, 'skip-cold': { type: 'boolean' }, 'skip-suite': { type: 'boolean' } },
});
const root = join(import.meta.dirname, '..');
const catalog = await loadCatalog(join(root, 'scenarios'));
const profile = getProfile(catalog, 'vanilla');

async function timeStart(): Promise<number> {
  const t0 = performance.now();
  const node = await startLabNode(profile);
  const ms = performance.now() - t0;
  await node.stop();
  return ms;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

const rows: string[][] = [];
if (!values['skip-cold']) {
  const tag = await nodeImageTag();
  spawnSync('docker', ['image', 'rm', '-f', tag]);
  const t0 = performance.now();
  const image = await ensureNodeImage();
  const build = performance.now() - t0;
  const start = await timeStart();
  rows.push(['cold lab (image build + start)', s(build + start), `build ${s(build)} (${image.method}), start ${s(start)}`]);
}
const warm: number[] = [];
for (let i = 0; i < Number(values['warm-runs']); i++) warm.push(await timeStart());
rows.push(['warm lab ready (median)', s(median(warm)), `${warm.length} runs: ${warm.map(s).join(', ')}; goal < 5 s; anchor kind create cluster 12–17 s`]);
if (!values['skip-suite']) {
  const t0 = performance.now();
  const r = spawnSync(join(root, 'node_modules/.bin/cucumber-js'), ['--format', 'summary'], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '--import tsx' },
    encoding: 'utf8',
  });
  const scenarios = /(\d+) scenarios? \(([^)]*)\)/.exec(r.stdout ?? '');
  rows.push(['whole suite wall time', s(performance.now() - t0), `${scenarios?.[1] ?? '?'} scenarios (${scenarios?.[2] ?? 'exit ' + r.status}), one fresh node each`]);
}
console.log(`Measured ${new Date().toISOString().slice(0, 10)} on this machine (2 vCPU, shared).\n`);
console.log('| measure | time | notes |\n| --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
