/**
 * Leftover mounts: a mount namespace lives as long as something refers to
 * it: a process in it, an open descriptor on its namespace file, or a bind
 * mount of that file (namespaces(7), "The /proc/[pid]/ns/ directory"). When
 * a container stops while something still holds its namespace, every mount
 * in it stays, and with them every deleted file those mounts pin: disk space
 * that df counts as used and du cannot find (the talk's phantom disk usage).
 *
 * The watchdog finds what holds a stopped container's namespace, enters it,
 * and detaches every mount but the namespace root.
 */
import { namespaceRoot, type MountinfoEntry } from './mountinfo.ts';
import type { NodeView } from './proc.ts';

export interface NamespaceHolder {
  kind: 'process' | 'descriptor' | 'bind-mount';
  /** A namespace file that setns(2) accepts. */
  path: string;
  pid?: number;
}

/** Everything on the node that keeps the namespace `nsLink` (`mnt:[N]`) alive. */
export function findHolders(nsLink: string, view: NodeView, nodeMounts: readonly MountinfoEntry[], self = process.pid): NamespaceHolder[] {
  const out: NamespaceHolder[] = [];
  for (const pid of view.pids()) {
    if (pid === self) continue;
    if (view.mntNs(pid) === nsLink) out.push({ kind: 'process', path: `/proc/${pid}/ns/mnt`, pid });
    for (const [path, link] of view.fdNamespaces(pid)) if (link === nsLink) out.push({ kind: 'descriptor', path, pid });
  }
  for (const m of nodeMounts) if (m.fstype === 'nsfs' && m.root === nsLink) out.push({ kind: 'bind-mount', path: m.mountPoint });
  return out;
}

/**
 * Mount points to detach, most recent first: a mount stacked over another
 * (even over "/") is detached before what it hides, so every path resolves
 * again when its turn comes. The namespace root itself cannot be detached.
 *
 * Recency is the order of mountinfo lines, not mount ids: ids are reused
 * (the lowest free one is taken), while the kernel lists a namespace's
 * mounts in the order they were attached (fs/namespace.c keeps them sorted
 * by the 64-bit unique mount id since Linux 6.8, in list order before).
 */
export function planRelease(entries: readonly MountinfoEntry[]): string[] {
  const root = namespaceRoot(entries);
  return entries
    .filter((e) => e !== root)
    .reverse()
    .map((e) => e.mountPoint);
}
