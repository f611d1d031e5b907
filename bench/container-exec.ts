/**
 * A command in a container: `containerExec` (Docker Engine API) against the
 * `docker exec` CLI it replaced, from a process with a heap the size of a
 * cucumber worker's (forking a large process is part of the CLI's cost).
 * Interleaved, N commands each; wall time per command, and the CPU this
 * process and its children spent (the docker CLI is a child; dockerd's and
 * the runtime's own work is the same for both and not counted).
 *
 *   node --import tsx bench/container-exec.ts [--runs 40] [--heap-mib 400]
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { containerExec, localExec, type Exec } from '../lab/exec.ts';
import { ensureNodeImage } from '../lab/node/index.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '40' }, 'heap-mib': { type: 'string', default: '400' } } });
const RUNS = Number(values.runs);

// Retained objects standing in for the worker's heap (modules, step state, evidence).
const ballast: number[][] = [];
for (let i = 0; i < Number(values['heap-mib']); i++) ballast.push(Array.from({ length: 131_072 }, (_, j) => j));

/** CPU of this process plus its waited-for children, in ms (/proc/self/stat utime, stime, cutime, cstime). */
function cpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10;
}

const image = await ensureNodeImage();
const started = await localExec.run(['docker', 'run', '-d', '--rm', '--network', 'none', '--entrypoint', '/bin/sleep', image.tag, '600']);
if (started.exitCode !== 0) throw new Error(`cannot start a container: ${started.stderr}`);
const id = started.stdout.toString().trim();
const ways: Record<string, Exec> = {
  'containerExec (Engine API)': containerExec(id),
  'docker exec (CLI)': { run: (argv, o) => localExec.run(['docker', 'exec', '-i', id, ...argv], o) },
};
const wall: Record<string, number[]> = {};
const cpu: Record<string, number> = {};
try {
  for (let i = 0; i < RUNS; i++) {
    for (const [name, exec] of Object.entries(ways)) {
      const c = cpuMs();
      const t = performance.now();
      const r = await exec.run(['cat', '/etc/hostname']);
      (wall[name] ??= []).push(performance.now() - t);
      cpu[name] = (cpu[name] ?? 0) + cpuMs() - c;
      if (r.exitCode !== 0) throw new Error(`${name}: exit ${r.exitCode}: ${r.stderr}`);
    }
  }
} finally {
  await localExec.run(['docker', 'rm', '-f', id]);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| way | median wall ms | CPU ms per command (this process + children) |`);
console.log(`| --- | ---: | ---: |`);
for (const name of Object.keys(ways)) console.log(`| ${name} | ${median(wall[name]!).toFixed(1)} | ${(cpu[name]! / RUNS).toFixed(1)} |`);
console.log(`\n${RUNS} commands each, heap ballast ${values['heap-mib']} MiB (${ballast.length} arrays), load average at end ${loadavg()[0]!.toFixed(2)}`);
