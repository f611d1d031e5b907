/**
 * `integrity-lab verity format|verify` against `veritysetup format|verify`,
 * each timed as a whole process (start-up, module loading, hashing, fsync),
 * on the same 256 MiB file of random data, interleaved, median of N runs.
 * Also times `integrity-lab --help`, the CLI's bare start-up, and the CLI
 * with its native leaf hasher turned off (INTEGRITY_LAB_VERITY_NATIVE=0).
 *
 *   node bench/verity-cli.ts [--mib 256] [--runs 7]
 *
 * The CLI runs as users run it: bin/integrity-lab.mjs on the bundled Node
 * (node_modules/.bin/node), which strips the TypeScript types at load.
 * Ratio = veritysetup time / integrity-lab time (>= 1.0: at least as fast).
 */
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, openSync, writeSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, runs: { type: 'string', default: '7' } } });
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
const ROOT = join(import.meta.dirname, '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const CLI = join(ROOT, 'bin/integrity-lab.mjs');
const SALT = '8f3c1d2e4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0';
/** The peer inside integrity-lab: the same CLI hashing with Node's crypto on worker threads. */
const JS = { INTEGRITY_LAB_VERITY_NATIVE: '0' };

/**
 * Wall time of one process in ms, its CPU time (user + system, from
 * /usr/bin/time: on a loaded machine the wall time mostly measures the other
 * load, the CPU time much less) and its output; fails loudly on a non-zero exit.
 */
function timed(argv: string[], env?: Record<string, string>): { ms: number; cpuMs: number; stdout: string } {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', ...argv], { encoding: 'utf8', env: env ? { ...process.env, ...env } : undefined });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited with ${r.status}: ${r.stderr}`);
  const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  return { ms, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : NaN, stdout: r.stdout + r.stderr };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rootOf = (out: string) => /Root hash:\s*([0-9a-f]{64})/.exec(out)?.[1];

const dir = mkdtempSync(join(tmpdir(), 'verity-cli-'));
try {
  const data = join(dir, 'data');
  const fd = openSync(data, 'w');
  const chunk = Buffer.allocUnsafe(8 << 20);
  for (let done = 0; done < MIB << 20; done += chunk.length) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  readFileSync(data); // page cache warm for both sides

  const vs = (file: string) => ['veritysetup', 'format', data, file, '--hash', 'sha256', '--data-block-size', '4096', '--hash-block-size', '4096', '--format', '1', '--salt', SALT];
  const il = (file: string) => [NODE, CLI, 'verity', 'format', data, file, '--salt', SALT];
  const want = rootOf(timed(vs(join(dir, 'warm-vs'))).stdout);
  // The first run builds the native leaf hasher if it is not built yet (lab/verity/native-leaves.ts).
  const got = rootOf(timed(il(join(dir, 'warm-il'))).stdout);
  const gotJs = rootOf(timed(il(join(dir, 'warm-il-js')), JS).stdout);
  if (!want || want !== got || want !== gotJs) throw new Error(`root hashes differ: veritysetup ${want}, integrity-lab ${got}, with Node's crypto ${gotJs}`);

  const keys = ['node', 'help', 'vsFormat', 'ilFormat', 'ilFormatJs', 'vsVerify', 'ilVerify', 'ilVerifyJs'];
  const t: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  const rec = (k: string, r: { ms: number; cpuMs: number }) => {
    t[k]!.push(r.ms);
    cpu[k]!.push(r.cpuMs);
  };
  const load = [loadavg()[0]!];
  for (let i = 0; i < RUNS; i++) {
    rec('help', timed([NODE, CLI, '--help']));
    rec('node', timed([NODE, '-e', '0']));
    rec('vsFormat', timed(vs(join(dir, `vs-${i}`))));
    rec('ilFormat', timed(il(join(dir, `il-${i}`))));
    rec('ilFormatJs', timed(il(join(dir, `js-${i}`)), JS));
    rec('vsVerify', timed(['veritysetup', 'verify', data, join(dir, `vs-${i}`), want]));
    rec('ilVerify', timed([NODE, CLI, 'verity', 'verify', data, join(dir, `il-${i}`), want]));
    rec('ilVerifyJs', timed([NODE, CLI, 'verity', 'verify', data, join(dir, `js-${i}`), want], JS));
    for (const side of ['vs', 'il', 'js']) rmSync(join(dir, `${side}-${i}`));
  }
  load.push(loadavg()[0]!);
  const vsv = spawnSync('veritysetup', ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`${MIB} MiB of random data in ${tmpdir()} (page cache warm), sha256, 4096/4096, format 1, 32-byte salt; whole processes, median of ${RUNS} interleaved runs; ${availableParallelism()} cores, load average ${load[0]!.toFixed(2)} → ${load[1]!.toFixed(2)}; node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()}, ${vsv}.\n`);
  const mbps = (ms: number) => ((MIB * 1.048576) / (ms / 1000)).toFixed(0);
  console.log('| Process | Median wall ms | MB/s | Ratio vs veritysetup | Median CPU ms (user+sys) |\n| --- | ---: | ---: | ---: | ---: |');
  const row = (label: string, k: string, vsKey?: string) =>
    console.log(`| ${label} | ${median(t[k]!).toFixed(0)} | ${k === 'help' || k === 'node' ? '' : mbps(median(t[k]!))} | ${vsKey ? (median(t[vsKey]!) / median(t[k]!)).toFixed(2) : ''} | ${median(cpu[k]!).toFixed(0)} |`);
  row('node -e 0 (Node start-up alone)', 'node');
  row('integrity-lab --help', 'help');
  row('veritysetup format', 'vsFormat');
  row('integrity-lab verity format', 'ilFormat', 'vsFormat');
  row("integrity-lab verity format, Node's crypto (INTEGRITY_LAB_VERITY_NATIVE=0)", 'ilFormatJs', 'vsFormat');
  row('veritysetup verify', 'vsVerify');
  row('integrity-lab verity verify', 'ilVerify', 'vsVerify');
  row("integrity-lab verity verify, Node's crypto (INTEGRITY_LAB_VERITY_NATIVE=0)", 'ilVerifyJs', 'vsVerify');
  console.log(`\nall runs (ms): ${JSON.stringify(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.map((x) => Math.round(x))])))}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
