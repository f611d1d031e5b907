/**
 * Where a lab node's start and teardown time goes, per component: each
 * component's prepare, afterStart and beforeStop, timed around the real
 * ones, the lab ready and teardown times, and the machine's busy CPU time
 * for each start and teardown, median of N runs.
 *
 *   node --import tsx bench/lab-start.ts [--profile integrity] [--runs 5]
 *
 * Run it in two checkouts, interleaved, to compare a change of the start
 * path against its parent in the same period (docs/benchmarks.md).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { componentsFor } from '../lab/components.ts';
import type { NodeComponent } from '../lab/node/component.ts';
import { LabNode } from '../lab/node/index.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';
import { machineBusySeconds } from './machine-cpu.ts';

const { values } = parseArgs({ options: { profile: { type: 'string', default: 'integrity' }, runs: { type: 'string', default: '5' } } });
const catalog = await loadCatalog(join(import.meta.dirname, '../scenarios'));
const profile = getProfile(catalog, values.profile);

type Phase = 'prepare' | 'afterStart' | 'beforeStop';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const timings = new Map<string, number[]>();
const record = (key: string, ms: number) => timings.set(key, [...(timings.get(key) ?? []), ms]);

/** The component with each lifecycle call timed; everything else as it is. */
function timed(c: NodeComponent): NodeComponent {
  const wrap = <A extends unknown[], R>(phase: Phase, f: ((...a: A) => Promise<R>) | undefined) =>
    f &&
    (async (...a: A) => {
      const t = performance.now();
      try {
        return await f.apply(c, a);
      } finally {
        record(`${phase} ${c.name}`, performance.now() - t);
      }
    });
  // Inherits the rest (a component may be a class instance, its methods on the prototype).
  return Object.assign(Object.create(c) as NodeComponent, { prepare: wrap('prepare', c.prepare)!, afterStart: wrap('afterStart', c.afterStart), beforeStop: wrap('beforeStop', c.beforeStop) });
}

// What one start and teardown costs the whole machine (harness, dockerd,
// containerd, the node and its sidecar): meaningful on a quiet machine only.
const machineCpuMs: number[] = [];
for (let i = 0; i < Number(values.runs); i++) {
  const busy = machineBusySeconds();
  let t = performance.now();
  const node = await new LabNode(profile).withComponents(componentsFor(profile).map(timed)).start();
  record('lab ready', performance.now() - t);
  t = performance.now();
  await node.stop({ force: true });
  record('teardown', performance.now() - t);
  machineCpuMs.push(Math.round((machineBusySeconds() - busy) * 1000));
}
console.log(JSON.stringify({
  profile: profile.metadata.name,
  runs: Number(values.runs),
  loadAverageAtEnd: loadavg()[0],
  machineCpuMsPerLab: { median: median(machineCpuMs), all: machineCpuMs },
  medianMs: Object.fromEntries([...timings].map(([k, v]) => [k, Math.round(median(v))])),
  allMs: Object.fromEntries([...timings].map(([k, v]) => [k, v.map(Math.round)])),
}, null, 2));
