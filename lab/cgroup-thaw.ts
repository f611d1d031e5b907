/**
 * Thaws a container's cgroups before the engine is asked to stop it.
 *
 * A container whose cgroup someone froze (cgroup v2 `cgroup.freeze`, or v1's
 * `freezer.state`) cannot be stopped: its processes never handle SIGTERM, a
 * v1-frozen task does not even die of SIGKILL, and on this host `docker
 * stop` of a v2-frozen container hung past a minute while dockerd held the
 * container's lock (every other request about it, `docker inspect`
 * included, waited too). Root on a lab node could do that to the node, to a
 * sidecar or to one of its own cgroups (the attacks `shell-in-agent-after-
 * audit-frozen` and `running-layer-tamper-after-watchdog-frozen`), so the
 * teardown thaws first and says what it thawed.
 *
 * The container's cgroups are found by its id under this host's cgroup
 * mounts (/proc/self/mountinfo): its v2 directory and its v1 freezer
 * directory, each with every cgroup below it.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMountinfo } from './watchdog/mountinfo.ts';
import { containersLabelled } from './engine.ts';
import type { ProgressListener } from './progress.ts';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function subdirectories(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(path, e.name));
  } catch {
    return [];
  }
}

/** The cgroup trees of this host that can freeze: the v2 mount and the v1 freezer mount, from /proc/self/mountinfo. */
export function freezerMounts(mountinfoText: string): { version: 'v1' | 'v2'; mountPoint: string }[] {
  return parseMountinfo(mountinfoText)
    .filter((m) => m.fstype === 'cgroup2' || (m.fstype === 'cgroup' && m.superOptions.includes('freezer')))
    .map((m) => ({ version: m.fstype === 'cgroup2' ? 'v2' : 'v1', mountPoint: m.mountPoint }));
}

/** Every directory at or below `dir`, down to `depth` levels. */
function tree(dir: string, depth = Infinity): string[] {
  return [dir, ...(depth > 0 ? subdirectories(dir).flatMap((d) => tree(d, depth - 1)) : [])];
}

/**
 * Thaws every frozen cgroup at or below the cgroups of the container
 * `containerId` (64 hex), found by name in each freezing tree of this host
 * (`<id>` with cgroupfs, `docker-<id>.scope` with systemd, at most three
 * levels down); returns the directories it thawed (none in the common
 * case). It asks the engine nothing: while an exec into a frozen container
 * hangs, dockerd answers no request about that container.
 */
export function thawContainer(containerId: string): string[] {
  if (!/^[0-9a-f]{64}$/.test(containerId)) throw new Error(`a container id is 64 hex digits, got ${JSON.stringify(containerId)}`);
  const names = new Set([containerId, `docker-${containerId}.scope`]);
  const thawed: string[] = [];
  for (const { version, mountPoint } of freezerMounts(readText('/proc/self/mountinfo') ?? '')) {
    const homes = tree(mountPoint, 3).filter((d) => names.has(d.slice(d.lastIndexOf('/') + 1)));
    for (const dir of homes.flatMap((home) => tree(home))) {
      if (version === 'v2' && readText(join(dir, 'cgroup.freeze'))?.trim() === '1') {
        writeFileSync(join(dir, 'cgroup.freeze'), '0');
        thawed.push(dir);
      }
      if (version === 'v1' && readText(join(dir, 'freezer.self_freezing'))?.trim() === '1') {
        writeFileSync(join(dir, 'freezer.state'), 'THAWED');
        thawed.push(dir);
      }
    }
  }
  return thawed;
}

/**
 * Thaws the running containers that carry `label` (a lab's, or a kind
 * cluster's) wherever someone froze them, and says what it thawed: run
 * first in a teardown, since nothing else in it could stop them.
 */
export async function thawContainersLabelled(label: string, progress: ProgressListener): Promise<void> {
  for (const c of await containersLabelled(label)) {
    if (c.state !== 'running') continue;
    const thawed = thawContainer(c.id);
    if (thawed.length > 0) progress({ phase: 'CLEANUP', status: 'WARN', message: `container ${c.name} was frozen (someone froze its cgroup): thawed ${thawed.join(', ')} so that it can be stopped` });
  }
}
