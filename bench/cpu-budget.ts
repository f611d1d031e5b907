/**
 * Where a command's CPU goes on this machine: runs it (for example the
 * whole `npm run conformance`) and splits the machine's busy CPU time into
 *   - the command's own process tree (the harness: npm, cucumber-js and its
 *     workers, and what they fork),
 *   - the lab node containers, the audit sidecars and kind node containers
 *     (each container's cgroup CPU, sampled until the container is gone),
 *   - dockerd and the engine's containerd,
 *   - the rest (kernel threads, container shims, other processes).
 * With the wall time, that says how many cores the command kept busy and
 * what a time goal allows: N seconds on C cores is at most N·C CPU seconds.
 *
 *   node --import tsx bench/cpu-budget.ts [--interval-ms 100] -- npm run conformance
 *
 * Linux only; cgroup v1 (cpuacct/docker/<id>) or v2 (system.slice/docker-<id>.scope).
 * The sampler itself costs a little CPU; it is counted in "rest".
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { containersLabelled } from '../lab/engine.ts';
import { KIND_CLUSTER_LABEL } from '../lab/kind/cluster.ts';
import { LAB_LABEL, ROLE_LABEL } from '../lab/node/lab-node.ts';
import { CLOCK_TICKS, machineBusySeconds } from './machine-cpu.ts';

const { values, positionals } = parseArgs({ options: { 'interval-ms': { type: 'string', default: '100' } }, allowPositionals: true });
if (positionals.length === 0) {
  console.error('usage: node --import tsx bench/cpu-budget.ts [--interval-ms N] -- COMMAND [ARGS…]');
  process.exit(2);
}

/** CPU seconds of a process so far, with its waited-for children. */
function processCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // After the command name: state is field 3, utime..cstime are fields 14..17 (1-based).
  return fields.slice(11, 15).map(Number).reduce((a, b) => a + b, 0) / CLOCK_TICKS;
}

function pidsNamed(comm: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  });
}

/** Each running container's cgroup CPU seconds, by full id. */
function containerCpu(): Map<string, number> {
  const out = new Map<string, number>();
  const v1 = '/sys/fs/cgroup/cpuacct/docker';
  const v2 = '/sys/fs/cgroup/system.slice';
  let dirs: string[] = [];
  try {
    dirs = readdirSync(v1).filter((d) => /^[0-9a-f]{64}$/.test(d));
    for (const id of dirs) {
      try {
        out.set(id, Number(readFileSync(`${v1}/${id}/cpuacct.usage`, 'utf8')) / 1e9);
      } catch {
        // gone between the listing and the read
      }
    }
    return out;
  } catch {
    // not cgroup v1
  }
  try {
    for (const d of readdirSync(v2)) {
      const m = /^docker-([0-9a-f]{64})\.scope$/.exec(d);
      if (!m) continue;
      try {
        const usec = /usage_usec (\d+)/.exec(readFileSync(`${v2}/${d}/cpu.stat`, 'utf8'))?.[1];
        if (usec) out.set(m[1]!, Number(usec) / 1e6);
      } catch {
        // gone
      }
    }
  } catch {
    // no container cgroups to read
  }
  return out;
}

type Role = 'lab node' | 'audit sidecar' | 'kind node' | 'other container';
const roles = new Map<string, Role>();
async function learnRoles(): Promise<void> {
  for (const c of await containersLabelled(LAB_LABEL)) roles.set(c.id, c.labels[ROLE_LABEL] === 'audit' ? 'audit sidecar' : 'lab node');
  for (const c of await containersLabelled(KIND_CLUSTER_LABEL)) roles.set(c.id, 'kind node');
}

/** dockerd, and the containerd it runs (not the containerd of each lab node, which is in its container's cgroup). */
const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
const dockerds = pidsNamed('dockerd');
const daemons = [...dockerds, ...pidsNamed('containerd').filter((pid) => dockerds.includes(parentOf(pid)))];
const daemonCpu = () => new Map(daemons.flatMap((pid) => {
  try {
    return [[pid, processCpu(pid)] as const];
  } catch {
    return []; // restarted meanwhile: not counted
  }
}));
const daemonsBefore = daemonCpu();
// Containers already running count from here, not from their creation.
const containersBefore = containerCpu();
const ownBefore = process.resourceUsage();
const busyBefore = machineBusySeconds();
const started = performance.now();

const peak = new Map<string, number>();
const sample = () => {
  for (const [id, s] of containerCpu()) peak.set(id, Math.max(peak.get(id) ?? 0, s));
};
const sampler = setInterval(sample, Number(values['interval-ms']));
const roleRefresh = setInterval(() => void learnRoles().catch(() => undefined), 1000);

const child = spawn(positionals[0]!, positionals.slice(1), { stdio: 'inherit' });
const exitCode: number = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
const ownUsage = process.resourceUsage(); // this process alone: the sampler's cost
sample();
clearInterval(sampler);
clearInterval(roleRefresh);
await learnRoles().catch(() => undefined);

const wall = (performance.now() - started) / 1000;
const busy = machineBusySeconds() - busyBefore;
// The command's tree: its exited, waited-for children are this process's children.
const tree = (() => {
  const ru = readFileSync(`/proc/${process.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(ru[13]) + Number(ru[14])) / CLOCK_TICKS; // cutime + cstime
})();
const byRole = new Map<Role, { seconds: number; containers: number }>();
for (const [id, total] of peak) {
  const s = total - (containersBefore.get(id) ?? 0);
  const role = roles.get(id) ?? 'other container';
  const r = byRole.get(role) ?? { seconds: 0, containers: 0 };
  byRole.set(role, { seconds: r.seconds + s, containers: r.containers + 1 });
}
const daemonsAfter = daemonCpu();
const daemonSeconds = [...daemonsBefore].filter(([pid]) => daemonsAfter.has(pid)).map(([pid, before]) => ({ name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), seconds: daemonsAfter.get(pid)! - before }));
const accounted = tree + [...byRole.values()].reduce((a, r) => a + r.seconds, 0) + daemonSeconds.reduce((a, d) => a + d.seconds, 0);
const round = (x: number) => Math.round(x * 10) / 10;
console.log(JSON.stringify({
  command: positionals.join(' '),
  exitCode,
  wallSeconds: round(wall),
  cores: cpus().length,
  loadAverageAtEnd: loadavg()[0],
  machineBusyCpuSeconds: round(busy),
  coresKeptBusy: round(busy / wall),
  split: {
    commandTree: round(tree),
    ...Object.fromEntries([...byRole].map(([role, r]) => [role, { seconds: round(r.seconds), containers: r.containers }])),
    ...Object.fromEntries(daemonSeconds.map((d) => [d.name, round(d.seconds)])),
    rest: round(busy - accounted),
  },
  samplerCpuSeconds: round((ownUsage.userCPUTime + ownUsage.systemCPUTime - ownBefore.userCPUTime - ownBefore.systemCPUTime) / 1e6),
}, null, 2));
process.exit(exitCode);
