/**
 * containerd's record of a workload container held to what the kubelet
 * asked CRI for.
 *
 * The record's OCI spec is what runc will run: its process (the command)
 * and its mounts. Root on the node can rewrite it through containerd's API
 * (Containers.Update) between CreateContainer and StartContainer, and
 * containerd then writes the bundle from it, so the start gate's other
 * checks (signed layers, signed config, bundle against record) all pass
 * while the container runs the attacker's command from verified layers, or
 * with the attacker's directory bound over its programs. CRI keeps the
 * CreateContainer request in memory (lab/cri/identity.ts `requestOf`), out
 * of that API's reach; the spec must follow from it:
 *
 * - the process arguments, as containerd's CRI builds them from the request
 *   and the (signed) image config: the request's command, else the image's
 *   entrypoint; then the request's args, else, with no command, the image's
 *   cmd;
 * - every mount: the runtime's own (`/proc`, `/dev`, …), a bind the request
 *   asked for (container path and host path, symlinks resolved as CRI
 *   resolves them), CRI's files of this pod's sandbox (`/etc/hosts`,
 *   `/etc/hostname`, `/etc/resolv.conf`, `/dev/shm`; the node's `/dev/shm`
 *   for a pod on the node's IPC namespace), or a volume CRI made for this
 *   container (an image's VOLUME);
 * - what the process runs as and with (processDepartures): its environment,
 *   working directory, capabilities, `noNewPrivileges`, seccomp
 *   profile, masked and read-only paths and devices, each as containerd's
 *   CRI builds it from the request and the signed image config; no sysctls
 *   (CRI gives a pod's to its sandbox only) and no rlimits; an OOM score
 *   adjustment no lower than the request's; and its
 *   namespaces, which must be the pod sandbox's (the path of one process,
 *   which the kernel places in the sandbox's cgroup: sandboxEvidence) or
 *   new ones where the request asks for them; and the mounts' options (mountOptionDepartures): the runtime
 *   mounts' protective ones, a read-only bind kept read-only, and no mount
 *   propagation the request did not ask for; its user and supplementary
 *   groups (userDepartures), resolved in the verified image's /etc/passwd
 *   and /etc/group once the gate has mounted its layers. A rewritten record could
 *   otherwise give a protected container `CAP_SYS_ADMIN`, the node's network
 *   namespace, a writable /sys or an `LD_PRELOAD` that nothing in the pod
 *   spec or the image asked for, or run as root a process its image runs as
 *   an unprivileged user.
 */
import { join } from 'node:path';
import { NAMESPACE_MODE, type CriRequest, type RequestedProcess } from '../cri/identity.ts';

/** containerd's CRI plugin directories (its defaults, on the lab node and on kind). */
export const CRI_ROOT = '/var/lib/containerd/io.containerd.grpc.v1.cri';
export const CRI_STATE = '/run/containerd/io.containerd.grpc.v1.cri';

/** The mounts the runtime gives every container, by type and destination. */
const RUNTIME_MOUNTS: Readonly<Record<string, readonly string[]>> = {
  '/proc': ['proc'],
  '/dev': ['tmpfs'],
  '/dev/pts': ['devpts'],
  '/dev/mqueue': ['mqueue'],
  '/sys': ['sysfs'],
  '/sys/fs/cgroup': ['cgroup', 'cgroup2'],
};
const SANDBOX_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm']);

export interface RecordedProcessAndMounts {
  process?: {
    args?: string[];
    env?: string[];
    cwd?: string;
    user?: { uid?: number; gid?: number; additionalGids?: number[] };
    capabilities?: Partial<Record<CapabilitySet, string[]>>;
    noNewPrivileges?: boolean;
    oomScoreAdj?: number;
    rlimits?: { type: string; hard?: number; soft?: number }[];
  };
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux?: {
    namespaces?: { type: string; path?: string }[];
    rootfsPropagation?: string;
    seccomp?: { defaultAction?: string } | null;
    sysctl?: Record<string, string>;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    devices?: { path: string; type?: string; major?: number; minor?: number }[];
    resources?: { devices?: { allow?: boolean; type?: string; major?: number; minor?: number; access?: string }[]; [field: string]: unknown };
    [field: string]: unknown;
  };
}

type CapabilitySet = 'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient';

/** A sandbox's spec that lists its namespaces and has no IPC one: the pod shares the node's (hostIPC). A container's spec names the sandbox's IPC namespace either way; its request says. */
const sharesNodeIpc = (spec: Pick<RecordedProcessAndMounts, 'linux'>) => Array.isArray(spec.linux?.namespaces) && !spec.linux.namespaces.some((n) => n.type === 'ipc');

/** The image config fields the process comes from (the signed config blob's `config`). */
export interface ImageProcess {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  User?: string;
  WorkingDir?: string;
}

/** The process arguments containerd's CRI builds from the request and the image config. */
export function expectedArgs(request: Pick<CriRequest, 'command' | 'args'>, image: ImageProcess): string[] {
  let command = request.command;
  let args = request.args;
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const entrypoint = image.Entrypoint ?? [];
    command = entrypoint.length === 1 && entrypoint[0] === '' ? [] : [...entrypoint];
  }
  return [...command, ...args];
}

const isBind = (m: { type?: string; options?: string[] }) => m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
const under = (path: string, dir: string) => path.startsWith(`${dir}/`);

/**
 * Where the recorded spec departs from the request: each as one sentence;
 * empty when the spec follows from it.
 */
export function departuresFromRequest(
  recorded: RecordedProcessAndMounts,
  request: CriRequest,
  /** The signed image config; undefined: the process is not judged (a running container's is already running). */
  image: ImageProcess | undefined,
  ids: { containerId: string; sandboxId: string; sandbox?: SandboxEvidence },
  realpath: (path: string) => string = (p) => p,
  node: NodeFacts = {},
): string[] {
  const out: string[] = [];
  const want = image ? expectedArgs(request, image) : [];
  const have = recorded.process?.args ?? [];
  if (image && JSON.stringify(have) !== JSON.stringify(want)) {
    out.push(`process.args ${JSON.stringify(have)} in containerd's record, ${JSON.stringify(want)} from the request CRI holds and the signed image config`);
  }
  if (image && request.process) {
    out.push(...processDepartures(recorded, request.process, image, ids.sandbox));
    out.push(...resourceDepartures(recorded, request.process, node));
    out.push(...mountOptionDepartures(recorded, request, request.process.privileged));
  }
  for (const m of unexplainedMounts(recorded, request, ids, realpath)) {
    out.push(`mount ${JSON.stringify(m)} in containerd's record, which no mount of the request CRI holds asked for`);
  }
  return out;
}

/** The options containerd's default spec gives each runtime mount that keep it from being a way out (pkg/oci `defaultMounts`); `ro` on /sys and its cgroups is taken off for a privileged container only. */
const RUNTIME_MOUNT_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  '/proc': ['nosuid', 'noexec', 'nodev'],
  '/dev': ['nosuid'],
  '/dev/pts': ['nosuid', 'noexec'],
  '/dev/mqueue': ['nosuid', 'noexec', 'nodev'],
  '/sys': ['nosuid', 'noexec', 'nodev', 'ro'],
  '/sys/fs/cgroup': ['nosuid', 'noexec', 'nodev', 'ro'],
};
const PROPAGATION = { PRIVATE: 0, HOST_TO_CONTAINER: 1, BIDIRECTIONAL: 2 } as const;

/**
 * Where the record's mount options give more than CRI would: a runtime
 * mount without its protective options (a writable /sys is a way to the
 * node's kernel), a bind asked read-only and recorded writable, or mount
 * propagation (the root's, or a bind's) that the request did not ask for,
 * by which mounts pass between the container and the node.
 */
export function mountOptionDepartures(recorded: RecordedProcessAndMounts, request: CriRequest, privileged: boolean): string[] {
  const out: string[] = [];
  const asked = (destination: string) => request.mounts.filter((r) => r.containerPath === destination);
  const widest = (destination: string) => Math.max(-1, ...asked(destination).map((r) => r.propagation ?? PROPAGATION.PRIVATE));
  for (const m of recorded.mounts ?? []) {
    const options = m.options ?? [];
    const required = (RUNTIME_MOUNT_OPTIONS[m.destination] ?? []).filter((o) => !(privileged && o === 'ro' && m.destination.startsWith('/sys')));
    if (!isBind(m) && RUNTIME_MOUNTS[m.destination]) {
      const lacking = required.filter((o) => !options.includes(o));
      if (lacking.length > 0) out.push(`mount ${m.destination} in containerd's record lacks ${lacking.join(', ')}, which containerd's CRI gives it`);
      continue;
    }
    if (!isBind(m)) continue;
    // `rro`: recursively read-only, as CRI records a request for that.
    if (asked(m.destination).some((r) => r.readonly) && (!options.some((o) => o === 'ro' || o === 'rro') || options.includes('rw'))) {
      out.push(`mount ${m.destination} writable in containerd's record, read-only in the request CRI holds`);
    }
    const shared = options.some((o) => o === 'shared' || o === 'rshared');
    const slave = options.some((o) => o === 'slave' || o === 'rslave');
    if ((shared && widest(m.destination) < PROPAGATION.BIDIRECTIONAL) || (slave && widest(m.destination) < PROPAGATION.HOST_TO_CONTAINER)) {
      out.push(`mount ${m.destination} with ${shared ? 'shared' : 'slave'} propagation in containerd's record, which the request CRI holds does not ask for`);
    }
  }
  const root = recorded.linux?.rootfsPropagation;
  const widestAsked = Math.max(PROPAGATION.PRIVATE, ...request.mounts.map((r) => r.propagation ?? PROPAGATION.PRIVATE));
  const rootAllowed = widestAsked === PROPAGATION.BIDIRECTIONAL ? ['rshared', 'rslave'] : widestAsked === PROPAGATION.HOST_TO_CONTAINER ? ['rslave'] : [];
  if (typeof root === 'string' && root !== '' && root !== 'rprivate' && root !== 'private' && !rootAllowed.includes(root)) {
    out.push(`linux.rootfsPropagation ${JSON.stringify(root)} in containerd's record, which no mount of the request CRI holds asks for`);
  }
  return out;
}

/** containerd's default PATH (pkg/oci `defaultUnixEnv`), the first entry of every container's environment. */
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The capabilities containerd gives a container that asks for none (pkg/oci `defaultUnixCaps`). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/**
 * containerd's `replaceOrAppendEnvValues` (pkg/oci), step for step: an
 * override replaces the entry of its key among `defaults`, else it is
 * appended (a key two overrides share is appended twice); an override with
 * no `=` removes its key from `defaults`.
 */
function replaceOrAppendEnv(defaults: string[], overrides: string[]): string[] {
  const at = new Map<string, number>();
  const out: (string | undefined)[] = [...defaults];
  defaults.forEach((e, i) => at.set(e.split('=', 1)[0]!, i));
  for (const value of overrides) {
    const eq = value.indexOf('=');
    const i = at.get(eq < 0 ? value : value.slice(0, eq));
    if (eq < 0) {
      if (i !== undefined) out[i] = undefined;
    } else if (i !== undefined) {
      out[i] = value;
    } else {
      out.push(value);
    }
  }
  return out.filter((e): e is string => e !== undefined && e !== '');
}

/** The environment containerd's CRI builds: the default PATH, HOSTNAME (the sandbox's), then the image's env and the request's, in that order. */
export function expectedEnv(process: Pick<RequestedProcess, 'envs'>, image: Pick<ImageProcess, 'Env'>, hostname: string): string[] {
  const base = replaceOrAppendEnv([DEFAULT_PATH], [`HOSTNAME=${hostname}`]);
  return replaceOrAppendEnv(base, [...(image.Env ?? []), ...process.envs.map((e) => `${e.key}=${e.value}`)]);
}

/**
 * The verified image's /etc/passwd and /etc/group, read from the rootfs the
 * gate mounted from the verified layers (accountsIn); undefined: absent, or
 * not a plain file. containerd's CRI resolves user and group names, and a
 * numeric user's primary group and group memberships, in the container's
 * own rootfs: the same bytes.
 */
export interface ImageAccounts {
  passwd?: string;
  group?: string;
}

/** `name:password:id:…` lines, as Go's user package parses /etc/passwd and /etc/group (blank and `#` lines skipped). */
function accountLines(text: string | undefined): string[][] {
  return (text ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
const users = (a: ImageAccounts) => accountLines(a.passwd).map(([name = '', , uid = '', gid = '']) => ({ name, uid: Number(uid), gid: Number(gid) }));
const groups = (a: ImageAccounts) => accountLines(a.group).map(([name = '', , gid = '', list = '']) => ({ name, gid: Number(gid), members: list.split(',').filter(Boolean) }));
const numeric = (x: string) => (/^\d+$/.test(x) ? Number(x) : undefined);

/**
 * The user string containerd's CRI applies: the request's user name or uid
 * (with `:gid` when it asks for a group), else the image config's `User`.
 */
export function requestedUserString(process: Pick<RequestedProcess, 'runAsUser' | 'runAsGroup' | 'runAsUsername'>, image: Pick<ImageProcess, 'User'>): string {
  let user = process.runAsUsername || (process.runAsUser !== undefined ? String(process.runAsUser) : '');
  if (user && process.runAsGroup !== undefined) user += `:${process.runAsGroup}`;
  return user || image.User || '';
}

/**
 * The uid, gid and user name containerd gives a user string (pkg/oci
 * `WithUser`): `uid` takes its primary group from /etc/passwd (group 0 when
 * the uid has no entry), a name must be in /etc/passwd, `user:group` takes
 * each part by number or by name. A string it cannot resolve: `error`.
 */
export function resolveUser(userstr: string, accounts: ImageAccounts): { uid: number; gid: number; name?: string } | { error: string } {
  if (!userstr) return { uid: 0, gid: 0, name: users(accounts).find((u) => u.uid === 0)?.name };
  const [u = '', g, ...rest] = userstr.split(':');
  if (rest.length > 0) return { error: `user "${userstr}" has more than one ":"` };
  const byName = (name: string) => users(accounts).find((e) => e.name === name);
  let uid = numeric(u);
  let gid: number | undefined;
  let name: string | undefined;
  if (uid === undefined) {
    const entry = byName(u);
    if (!entry) return { error: `user "${u}" is not in the verified image's /etc/passwd` };
    ({ uid, name } = entry);
    gid = entry.gid;
  } else {
    const entry = users(accounts).find((e) => e.uid === uid);
    name = entry?.name;
    gid = entry?.gid ?? 0;
  }
  if (g !== undefined) {
    gid = numeric(g) ?? groups(accounts).find((e) => e.name === g)?.gid;
    if (gid === undefined) return { error: `group "${g}" is not in the verified image's /etc/group` };
  }
  return { uid, gid, name };
}

/**
 * Where the record's user and supplementary groups depart from what the
 * request and the verified image give: the uid and gid as resolved above;
 * every additional gid must be the primary one, one the request lists
 * (`supplemental_groups`, which carries the pod's fsGroup), or, unless the
 * request's policy is Strict, a group whose /etc/group entry lists the user.
 */
export function userDepartures(recorded: RecordedProcessAndMounts, process: RequestedProcess, image: Pick<ImageProcess, 'User'>, accounts: ImageAccounts): string[] {
  const userstr = requestedUserString(process, image);
  const want = resolveUser(userstr, accounts);
  if ('error' in want) return [`${want.error}, so the record's user cannot be held to the request CRI holds and the signed image config`];
  const out: string[] = [];
  const have = recorded.process?.user ?? {};
  const from = `from ${userstr ? `the user "${userstr}" of` : 'no user in'} the request CRI holds and the signed image config`;
  if ((have.uid ?? 0) !== want.uid || (have.gid ?? 0) !== want.gid) out.push(`process.user ${have.uid ?? 0}:${have.gid ?? 0} in containerd's record, ${want.uid}:${want.gid} ${from}`);
  const allowed = new Set([want.gid, ...process.supplementalGroups]);
  if (!process.supplementalGroupsStrict && want.name !== undefined) for (const g of groups(accounts)) if (g.members.includes(want.name)) allowed.add(g.gid);
  const extra = (have.additionalGids ?? []).filter((g) => !allowed.has(g));
  if (extra.length > 0) out.push(`process.user.additionalGids holds ${extra.join(', ')} in containerd's record, which neither the request CRI holds nor the verified image's /etc/group gives ${want.name ?? `uid ${want.uid}`}`);
  return out;
}

/** Whether the request allows a capability, as containerd's CRI applies `add`, `drop` (`ALL` first) and `privileged`. */
export function capabilityAllowed(process: Pick<RequestedProcess, 'privileged' | 'capabilities'>): (cap: string) => boolean {
  if (process.privileged) return () => true;
  const upper = (list: string[]) => list.map((c) => c.toUpperCase());
  const add = upper(process.capabilities.add);
  const drop = upper(process.capabilities.drop);
  const dropped = new Set(drop.filter((c) => c !== 'ALL').map((c) => `CAP_${c}`));
  const added = new Set(add.filter((c) => c !== 'ALL').map((c) => `CAP_${c}`));
  const base = drop.includes('ALL') ? 'none' : add.includes('ALL') ? 'all' : 'default';
  return (cap) => !dropped.has(cap) && (added.has(cap) || base === 'all' || (base === 'default' && DEFAULT_CAPABILITIES.includes(cap)));
}

/**
 * What the node says of a workload container's pod sandbox when the
 * container is judged. Each may throw (its file unreadable): the record is
 * then not judged to follow.
 */
export interface SandboxEvidence {
  /** The host name containerd's CRI gave the pod: its sandbox's `hostname` file. */
  hostname(): string;
  /** Whether process `pid` is in the sandbox's cgroup, by the kernel's word (/proc/<pid>/cgroup). */
  isSandboxProcess(pid: number): boolean;
}

/** SandboxEvidence read from the node's files through `readFile`. */
export function sandboxEvidence(sandboxId: string, readFile: (path: string) => string): SandboxEvidence {
  // The sandbox's cgroup is named by its id: `/k8s.io/<id>` with cgroupfs, `cri-containerd-<id>.scope` with systemd.
  const named = (component: string) => component === sandboxId || component === `cri-containerd-${sandboxId}.scope`;
  return {
    hostname: () => readFile(join(CRI_ROOT, 'sandboxes', sandboxId, 'hostname')).trim(),
    isSandboxProcess: (pid) =>
      readFile(`/proc/${pid}/cgroup`)
        .split('\n')
        .some((line) => line.split(':').slice(2).join(':').split('/').some(named)),
  };
}

/** The file under /proc/<pid>/ns/ of each namespace type a container may join. */
const NS_FILE: Readonly<Record<string, string>> = { network: 'net', ipc: 'ipc', uts: 'uts', pid: 'pid', user: 'user' };

/**
 * The namespaces a workload container joins: the sandbox's where CRI puts
 * it in the pod's (network, IPC, UTS; pid unless the request asks for its
 * own; user when the request puts the pod in one), all by the path of one
 * process that the kernel places in the sandbox's cgroup; a new mount
 * namespace; nothing else.
 */
function namespaceDepartures(recorded: RecordedProcessAndMounts, process: RequestedProcess, sandbox: SandboxEvidence): string[] {
  const out: string[] = [];
  const want = new Map<string, 'sandbox' | 'new' | 'target'>([
    ['network', 'sandbox'],
    ['ipc', 'sandbox'],
    ['uts', 'sandbox'],
    ['mount', 'new'],
  ]);
  want.set('pid', process.namespaces.pid === NAMESPACE_MODE.CONTAINER ? 'new' : process.namespaces.pid === NAMESPACE_MODE.TARGET ? 'target' : 'sandbox');
  if (process.namespaces.userns === NAMESPACE_MODE.POD) want.set('user', 'sandbox');
  const seen = new Set<string>();
  const joined = new Map<number, string[]>();
  for (const ns of recorded.linux?.namespaces ?? []) {
    const path = ns.path || undefined;
    if (seen.has(ns.type)) out.push(`namespace ${ns.type} listed twice in containerd's record`);
    seen.add(ns.type);
    // A new cgroup namespace (containerd's on a cgroup v2 node) hides the node's cgroups; no path may name one.
    if (ns.type === 'cgroup' && !path) continue;
    const expected = want.get(ns.type);
    if (!expected) {
      out.push(`namespace ${JSON.stringify(ns)} in containerd's record, which the request CRI holds does not give a container`);
      continue;
    }
    const pid = path && new RegExp(`^/proc/(\\d+)/ns/${NS_FILE[ns.type]}$`).exec(path)?.[1];
    if (expected === 'new' ? path === undefined : pid) {
      if (expected === 'sandbox' && pid) joined.set(Number(pid), [...(joined.get(Number(pid)) ?? []), ns.type]);
      continue;
    }
    const wanted = expected === 'new' ? 'a new one' : expected === 'target' ? "the target container's" : "the pod sandbox's";
    out.push(`namespace ${ns.type} ${path === undefined ? 'new' : JSON.stringify(path)} in containerd's record, ${wanted} from the request CRI holds`);
  }
  for (const type of want.keys()) if (!seen.has(type)) out.push(`namespace ${type} missing from containerd's record: the container would share the node's`);
  if (joined.size > 1) out.push(`the namespaces in containerd's record name ${joined.size} processes (${[...joined.entries()].map(([pid, types]) => `${pid}: ${types.join(', ')}`).join('; ')}), the request CRI holds one: the pod sandbox's`);
  for (const [pid, types] of joined) {
    let inSandbox: boolean;
    try {
      inSandbox = sandbox.isSandboxProcess(pid);
    } catch (err) {
      out.push(`cannot tell whether process ${pid}, whose ${types.join(', ')} namespaces containerd's record names, is the pod sandbox's: ${(err as Error).message}`);
      continue;
    }
    if (!inSandbox) out.push(`namespaces ${types.join(', ')} in containerd's record are those of process ${pid}, which is not in the pod sandbox's cgroup`);
  }
  return out;
}

/** Where CRI mounts a pod's network namespace: containerd's default, and under its state directory (`netns_mounts_under_state_dir`). */
const POD_NETNS_DIRS = ['/var/run/netns/', '/run/netns/', `${CRI_STATE}/netns/`];

/**
 * Where a pod sandbox's recorded namespaces depart from what containerd's
 * CRI gives a sandbox. No request is in CRI's memory until the sandbox has
 * started, so this is the shape, not the pod's own choice: every namespace
 * new (pid, IPC, UTS and network may be left out, which is how CRI shares
 * the node's for hostPID, hostIPC and hostNetwork), the mount namespace
 * new, and a network namespace only by the path of one CRI mounted for a
 * pod. A path to any process's namespace (`/proc/1/ns/net`, the node's)
 * would put every container of the pod there, as they join the sandbox's.
 * Not told apart here: a namespace left out where the pod asked for its own
 * (the node's then), and another pod's network namespace under CRI's
 * directory.
 */
export function sandboxNamespaceDepartures(recorded: Pick<RecordedProcessAndMounts, 'linux'>): string[] {
  const out: string[] = [];
  const namespaces = recorded.linux?.namespaces ?? [];
  const seen = new Set<string>();
  for (const { type, path } of namespaces) {
    if (seen.has(type)) out.push(`namespace ${type} twice in containerd's record of the pod sandbox`);
    seen.add(type);
    if (!['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup', 'user'].includes(type)) {
      out.push(`namespace ${type} in containerd's record of the pod sandbox, which CRI never gives a sandbox`);
    } else if (path !== undefined && path !== '' && !(type === 'network' && POD_NETNS_DIRS.some((d) => path.startsWith(d) && !path.slice(d.length).includes('/')))) {
      out.push(`namespace ${type} ${JSON.stringify(path)} in containerd's record of the pod sandbox, where CRI gives a new one${type === 'network' ? ' or the one it mounted for the pod' : ''}`);
    }
  }
  if (!seen.has('mount')) out.push("no mount namespace of its own in containerd's record of the pod sandbox");
  return out;
}

/** Where the record's process and confinement depart from what the request and the signed image config give (see the head of this file). */
export function processDepartures(recorded: RecordedProcessAndMounts, process: RequestedProcess, image: ImageProcess, sandbox: SandboxEvidence | undefined): string[] {
  const out: string[] = [];
  const proc = recorded.process ?? {};
  const differs = (what: string, have: unknown, want: unknown) => {
    if (JSON.stringify(have) !== JSON.stringify(want)) out.push(`${what} ${JSON.stringify(have ?? null)} in containerd's record, ${JSON.stringify(want)} from the request CRI holds and the signed image config`);
  };
  if (!sandbox) {
    out.push("nothing was read of the pod sandbox, so the record's namespaces and HOSTNAME cannot be held to it");
  } else {
    let hostname: string | undefined;
    try {
      hostname = sandbox.hostname();
    } catch (err) {
      out.push(`cannot read the pod sandbox's host name, so the record's environment cannot be held to the request: ${(err as Error).message}`);
    }
    if (hostname !== undefined) differs('process.env', proc.env ?? [], expectedEnv(process, image, hostname));
    out.push(...namespaceDepartures(recorded, process, sandbox));
  }
  differs('process.cwd', proc.cwd, process.workingDir || image.WorkingDir || '/');
  differs('process.noNewPrivileges', proc.noNewPrivileges === true, process.noNewPrivs);
  // containerd's CRI writes a pod's sysctls into its sandbox's spec only; they
  // act in the pod's namespaces, which every container joins. A workload
  // container's own sysctls would change those namespaces behind the pod spec.
  const sysctls = recorded.linux?.sysctl ?? {};
  if (Object.keys(sysctls).length > 0) out.push(`linux.sysctl ${JSON.stringify(sysctls)} in containerd's record, where CRI gives a workload container none (a pod's sysctls are its sandbox's)`);
  // The OOM killer's view of the process: the request's adjustment (the kubelet sets it by QoS class), or
  // higher where containerd's restrict_oom_score_adj raises it to containerd's own (the lab's nodes, which
  // cannot lower it). Lower, down to -1000, would let a protected workload's memory run the node out while
  // the OOM killer takes the node's other processes, the defences among them.
  const adjustment = proc.oomScoreAdj ?? 0;
  if (adjustment < process.oomScoreAdj) out.push(`process.oomScoreAdj ${adjustment} in containerd's record, below the ${process.oomScoreAdj} of the request CRI holds`);
  // containerd's CRI removes the default spec's rlimits from every container (WithoutDefaultSecuritySettings;
  // a base_runtime_spec could bring some back, the lab's containerd has none).
  if ((proc.rlimits ?? []).length > 0) out.push(`process.rlimits ${JSON.stringify(proc.rlimits)} in containerd's record, where CRI gives a container none`);
  const allowed = capabilityAllowed(process);
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
    // containerd's CRI clears the ambient set of every container.
    const extra = (proc.capabilities?.[set] ?? []).filter((c) => set === 'ambient' || !allowed(c));
    if (extra.length > 0) out.push(`process.capabilities.${set} holds ${extra.join(', ')} in containerd's record, which the request CRI holds does not give`);
  }
  if (!process.privileged) {
    const linux = recorded.linux ?? {};
    if (process.seccomp !== 'unconfined') {
      const action = linux.seccomp?.defaultAction;
      if (!action || action === 'SCMP_ACT_ALLOW' || action === 'SCMP_ACT_LOG') out.push(`linux.seccomp ${linux.seccomp ? `with defaultAction ${action ?? 'none'}` : 'missing'} in containerd's record, a ${process.seccomp} profile from the request CRI holds`);
    }
    const missing = (have: string[] | undefined, want: string[]) => want.filter((p) => !(have ?? []).includes(p));
    const unmasked = missing(linux.maskedPaths, process.maskedPaths);
    if (unmasked.length > 0) out.push(`linux.maskedPaths in containerd's record lacks ${unmasked.join(', ')}, which the request CRI holds masks`);
    const writable = missing(linux.readonlyPaths, process.readonlyPaths);
    if (writable.length > 0) out.push(`linux.readonlyPaths in containerd's record lacks ${writable.join(', ')}, which the request CRI holds makes read-only`);
    const requested = new Set(process.devices.map((d) => d.containerPath));
    const devices = linux.devices ?? [];
    for (const d of devices) if (!requested.has(d.path)) out.push(`device ${d.path} in containerd's record, which the request CRI holds does not ask for`);
    for (const rule of linux.resources?.devices ?? []) {
      if (!rule.allow) continue;
      const granted = devices.some((d) => rule.type === d.type && rule.major === d.major && rule.minor === d.minor);
      if (!granted) out.push(`device cgroup rule ${JSON.stringify(rule)} in containerd's record allows a device the request CRI holds does not ask for`);
    }
  }
  return out;
}

/** What containerd's CRI finds on the node that decides part of a spec. */
export interface NodeFacts {
  /**
   * Whether the memory cgroup accounts swap (containerd's `SwapControllerAvailable`: cgroup v1's
   * `memory.memsw.limit_in_bytes`, v2's `memory.swap.max`); undefined: not known, and a memory
   * limit's swap limit may then be absent or the one CRI would set.
   */
  swapController?: boolean;
}

/** Drops empty objects and arrays, so that `{}` written by CRI and a key left out read the same. */
function withoutEmpty(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

/** JSON with object keys sorted, to compare two objects whatever order their keys came in. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

/**
 * Where the record's cgroup resources (but devices, held in processDepartures) depart from what
 * containerd's CRI builds from the request (internal/cri/opts `WithResources`): CPU period, quota,
 * shares and cpuset, the memory limit and its swap limit (the limit itself when the request sets
 * none and the node accounts swap), the request's `unified` entries, and huge page limits the
 * request asks for (CRI leaves them out where the node has no hugetlb controller). CRI sets no
 * pids, block I/O, network or RDMA limits. A record with a limit lifted or widened would let a
 * protected workload take the node's memory or CPU (the OOM killer then takes the node's other
 * processes, the defences among them).
 */
export function resourceDepartures(recorded: RecordedProcessAndMounts, process: RequestedProcess, node: NodeFacts): string[] {
  const { devices: _devices, ...rest } = recorded.linux?.resources ?? {};
  const have = withoutEmpty(rest);
  const asked = process.resources;
  const cpu = withoutEmpty({ period: asked?.cpuPeriod, quota: asked?.cpuQuota, shares: asked?.cpuShares, cpus: asked?.cpusetCpus, mems: asked?.cpusetMems });
  const limit = asked?.memoryLimitInBytes;
  const swapLimit = asked?.memorySwapLimitInBytes;
  const swap = swapLimit ?? limit;
  const memory = withoutEmpty({ limit, swap: node.swapController === false ? undefined : swap });
  const out: string[] = [];
  const differs = (key: string, want: Record<string, unknown>, alternatives: Record<string, unknown>[] = []) => {
    const got = withoutEmpty((have[key] ?? {}) as Record<string, unknown>);
    if ([want, ...alternatives].some((w) => canonical(withoutEmpty(w)) === canonical(got))) return;
    out.push(`linux.resources.${key} ${canonical(got)} in containerd's record, ${canonical(want)} from the request CRI holds`);
  };
  differs('cpu', cpu);
  // Not knowing whether the node accounts swap, the limit without its swap limit is CRI's answer too.
  differs('memory', memory, node.swapController === undefined ? [{ limit }] : []);
  differs('unified', asked?.unified ?? {});
  const pages = (asked?.hugepageLimits ?? []).map((h) => canonical({ pageSize: h.pageSize, limit: h.limit }));
  for (const h of (have.hugepageLimits ?? []) as { pageSize?: string; limit?: number }[]) {
    if (!pages.includes(canonical({ pageSize: h.pageSize, limit: h.limit }))) out.push(`linux.resources.hugepageLimits entry ${canonical(h)} in containerd's record, which the request CRI holds does not ask for`);
  }
  for (const key of Object.keys(have)) {
    if (!['cpu', 'memory', 'unified', 'hugepageLimits'].includes(key)) out.push(`linux.resources.${key} ${canonical(have[key])} in containerd's record, where CRI sets none`);
  }
  return out;
}

/** The recorded mounts that nothing explains: not the runtime's own, not requested, not this pod's or this container's CRI files. */
export function unexplainedMounts<M extends { destination: string; type?: string; source?: string; options?: string[] }>(
  recorded: { mounts?: M[]; linux?: RecordedProcessAndMounts['linux'] },
  request: CriRequest,
  ids: { containerId: string; sandboxId: string },
  realpath: (path: string) => string = (p) => p,
): M[] {
  const resolved = (p: string) => {
    try {
      return realpath(p);
    } catch {
      return p;
    }
  };
  const sandboxDirs = [join(CRI_ROOT, 'sandboxes', ids.sandboxId), join(CRI_STATE, 'sandboxes', ids.sandboxId)];
  const containerDirs = [join(CRI_ROOT, 'containers', ids.containerId), join(CRI_STATE, 'containers', ids.containerId)];
  return (recorded.mounts ?? []).filter((m) => {
    const source = m.source ?? '';
    const asked = request.mounts.filter((r) => r.containerPath === m.destination);
    const explained = isBind(m)
      ? asked.some((r) => (r.image ? under(source, '/var/lib/containerd') || under(source, '/run/containerd') : r.hostPath === source || resolved(r.hostPath) === source)) ||
        (SANDBOX_FILES.has(m.destination) && sandboxDirs.some((d) => under(source, d))) ||
        // A pod on the node's IPC namespace gets the node's /dev/shm instead of its own.
        (m.destination === '/dev/shm' && source === '/dev/shm' && (request.process ? request.process.namespaces.ipc === NAMESPACE_MODE.NODE : sharesNodeIpc(recorded))) ||
        containerDirs.some((d) => under(source, d))
      : (RUNTIME_MOUNTS[m.destination] ?? []).includes(m.type ?? '');
    return !explained;
  });
}
