/**
 * The watchdog's view of the node: containerd's runtime v2 task directory
 * (one bundle per container, with the OCI config.json and the init pid the
 * shim wrote after `runc create`) and /proc. Every read tolerates the thing
 * it reads disappearing: containers exit at any moment, and a container that
 * is gone is a normal answer (undefined), never an error.
 *
 * Trust boundary: config.json and the pid file are files root on the node
 * can rewrite. The daemon takes whose a task is and the mounts it must have
 * from containerd's record of the container when it can be read (config.json
 * is then only compared with it), and a task's pid from containerd's task
 * list. Everything under /proc/<pid> of a container is as the kernel
 * reports it.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PathKind } from './diff.ts';
import type { OciSpec } from './expected.ts';

export interface TaskInfo {
  id: string;
  bundleDir: string;
  spec: OciSpec;
  /** Absent until `runc create` has finished (mounts are complete once the pid file exists). */
  pid?: number;
}

/** Where the watchdog reads the node; swapped for a fake in tests. */
export interface NodeView {
  /** Container ids with a bundle directory. */
  taskIds(taskDir: string): string[];
  task(taskDir: string, id: string): TaskInfo | undefined;
  mountinfo(pid: number | 'self'): string | undefined;
  /** `mnt:[4026532329]`: the mount namespace a process is in. */
  mntNs(pid: number): string | undefined;
  /** `pid:[4026532331]`: the PID namespace a process is in (a container's processes share its init's). */
  pidNs(pid: number): string | undefined;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  startTime(pid: number): string | undefined;
  /** What a path is inside a container, through /proc/<pid>/root. */
  pathKind(pid: number, path: string): PathKind | undefined;
  pids(): number[];
  /** Namespace links of a process's open descriptors: fd path → `mnt:[…]`. */
  fdNamespaces(pid: number): Map<string, string>;
  realpath(path: string): string;
  /** The block device node with this major:minor, from /sys/dev/block/<maj:min>/uevent. */
  blockDevice(majmin: string): string | undefined;
  readText(path: string): string | undefined;
  readBytes(path: string): Buffer | undefined;
}

const gone = (err: unknown) => ['ENOENT', 'ESRCH', 'ENOTDIR', 'EINVAL', 'EACCES', 'ENXIO'].includes((err as NodeJS.ErrnoException).code ?? '');

function tolerant<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    if (gone(err)) return undefined;
    throw err;
  }
}

export const nodeView: NodeView = {
  taskIds(taskDir) {
    return tolerant(() => readdirSync(taskDir)) ?? [];
  },
  task(taskDir, id) {
    const bundleDir = join(taskDir, id);
    const text = tolerant(() => readFileSync(join(bundleDir, 'config.json'), 'utf8'));
    if (text === undefined) return undefined;
    let spec: OciSpec;
    try {
      spec = JSON.parse(text) as OciSpec;
    } catch {
      return undefined; // being written
    }
    const pidText = tolerant(() => readFileSync(join(bundleDir, 'init.pid'), 'utf8'));
    const pid = pidText && /^\d+$/.test(pidText.trim()) ? Number(pidText.trim()) : undefined;
    return { id, bundleDir, spec, pid };
  },
  mountinfo(pid) {
    return tolerant(() => readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
  },
  mntNs(pid) {
    return tolerant(() => readlinkSync(`/proc/${pid}/ns/mnt`));
  },
  pidNs(pid) {
    return tolerant(() => readlinkSync(`/proc/${pid}/ns/pid`));
  },
  startTime(pid) {
    const stat = tolerant(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
    // comm (field 2) may contain spaces and parentheses: count from the last ')'.
    return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  },
  pathKind(pid, path) {
    const s = tolerant(() => statSync(`/proc/${pid}/root${path}`));
    if (!s) return undefined;
    return s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other';
  },
  pids() {
    return (tolerant(() => readdirSync('/proc')) ?? []).filter((n) => /^\d+$/.test(n)).map(Number);
  },
  fdNamespaces(pid) {
    const out = new Map<string, string>();
    for (const fd of tolerant(() => readdirSync(`/proc/${pid}/fd`)) ?? []) {
      const link = tolerant(() => readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (link?.startsWith('mnt:[')) out.set(`/proc/${pid}/fd/${fd}`, link);
    }
    return out;
  },
  realpath(path) {
    return tolerant(() => realpathSync(path)) ?? path;
  },
  blockDevice(majmin) {
    if (!/^\d+:\d+$/.test(majmin)) return undefined;
    const name = tolerant(() => /^DEVNAME=(.+)$/m.exec(readFileSync(`/sys/dev/block/${majmin}/uevent`, 'utf8'))?.[1]);
    return name ? `/dev/${name}` : undefined;
  },
  readText(path) {
    return tolerant(() => readFileSync(path, 'utf8'));
  },
  readBytes(path) {
    return tolerant(() => readFileSync(path));
  },
};
