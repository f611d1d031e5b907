/**
 * The event model and the one place that says which Falco fields the lab
 * produces.
 *
 * An event is a flat record of Falco field names to values, plus `source`.
 * A field the lab does not produce is accepted in rules, evaluates as absent
 * (every comparison with it is false, `exists` is false), and is reported
 * once by the engine. Field meanings follow Falco's field reference
 * (falco.org/docs/reference/rules/supported-fields).
 */

export type FieldValue = string | number | boolean | readonly string[] | undefined;

/** Event sources the engine knows, as named by Falco rules' `source:` key. */
export type EventSource = 'syscall' | 'k8s_audit';
export const EVENT_SOURCES: readonly EventSource[] = ['syscall', 'k8s_audit'];

/**
 * One event. `source` defaults to `syscall`. Values must have the type
 * LAB_FIELDS gives (numbers as numbers, lists as string arrays); the engine
 * tolerates numbers and booleans given as strings.
 */
export type AuditEvent = { readonly source?: string } & { readonly [field: string]: FieldValue };

export type FieldType =
  /** A string. */
  | 'string'
  /** A number (integers in practice). */
  | 'number'
  /** true or false; "true"/"false" strings are accepted. */
  | 'boolean'
  /** A list of strings; non-list operators match when any element matches. */
  | 'list'
  /** Syscall arguments: strings, or numbers for raw arguments; compared as given. */
  | 'dynamic';

export interface FieldSpec {
  type: FieldType;
  /**
   * Whether the field takes `[arg]`:
   * - `index`: a number, e.g. `proc.aname[2]`.
   * - `index-or-key`: a number or a key, e.g. `container.mount.source[/etc]`.
   */
  arg?: 'index' | 'index-or-key';
  /** What the value is, and where the lab gets it. */
  desc: string;
}

/**
 * Syscall-source fields the lab's event sources produce. Other Falco fields
 * (falco-fields.ts) are accepted and evaluate as absent; k8s_audit fields
 * are extracted from the audit Event (k8saudit.ts, K8S_AUDIT_FIELDS).
 * `evt.arg.*` and `evt.rawarg.*` are families: any name below them is
 * produced when the event source knows it.
 */
export const LAB_FIELDS: Readonly<Record<string, FieldSpec>> = {
  'evt.type': { type: 'string', desc: 'Syscall or event name: execve, openat, connect, container, ...' },
  'evt.time': { type: 'string', desc: 'Event time, RFC 3339 UTC with up to 9 fraction digits' },
  'evt.dir': { type: 'string', desc: 'Direction: always "<" (exit); Falco deprecated ">" in 0.42' },
  'evt.res': { type: 'string', desc: 'Result: SUCCESS or an errno name such as ENOENT' },
  'evt.rawres': { type: 'number', desc: 'Raw return value: fd, 0, or -errno' },
  'evt.is_open_read': { type: 'boolean', desc: 'open/openat with O_RDONLY or O_RDWR' },
  'evt.is_open_write': { type: 'boolean', desc: 'open/openat with O_WRONLY or O_RDWR' },
  'fd.name': { type: 'string', desc: 'Full path of the file opened (absolute when the cwd is known)' },
  'fd.directory': { type: 'string', desc: 'Directory part of fd.name' },
  'fd.filename': { type: 'string', desc: 'Last component of fd.name' },
  'fd.typechar': { type: 'string', desc: 'One-letter fd type: f for files' },
  'fd.type': { type: 'string', desc: 'fd type word: file, directory, ipv4, ipv6, unix' },
  'fd.num': { type: 'number', desc: 'File descriptor number; -1 when the open failed' },
  'proc.name': { type: 'string', desc: 'Process name (comm), at most 15 characters' },
  'proc.exepath': { type: 'string', desc: 'Full path of the executable (audit exe=)' },
  'proc.is_exe_from_memfd': { type: 'boolean', desc: 'The executable is an anonymous memory file (audit exe= starts with /memfd:)' },
  'proc.exe': { type: 'string', desc: 'argv[0] as given to execve' },
  'proc.cmdline': { type: 'string', desc: 'proc.name followed by the arguments, space-separated (Falco style)' },
  'proc.args': { type: 'string', desc: 'Arguments after argv[0], space-separated' },
  'proc.cwd': { type: 'string', desc: 'Working directory' },
  'proc.pname': { type: 'string', desc: 'Parent process name' },
  'proc.pcmdline': { type: 'string', desc: 'Parent command line' },
  'proc.pexe': { type: 'string', desc: 'Parent argv[0]' },
  'proc.pexepath': { type: 'string', desc: 'Parent executable path' },
  'proc.aname': {
    type: 'list',
    arg: 'index',
    desc: 'Ancestor names: [0] is the process, [1] the parent, ...; without index, any ancestor from [1] up',
  },
  'proc.pid': { type: 'number', desc: 'Process id' },
  'proc.ppid': { type: 'number', desc: 'Parent process id' },
  'proc.tty': { type: 'number', desc: 'Controlling terminal as a device number (pts/0 is 34816); 0 for none' },
  'proc.sid': { type: 'number', desc: 'Session id' },
  'user.name': { type: 'string', desc: 'User name' },
  'user.uid': { type: 'number', desc: 'User id' },
  'user.loginuid': { type: 'number', desc: 'Audit login uid (auid); -1 when unset' },
  'user.loginname': { type: 'string', desc: 'Name of the login user' },
  'group.gid': { type: 'number', desc: 'Group id' },
  'container.id': { type: 'string', desc: 'Container id (12 hex digits) or "host"' },
  'container.name': { type: 'string', desc: 'Container name' },
  'container.image': { type: 'string', desc: 'Image reference as given to the runtime' },
  'container.image.repository': { type: 'string', desc: 'Image repository, without tag or digest' },
  'container.image.tag': { type: 'string', desc: 'Image tag' },
  'container.privileged': { type: 'boolean', desc: 'Whether the container runs privileged' },
  'container.host_network': { type: 'boolean', desc: 'The container shares the node\'s network namespace (container plugin field; from the CRI inventory)' },
  'container.host_pid': { type: 'boolean', desc: 'The container shares the node\'s PID namespace (container plugin field; from the CRI inventory)' },
  'container.host_ipc': { type: 'boolean', desc: 'The container shares the node\'s IPC namespace (container plugin field; from the CRI inventory)' },
  'container.mounts': { type: 'string', desc: 'Mounts as source:dest:mode:rdrw:propagation, comma-separated' },
  'container.mount.source': {
    type: 'list',
    arg: 'index-or-key',
    desc: 'Mount sources; [N] the Nth, [/dest] the source mounted at /dest; without index, any',
  },
  'container.mount.dest': {
    type: 'list',
    arg: 'index-or-key',
    desc: 'Mount destinations; [N] the Nth, [/source] the destination of /source; without index, any',
  },
  'k8s.ns.name': { type: 'string', desc: 'Pod namespace' },
  'k8s.pod.name': { type: 'string', desc: 'Pod name' },
};

/** Field families: names below these prefixes are produced when the source knows the argument. */
const FIELD_FAMILIES: readonly { prefix: string; spec: FieldSpec }[] = [
  { prefix: 'evt.arg.', spec: { type: 'dynamic', desc: 'Syscall argument by name, as rendered by the source' } },
  { prefix: 'evt.rawarg.', spec: { type: 'dynamic', desc: 'Raw syscall argument by name' } },
];

/** The spec of a field the lab produces, or undefined when it does not. */
export function labField(name: string): FieldSpec | undefined {
  const spec = LAB_FIELDS[name];
  if (spec) return spec;
  for (const family of FIELD_FAMILIES) {
    if (name.startsWith(family.prefix) && name.length > family.prefix.length) return family.spec;
  }
  return undefined;
}

/** Fields computed by the output formatter (not by event sources). */
export const OUTPUT_ONLY_FIELDS: ReadonlySet<string> = new Set([
  'evt.time.iso8601',
  'evt.datetime',
  'evt.hostname',
  'evt.source',
  'rule',
  'priority',
]);
