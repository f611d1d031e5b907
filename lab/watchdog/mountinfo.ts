/**
 * /proc/<pid>/mountinfo, every field: what the watchdog compares against a
 * container's expected mount set.
 *
 * Format: Documentation/filesystems/proc.rst, section 3.5 "/proc/<pid>/mountinfo":
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
 *
 * (1) mount id, (2) parent id, (3) st_dev major:minor, (4) root of the mount
 * within its filesystem, (5) mount point relative to the reader's root,
 * (6) per-mount options, (7) zero or more optional fields, (8) "-",
 * (9) filesystem type, (10) source, (11) superblock options.
 * Paths escape space, tab, newline and backslash as \040 \011 \012 \134
 * (fs/proc_namespace.c, mangle()).
 */

export interface MountinfoEntry {
  mountId: number;
  parentId: number;
  /** st_dev of the filesystem, "major:minor": equal for binds of one superblock. */
  majmin: string;
  /** The directory or file of the filesystem that is mounted ("/" for a whole filesystem). */
  root: string;
  mountPoint: string;
  mountOptions: string[];
  /** shared:N, master:N, propagate_from:N, unbindable. */
  optional: string[];
  fstype: string;
  source: string;
  superOptions: string[];
  /** The line as the kernel wrote it, for evidence. */
  line: string;
}

/** Undoes the kernel's octal escapes in mountinfo paths. */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses mountinfo text; lines that do not have the documented shape are
 * skipped (a partial read of a namespace that is going away ends mid-line).
 */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 6 || fields.length < sep + 4) continue;
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId)) continue;
    out.push({
      mountId,
      parentId,
      majmin: fields[2]!,
      root: unescapeMountinfo(fields[3]!),
      mountPoint: unescapeMountinfo(fields[4]!),
      mountOptions: fields[5]!.split(','),
      optional: fields.slice(6, sep),
      fstype: fields[sep + 1]!,
      source: unescapeMountinfo(fields[sep + 2]!),
      superOptions: fields.slice(sep + 3).join(' ').split(','),
      line,
    });
  }
  return out;
}

/** Read-only as the mount is (per-mount flag), not as the superblock is. */
export function isReadOnly(entry: MountinfoEntry): boolean {
  return entry.mountOptions.includes('ro');
}

/** A superblock option such as `lowerdir=`. */
export function superOption(entry: MountinfoEntry, key: string): string | undefined {
  const prefix = `${key}=`;
  return entry.superOptions.find((o) => o.startsWith(prefix))?.slice(prefix.length);
}

/** The lowerdirs of an overlay mount, top layer first; none for any other mount. */
export function overlayLowerdirs(entry: MountinfoEntry | undefined): string[] {
  if (!entry || entry.fstype !== 'overlay') return [];
  return (superOption(entry, 'lowerdir') ?? '').split(':').filter(Boolean);
}

/** Lowerdirs of a container's root overlay (its first `/` overlay), top layer first, from its mountinfo. */
export function rootLowerdirs(mountinfo: string): string[] {
  return overlayLowerdirs(parseMountinfo(mountinfo).find((e) => e.mountPoint === '/' && e.fstype === 'overlay'));
}

/**
 * The mount of a namespace's root: the "/" entry whose parent is not in the
 * table (it lies outside the reader's view). Later "/" entries are stacked on
 * top of it.
 */
export function namespaceRoot(entries: readonly MountinfoEntry[]): MountinfoEntry | undefined {
  const ids = new Set(entries.map((e) => e.mountId));
  return entries.find((e) => e.mountPoint === '/' && !ids.has(e.parentId)) ?? entries.find((e) => e.mountPoint === '/');
}

/** True when `path` is `dir` or lies under it (path components, not string prefixes). */
export function isUnder(path: string, dir: string): boolean {
  if (dir === '/') return path.startsWith('/');
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** `path` relative to `dir` ("" when equal); callers check isUnder first. */
export function relativeTo(path: string, dir: string): string {
  if (path === dir) return '';
  return dir === '/' ? path.slice(1) : path.slice(dir.length + 1);
}

export function joinPath(dir: string, rest: string): string {
  if (!rest) return dir;
  return dir.endsWith('/') ? `${dir}${rest}` : `${dir}/${rest}`;
}

/**
 * The mount a node path lives on: the last (topmost) entry whose mount point
 * is the longest prefix of the path. `path` must be canonical (no symlinks).
 */
export function mountOf(entries: readonly MountinfoEntry[], path: string): MountinfoEntry | undefined {
  let best: MountinfoEntry | undefined;
  for (const e of entries) {
    if (!isUnder(path, e.mountPoint)) continue;
    if (!best || e.mountPoint.length >= best.mountPoint.length) best = e;
  }
  return best;
}

/**
 * Where a bind of the node path `path` shows up in another namespace's
 * mountinfo: the st_dev of the node mount it lives on, and the path within
 * that filesystem (field 4).
 */
export function bindIdentity(entries: readonly MountinfoEntry[], path: string): { majmin: string; root: string; mount: MountinfoEntry } | undefined {
  const m = mountOf(entries, path);
  if (!m) return undefined;
  return { majmin: m.majmin, root: joinPath(m.root, relativeTo(path, m.mountPoint)), mount: m };
}

/**
 * The node path a mount in another namespace shows, when its filesystem is
 * also mounted on the node: the node mount with the same st_dev whose root
 * contains the entry's root.
 */
export function nodePathOf(nodeEntries: readonly MountinfoEntry[], entry: Pick<MountinfoEntry, 'majmin' | 'root'>): string | undefined {
  let best: MountinfoEntry | undefined;
  for (const n of nodeEntries) {
    if (n.majmin !== entry.majmin || !isUnder(entry.root, n.root)) continue;
    if (!best || n.root.length > best.root.length) best = n;
  }
  return best ? joinPath(best.mountPoint, relativeTo(entry.root, best.root)) : undefined;
}
