/**
 * The Linux audit rules a lab sets, as auditctl argument lists, and the
 * reading of `auditctl -l`. Pure: the sidecar runs the commands.
 *
 * Scoping (auditctl(8), audit.rules(7); kernel/audit_tree.c,
 * kernel/audit_watch.c). Audit records carry no container, and an
 * unfiltered execve rule logs every process on the VM, so rules are tied
 * to the lab's containers wherever the kernel allows:
 *
 * - Per container, set before its first process runs (start-hold.ts), or
 *   when the inventory sees it running:
 *   - `-S execve,execveat -F dir=<rootfs>`: a tree rule on the container's
 *     root file system, issued from the node's mount namespace (nsenter -m)
 *     where containerd mounted it, because the kernel tags only mounts of
 *     the caller's own namespace (fs/namespace.c collect_paths: check_mnt,
 *     else EINVAL; measured from the sidecar's namespace). The tag sits on
 *     the overlay's root inode, which the container's own mount namespace
 *     shares, so every exec of a file of the container's image matches,
 *     including busybox's re-exec through /proc/self/exe. Execs of files on
 *     hostPath volumes do not (those mounts exist only in the container's
 *     namespace).
 *   - `-S open,openat,openat2 -F path=/proc/<pid>/root<file> -F perm=r`:
 *     a watch on each sensitive file's inode in that container (a watch,
 *     unlike a tree, may be set through /proc/<pid>/root).
 * - Per lab: `-S setns,mount,move_mount,mount_setattr` and `-S memfd_create,execveat`.
 *   setns names no path and a memfd is in no file system, so no tree can
 *   scope them; these syscalls are rare (measured ≈12/s on a VM running
 *   several labs, mostly runc). These are the rules that must be removed
 *   explicitly; the sidecar does it on stop and on node exit, and the next
 *   audit lab reaps rules of labs that no longer exist.
 *
 * Keys: `il:<labId>:` for the lab rule and `il:<labId>:<container id, 12
 * hex>` per container. auditctl -D -k matches keys by prefix (measured:
 * `-D -k foo` also deletes `foobar`); lab ids are Docker-name-safe and
 * never contain ':', so `il:<labId>:` is a prefix of this lab's keys only.
 * A matching event's SYSCALL record names the key of the first rule that
 * matched, which for container rules says which container's tree or file
 * it was.
 */
import { LabError } from '../../errors.ts';
import type { AuditErrorCode } from '../errors.ts';

/** include/uapi/linux/audit.h AUDIT_MAX_KEY_LEN. */
export const AUDIT_MAX_KEY_LEN = 256;
export const KEY_PREFIX = 'il:';

const LAB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const CONTAINER_ID = /^[0-9a-f]{12,64}$/;

/** A path whose reads are audited inside every container: one file, or a directory tree. */
export interface SensitivePath {
  path: string;
  tree?: boolean;
}

/**
 * What the built-in rule "Read of a sensitive file" looks for
 * (rules/integrity-lab.rules.yaml, lists integrity_lab_sensitive_files and
 * integrity_lab_sensitive_directories, and the token globs); a test checks
 * each one makes that rule fire.
 */
export const DEFAULT_SENSITIVE_PATHS: readonly SensitivePath[] = [
  { path: '/etc/shadow' },
  { path: '/etc/gshadow' },
  { path: '/etc/sudoers' },
  { path: '/etc/sudoers.d', tree: true },
  { path: '/var/run/secrets/kubernetes.io/serviceaccount', tree: true },
  { path: '/run/secrets/kubernetes.io/serviceaccount', tree: true },
];

export function labKey(labId: string): string {
  if (!LAB_ID.test(labId)) {
    throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `lab id should match ${LAB_ID.source} (Docker-name-safe, no ':'), got ${JSON.stringify(labId)}`);
  }
  const key = `${KEY_PREFIX}${labId}:`;
  if (key.length + 12 > AUDIT_MAX_KEY_LEN) {
    throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `lab id is ${labId.length} characters; audit keys hold at most ${AUDIT_MAX_KEY_LEN}`);
  }
  return key;
}

export function containerKey(labId: string, containerId: string): string {
  if (!CONTAINER_ID.test(containerId)) {
    throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `container id should be 12 to 64 lower-case hex digits, got ${JSON.stringify(containerId)}`);
  }
  return `${labKey(labId)}${containerId.slice(0, 12)}`;
}

/** `il:<lab>:` → { labId }; `il:<lab>:<cid>` → { labId, containerId }; anything else undefined. */
export function parseKey(key: string | undefined): { labId: string; containerId?: string } | undefined {
  if (key === undefined || !key.startsWith(KEY_PREFIX)) return undefined;
  const rest = key.slice(KEY_PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon <= 0) return undefined;
  const labId = rest.slice(0, colon);
  const tail = rest.slice(colon + 1);
  if (!LAB_ID.test(labId)) return undefined;
  if (tail === '') return { labId };
  return /^[0-9a-f]{12}$/.test(tail) ? { labId, containerId: tail } : undefined;
}

/**
 * The lab-wide rules, filtered to the lab in user space: namespace joins and
 * mounts anywhere; and memfd_create and execveat, the two halves of running
 * code from an anonymous memory file (fexecve is execveat(fd, "", …,
 * AT_EMPTY_PATH)), which no tree rule can scope since a memfd is in no
 * container's file system. Both are rare: execve is the frequent exec call
 * and stays per container. The AT_EMPTY_PATH flag is execveat's fifth
 * argument, which audit filters cannot see (a0–a3 only). Then
 * io_uring_setup: what a ring opens and reads is no system call, so no rule
 * on open or read sees it, and no ring works without one (rare too). And the
 * same calls made through the 32-bit ABI (I386_RECORDED).
 */
export function labRules(labId: string): string[][] {
  return [
    ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'setns,mount,move_mount,mount_setattr', '-k', labKey(labId)],
    ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'memfd_create,execveat', '-k', labKey(labId)],
    ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'io_uring_setup', '-k', labKey(labId)],
    ['-a', 'always,exit', '-F', 'arch=b32', '-S', I386_RECORDED.join(','), '-k', labKey(labId)],
  ];
}

/**
 * Every call the lab records in its 64-bit form, in its 32-bit form: a
 * 64-bit process that executes `int $0x80` makes an i386 system call,
 * which audit numbers and filters as arch=i386, so no `arch=b64` rule sees
 * it (`shell-in-agent-by-32-bit-syscall`: the container's own /bin/sh,
 * started unrecorded). 32-bit calls are rare on a 64-bit host, so one
 * lab-wide rule records them all, filtered to the lab's containers in user
 * space by the process's cgroup like the other lab-wide rules, instead of
 * doubling every per-container rule.
 */
const I386_RECORDED = ['execve', 'execveat', 'open', 'openat', 'openat2', 'memfd_create', 'setns', 'mount', 'move_mount', 'mount_setattr', 'io_uring_setup'];

/** One auditctl invocation; `inNodeMountNamespace` runs it through nsenter into the node's mount namespace. */
export interface KernelRule {
  args: string[];
  inNodeMountNamespace: boolean;
}

export interface ContainerRuleTarget {
  /** A process of the container in the host PID namespace (watches go through /proc/<pid>/root). */
  hostPid: number;
  /** The container's rootfs mount point in the node's mount namespace, from the node's mountinfo. */
  rootfsInNode: string;
}

/** Rules for one running container. */
export function containerRules(labId: string, containerId: string, target: ContainerRuleTarget, sensitive: readonly SensitivePath[] = DEFAULT_SENSITIVE_PATHS): KernelRule[] {
  const { hostPid, rootfsInNode } = target;
  if (!Number.isInteger(hostPid) || hostPid <= 1) {
    throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `container ${containerId.slice(0, 12)}: host pid should be an integer above 1, got ${hostPid}`);
  }
  if (!rootfsInNode.startsWith('/') || /\s/.test(rootfsInNode)) {
    throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `container ${containerId.slice(0, 12)}: rootfs mount point should be an absolute path without blanks, got ${JSON.stringify(rootfsInNode)}`);
  }
  const key = containerKey(labId, containerId);
  const rules: KernelRule[] = [
    { args: ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'execve,execveat', '-F', `dir=${rootfsInNode}`, '-k', key], inNodeMountNamespace: true },
  ];
  const root = `/proc/${hostPid}/root`;
  for (const s of sensitive) {
    if (!s.path.startsWith('/') || s.path.endsWith('/') || s.path.includes('/../')) {
      throw new LabError<AuditErrorCode>('AUDIT_CONFIG', `sensitive path should be absolute with no trailing '/' or '..', got ${JSON.stringify(s.path)}`);
    }
    // A tree must be set from the namespace that owns the mount: the node's, through the rootfs path.
    const args = ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'open,openat,openat2', '-F', s.tree ? `dir=${rootfsInNode}${s.path}` : `path=${root}${s.path}`, '-F', 'perm=r', '-k', key];
    rules.push({ args, inNodeMountNamespace: s.tree === true });
  }
  return rules;
}

/**
 * The mount point of a container's rootfs in the node's mountinfo
 * (proc(5) /proc/<pid>/mountinfo, field 5, octal escapes for blanks):
 * containerd mounts it at …/io.containerd.runtime.v2.task/<ns>/<id>/rootfs.
 */
export function rootfsMountPoint(mountinfo: string, containerId: string): string | undefined {
  const suffix = `/${containerId}/rootfs`;
  for (const line of mountinfo.split('\n')) {
    const point = line.split(' ')[4];
    if (point?.endsWith(suffix)) return point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

/**
 * The device of a container's rootfs mount in the node's mountinfo (field 3,
 * major:minor), as audit PATH records print it (`dev=%02x:%02x`,
 * kernel/audit.c audit_log_name): the identity of the container's root file
 * system, whatever path or namespace reaches it.
 */
export function rootfsAuditDev(mountinfo: string, containerId: string): string | undefined {
  const suffix = `/${containerId}/rootfs`;
  let dev: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (!fields[4]?.endsWith(suffix)) continue;
    const m = /^(\d+):(\d+)$/.exec(fields[2] ?? '');
    // The last entry wins: a remounted rootfs (the start gate's) stacks on the shim's.
    if (m) dev = `${Number(m[1]).toString(16).padStart(2, '0')}:${Number(m[2]).toString(16).padStart(2, '0')}`;
  }
  return dev;
}

/**
 * The kernel's audit queue must hold a burst of records while kauditd sends
 * them on: the default backlog_limit is 64, and two labs starting at once
 * overflow it (measured: tasks then sleep in audit_log_start, the
 * `backlog_wait_time_actual` of `auditctl -s` grows, and records are lost
 * when the wait times out). auditd's own default rules set 8192; a lab
 * raises a lower limit to this while it runs and the last lab puts the old
 * one back.
 */
export const LAB_BACKLOG_LIMIT = 8192;

/** The fields of `auditctl -s` the lab reads. */
export interface KernelAuditStatus {
  /** 0 off, 1 on, 2 locked until reboot. */
  enabled?: number;
  backlogLimit?: number;
  /** Records the kernel dropped since boot (backlog full, rate limit, no memory). */
  lost?: number;
}

/** Parses `auditctl -s` ("enabled 1", "backlog_limit 64", "lost 0", one per line); a field not printed stays undefined. */
export function parseAuditStatus(text: string): KernelAuditStatus {
  const field = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)\\b`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const status: KernelAuditStatus = {};
  const enabled = field('enabled');
  const backlogLimit = field('backlog_limit');
  const lost = field('lost');
  if (enabled !== undefined) status.enabled = enabled;
  if (backlogLimit !== undefined) status.backlogLimit = backlogLimit;
  if (lost !== undefined) status.lost = lost;
  return status;
}

export interface ListedRule {
  /** The line as auditctl -l printed it. */
  text: string;
  keys: string[];
}

/** Parses `auditctl -l`: one rule per line; "No rules" gives none. */
export function parseRuleList(text: string): ListedRule[] {
  const out: ListedRule[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('-')) continue;
    const keys: string[] = [];
    const words = t.split(/\s+/);
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (w === '-k' && words[i + 1] !== undefined) keys.push(words[++i]!);
      else if (w === '-F' && words[i + 1]?.startsWith('key=')) keys.push(words[++i]!.slice(4));
    }
    out.push({ text: t, keys });
  }
  return out;
}

/** Rules whose key belongs to the lab (its own rule and its containers'). */
export function rulesOfLab(rules: readonly ListedRule[], labId: string): ListedRule[] {
  const prefix = labKey(labId);
  return rules.filter((r) => r.keys.some((k) => k.startsWith(prefix)));
}

/** Lab ids that own rules but are not among the live labs: left behind by a lab that died hard. */
export function staleLabs(rules: readonly ListedRule[], liveLabIds: Iterable<string>): string[] {
  const live = new Set(liveLabIds);
  const stale = new Set<string>();
  for (const r of rules) {
    for (const k of r.keys) {
      const parsed = parseKey(k);
      if (parsed && !live.has(parsed.labId)) stale.add(parsed.labId);
    }
  }
  return [...stale].sort();
}
