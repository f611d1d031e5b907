/**
 * Pure parser for Linux audit records in auditd's text format, as written
 * to /var/log/audit/audit.log (log_format=RAW or ENRICHED) and as printed
 * from the netlink socket by auditd/auditctl.
 *
 * Format (linux-audit/audit-documentation wiki, "Understanding Audit Log
 * Files" and "Audit Event Fields"; kernel/audit.c audit_log_n_untrustedstring):
 *
 *     [node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value ...[\x1d KEY=value ...]
 *
 * Records of one event share `SECONDS.MILLIS:SERIAL`; a multi-record event
 * ends with an EOE record. Strings the kernel cannot trust (comm, exe, cwd,
 * PATH name, EXECVE arguments, proctitle, key) are written in double
 * quotes when they hold only printable characters other than '"', and
 * otherwise as unquoted upper-case hex; `(null)` marks a missing one.
 * Long EXECVE arguments come as aN_len=... aN[0]=... aN[1]=... chunks.
 * PROCTITLE is the whole argv, NUL-separated, hex-encoded when it has NULs.
 *
 * Audit records are written by the kernel on behalf of any process, so
 * their string contents are attacker-influenced: they are decoded, never
 * interpreted.
 */
import { LabError, type AuditErrorCode } from './errors.ts';
import { applyContext, type Enricher } from './context.ts';
import type { AuditEvent, FieldValue } from './fields.ts';
import { ERRNO_NAMES, renderOpenFlags, syscallName } from './syscalls.ts';

export interface AuditRecord {
  type: string;
  /** `SECONDS.MILLIS` as written, e.g. 1700000000.123. */
  time: string;
  serial: number;
  node?: string;
  /** Decoded values: hex-encoded strings are decoded, quotes removed. */
  fields: ReadonlyMap<string, string>;
  /** ENRICHED format's interpreted fields after \x1d, e.g. UID → root. */
  interpreted: ReadonlyMap<string, string>;
  /** 1-based line number in the input. */
  line: number;
}

export interface AuditRecordGroup {
  time: string;
  serial: number;
  records: AuditRecord[];
}

/** Thrown for a line that looks like an audit record but does not follow the format. */
export class AuditRecordError extends LabError<AuditErrorCode> {
  constructor(what: string, line: number, text: string) {
    const shown = text.length > 80 ? `${text.slice(0, 80)}...` : text;
    super('AUDIT_RECORD', `audit record at line ${line}: ${what}; got: ${shown}`);
  }
}

const HEADER = /^(?:node=(\S+) )?type=(\S+) msg=audit\((\d+)\.(\d+):(\d+)\):\s?(.*)$/s;

/** Fields whose values the kernel writes as "untrusted strings" (quoted or hex). */
const STRING_FIELDS = new Set([
  'comm',
  'exe',
  'cwd',
  'name',
  'proctitle',
  'key',
  'path',
  'cmd',
  'acct',
  'data',
  'ocomm',
  'new',
  'old',
  'watch',
  'root_dir',
]);
const EXECVE_ARG = /^a\d+(?:\[\d+\])?$/;

/** Parses one line. Blank lines give undefined; malformed records throw AuditRecordError. */
export function parseAuditLine(text: string, line = 1): AuditRecord | undefined {
  const trimmed = text.replace(/\r?\n$/, '');
  if (trimmed.trim() === '') return undefined;
  const m = HEADER.exec(trimmed);
  if (!m) throw new AuditRecordError("expected '[node=N ]type=T msg=audit(S.MS:SERIAL): ...'", line, trimmed);
  const [, node, type, secs, millis, serial, rest] = m;
  const sep = rest!.indexOf('\x1d');
  const raw = sep >= 0 ? rest!.slice(0, sep) : rest!;
  const enrichedText = sep >= 0 ? rest!.slice(sep + 1) : '';
  const fields = new Map<string, string>();
  const recordType = type!;
  const put = (key: string, value: string, quoted: boolean): void => {
    if (key === 'msg' && value.includes('=')) {
      // User-space records nest their fields in msg='...'.
      tokenize(value, line, trimmed, (k, v, q) => fields.set(k, decodeValue(recordType, k, v, q)));
      return;
    }
    fields.set(key, decodeValue(recordType, key, value, quoted));
  };
  tokenize(raw, line, trimmed, put);
  const interpreted = new Map<string, string>();
  if (enrichedText) tokenize(enrichedText, line, trimmed, (key, value) => interpreted.set(key, value));
  const record: AuditRecord = {
    type: type!,
    time: `${secs}.${millis}`,
    serial: Number(serial),
    fields,
    interpreted,
    line,
  };
  if (node !== undefined) record.node = node;
  return record;
}

/** key=value tokens: value is "..." or '...' (quoted=true) or up to the next space. */
function tokenize(text: string, line: number, whole: string, emit: (key: string, value: string, quoted: boolean) => void): void {
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    const space = text.indexOf(' ', i);
    if (eq < 0 || (space >= 0 && space < eq)) {
      // A bare word (some user-space messages have them): skip it.
      i = space < 0 ? text.length : space;
      continue;
    }
    const key = text.slice(i, eq);
    const j = eq + 1;
    const q = text[j];
    if (q === '"' || q === "'") {
      const close = text.indexOf(q, j + 1);
      if (close < 0) throw new AuditRecordError(`unterminated ${q} in field '${key}'`, line, whole);
      emit(key, text.slice(j + 1, close), true);
      i = close + 1;
    } else {
      const end = text.indexOf(' ', j);
      const stop = end < 0 ? text.length : end;
      emit(key, text.slice(j, stop), false);
      i = stop;
    }
  }
}

function decodeValue(type: string, key: string, value: string, quoted: boolean): string {
  if (quoted) return value;
  const isString = STRING_FIELDS.has(key) || (type === 'EXECVE' && EXECVE_ARG.test(key));
  if (!isString || value === '(null)') return value;
  return /^(?:[0-9A-Fa-f]{2})+$/.test(value) ? Buffer.from(value, 'hex').toString('utf8') : value;
}

/** Parses a whole log and groups records by event (time and serial), in order of first record. */
export function parseAuditLog(text: string): AuditRecordGroup[] {
  const assembler = new AuditAssembler({ maxPending: Number.POSITIVE_INFINITY });
  const out: AuditRecordGroup[] = [];
  text.split('\n').forEach((lineText, i) => {
    const record = parseAuditLine(lineText, i + 1);
    if (record) out.push(...assembler.push(record));
  });
  out.push(...assembler.flush());
  return out.sort((a, b) => a.records[0]!.line - b.records[0]!.line);
}

/**
 * Streaming grouping: records of an event are collected until its EOE
 * record, or until more than `maxPending` events are open, when the oldest
 * is released (single-record events have no EOE).
 */
export class AuditAssembler {
  private readonly pending = new Map<string, AuditRecordGroup>();
  private readonly maxPending: number;

  constructor(options: { maxPending?: number } = {}) {
    this.maxPending = options.maxPending ?? 64;
  }

  push(record: AuditRecord): AuditRecordGroup[] {
    const key = `${record.time}:${record.serial}`;
    let group = this.pending.get(key);
    if (!group) {
      group = { time: record.time, serial: record.serial, records: [] };
      this.pending.set(key, group);
    }
    const done: AuditRecordGroup[] = [];
    if (record.type === 'EOE') {
      this.pending.delete(key);
      if (group.records.length > 0) done.push(group);
      return done;
    }
    group.records.push(record);
    while (this.pending.size > this.maxPending) {
      const [oldest, g] = this.pending.entries().next().value as [string, AuditRecordGroup];
      this.pending.delete(oldest);
      done.push(g);
    }
    return done;
  }

  /** Releases every open group, oldest first. */
  flush(): AuditRecordGroup[] {
    const out = [...this.pending.values()].filter((g) => g.records.length > 0);
    this.pending.clear();
    return out;
  }
}

/** `1700000000.123` → `2023-11-14T22:13:20.123000000Z`. */
export function auditTimeToRfc3339(time: string): string {
  const dot = time.indexOf('.');
  const secs = dot < 0 ? time : time.slice(0, dot);
  const frac = dot < 0 ? '' : time.slice(dot + 1);
  if (secs !== lastSecs) {
    const date = new Date(Number(secs) * 1000);
    if (!/^\d+$/.test(secs) || Number.isNaN(date.getTime())) {
      throw new LabError('AUDIT_RECORD', `audit time should be SECONDS.MILLIS, got '${time}'`);
    }
    lastSecs = secs;
    lastPrefix = date.toISOString().slice(0, 19);
  }
  return `${lastPrefix}.${frac.padEnd(9, '0').slice(0, 9)}Z`;
}

// Consecutive events mostly share their second: remember the last conversion.
let lastSecs = '';
let lastPrefix = '';

/**
 * Linux's new_encode_dev(major, minor) for the controlling tty, which is
 * what Falco's proc.tty holds: pts/0 is 136:0 → 34816. `(none)` is 0.
 */
export function ttyToDevice(tty: string | undefined): number | undefined {
  if (tty === undefined) return undefined;
  if (tty === '(none)' || tty === '') return 0;
  let major: number;
  let minor: number;
  let m: RegExpExecArray | null;
  if ((m = /^pts\/?(\d+)$/.exec(tty))) [major, minor] = [136, Number(m[1])]; // devpts: MKDEV(UNIX98_PTY_SLAVE_MAJOR, index)
  else if ((m = /^tty(\d+)$/.exec(tty))) [major, minor] = [4, Number(m[1])];
  else if ((m = /^ttyS(\d+)$/.exec(tty))) [major, minor] = [4, 64 + Number(m[1])];
  else if (tty === 'console') [major, minor] = [5, 1];
  else return undefined;
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

const OPEN_SYSCALLS = new Set(['open', 'openat', 'openat2', 'creat']);
const EXEC_SYSCALLS = new Set(['execve', 'execveat']);
const AT_FDCWD = 'ffffff9c';
const UNSET_ID = 4294967295;

/**
 * Turns one event's records into an engine event with Falco field names.
 * Needs a SYSCALL record; other groups (logins, config changes) give
 * undefined. The enricher, when given, adds container and ancestry fields.
 */
export function auditGroupToEvent(group: AuditRecordGroup, enricher?: Enricher): AuditEvent | undefined {
  let syscall: AuditRecord | undefined;
  let cwdRecord: AuditRecord | undefined;
  let proctitle: AuditRecord | undefined;
  const paths: AuditRecord[] = [];
  const execves: AuditRecord[] = [];
  for (const r of group.records) {
    switch (r.type) {
      case 'SYSCALL': syscall = r; break;
      case 'CWD': cwdRecord = r; break;
      case 'PROCTITLE': proctitle = r; break;
      case 'PATH': paths.push(r); break;
      case 'EXECVE': execves.push(r); break;
    }
  }
  if (!syscall) return undefined;
  const f = syscall.fields;
  const event: Record<string, FieldValue> = {
    source: 'syscall',
    'evt.time': auditTimeToRfc3339(group.time),
    'evt.dir': '<',
  };
  const arch = f.get('arch');
  const nr = Number(f.get('syscall'));
  const type = syscallName(arch, nr);
  if (type !== undefined) event['evt.type'] = type;
  event['evt.rawarg.syscall'] = nr;

  const exit = num(f.get('exit'));
  if (exit !== undefined) {
    event['evt.rawres'] = exit;
    event['evt.res'] = exit >= 0 ? 'SUCCESS' : (ERRNO_NAMES[-exit] ?? `E${-exit}`);
  }
  setNum(event, 'proc.pid', f.get('pid'));
  setNum(event, 'proc.ppid', f.get('ppid'));
  setNum(event, 'user.uid', f.get('uid'));
  setNum(event, 'group.gid', f.get('gid'));
  const auid = num(f.get('auid'));
  if (auid !== undefined) event['user.loginuid'] = auid === UNSET_ID ? -1 : auid;
  const comm = f.get('comm');
  if (comm !== undefined && comm !== '(null)') event['proc.name'] = comm;
  const exe = f.get('exe');
  if (exe !== undefined && exe !== '(null)') {
    event['proc.exepath'] = exe;
    // A memfd's path is "/memfd:<name> (deleted)" (mm/memfd.c names it
    // "memfd:<name>", d_path adds the root and the unlinked mark).
    event['proc.is_exe_from_memfd'] = exe.startsWith('/memfd:');
  }
  const tty = ttyToDevice(f.get('tty'));
  if (tty !== undefined) event['proc.tty'] = tty;
  const userName = syscall.interpreted.get('UID');
  if (userName !== undefined) event['user.name'] = userName;
  const loginName = syscall.interpreted.get('AUID');
  if (loginName !== undefined && loginName !== 'unset') event['user.loginname'] = loginName;

  const cwd = cwdRecord?.fields.get('cwd');
  if (cwd !== undefined) event['proc.cwd'] = cwd;

  // argv: EXECVE for exec, else the process title.
  const argv = EXEC_SYSCALLS.has(type ?? '') ? execveArgs(execves) ?? proctitleArgs(proctitle) : proctitleArgs(proctitle);
  if (argv && argv.length > 0) {
    const name = typeof event['proc.name'] === 'string' ? event['proc.name'] : basename(argv[0]!);
    event['proc.exe'] = argv[0]!;
    event['proc.args'] = argv.slice(1).join(' ');
    event['proc.cmdline'] = [name, ...argv.slice(1)].join(' ');
  }

  if (paths.length > 1) paths.sort((a, b) => Number(a.fields.get('item') ?? 0) - Number(b.fields.get('item') ?? 0));
  if (type !== undefined && OPEN_SYSCALLS.has(type)) {
    const target = paths.find((p) => ['NORMAL', 'CREATE'].includes(p.fields.get('nametype') ?? '')) ?? paths[0];
    const name = target?.fields.get('name');
    if (name !== undefined && name !== '(null)') {
      const relativeOk = type === 'open' || type === 'creat' || f.get('a0') === AT_FDCWD;
      const full = name.startsWith('/') || !relativeOk || cwd === undefined ? name : joinPath(cwd, name);
      event['fd.name'] = full;
      event['evt.arg.name'] = name;
      event['fd.directory'] = dirname(full);
      event['fd.filename'] = basename(full);
    }
    const mode = target?.fields.get('mode');
    const isDir = mode !== undefined && (parseInt(mode, 8) & 0o170000) === 0o040000;
    event['fd.typechar'] = isDir ? 'd' : 'f';
    event['fd.type'] = isDir ? 'directory' : 'file';
    event['fd.num'] = exit !== undefined && exit >= 0 ? exit : -1;
    const flags = type === 'open' ? hex(f.get('a1')) : type === 'openat' ? hex(f.get('a2')) : type === 'creat' ? 0o1101 : undefined;
    if (flags !== undefined) {
      const acc = flags & 3;
      event['evt.is_open_read'] = acc === 0 || acc === 2;
      event['evt.is_open_write'] = acc === 1 || acc === 2;
      event['evt.arg.flags'] = renderOpenFlags(flags);
      event['evt.rawarg.flags'] = flags;
    }
  } else if (paths.length > 0) {
    const names = paths.map((p) => p.fields.get('name')).filter((n): n is string => n !== undefined && n !== '(null)');
    if (names[0] !== undefined) event['evt.arg.path'] = names[0];
    if (type === 'mount_setattr' && names[0] !== undefined) event['evt.arg.dir'] = names[0];
    if (type === 'mount') {
      // do_mount looks up the target first, then (for bind mounts) the source.
      if (names[0] !== undefined) event['evt.arg.dir'] = names[0];
      if (names[1] !== undefined) event['evt.arg.dev'] = names[1];
    }
  }
  if (type === 'mount') {
    const flags = hex(f.get('a3'));
    if (flags !== undefined) event['evt.rawarg.flags'] = flags;
  }
  if (type === 'setns') {
    const nstype = hex(f.get('a1'));
    if (nstype !== undefined) event['evt.rawarg.nstype'] = nstype;
  }
  const key = f.get('key');
  if (key !== undefined && key !== '(null)') event['evt.arg.key'] = key;

  if (enricher && typeof event['proc.pid'] === 'number') {
    const ctx = enricher.lookup(event['proc.pid'], typeof event['proc.ppid'] === 'number' ? event['proc.ppid'] : undefined, typeof event['evt.arg.key'] === 'string' ? event['evt.arg.key'] : undefined);
    if (ctx) applyContext(event, ctx);
  }
  return event as AuditEvent;
}

/** Parses a log and converts every syscall event. */
export function auditLogToEvents(text: string, enricher?: Enricher): AuditEvent[] {
  // Convert each event as soon as it is complete so its records can be dropped.
  const assembler = new AuditAssembler({ maxPending: Number.POSITIVE_INFINITY });
  const out: { line: number; event: AuditEvent }[] = [];
  const convert = (groups: AuditRecordGroup[]): void => {
    for (const group of groups) {
      const event = auditGroupToEvent(group, enricher);
      if (event) out.push({ line: group.records[0]!.line, event });
    }
  };
  let start = 0;
  let line = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const stop = end < 0 ? text.length : end;
    line++;
    const record = parseAuditLine(text.slice(start, stop), line);
    if (record) convert(assembler.push(record));
    start = stop + 1;
  }
  convert(assembler.flush());
  return out.sort((a, b) => a.line - b.line).map((x) => x.event);
}

/** EXECVE argv: argc, then aN or aN_len with aN[k] chunks, over one or more EXECVE records. */
function execveArgs(records: readonly AuditRecord[]): string[] | undefined {
  if (records.length === 0) return undefined;
  const all = records.length === 1 ? records[0]!.fields : new Map<string, string>();
  if (records.length > 1) for (const r of records) for (const [k, v] of r.fields) (all as Map<string, string>).set(k, v);
  const argc = Number(all.get('argc'));
  if (!Number.isInteger(argc) || argc < 0) return undefined;
  const args: string[] = [];
  for (let i = 0; i < argc; i++) {
    const whole = all.get(`a${i}`);
    if (whole !== undefined) {
      args.push(whole);
      continue;
    }
    let chunks = '';
    for (let k = 0; all.has(`a${i}[${k}]`); k++) chunks += all.get(`a${i}[${k}]`);
    args.push(chunks);
  }
  return args;
}

function proctitleArgs(record: AuditRecord | undefined): string[] | undefined {
  const title = record?.fields.get('proctitle');
  if (title === undefined || title === '(null)') return undefined;
  return title.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

function hex(v: string | undefined): number | undefined {
  if (v === undefined || !/^[0-9a-fA-F]+$/.test(v)) return undefined;
  return parseInt(v, 16);
}

function setNum(event: Record<string, FieldValue>, field: string, v: string | undefined): void {
  const n = num(v);
  if (n !== undefined) event[field] = n;
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : p.slice(0, i);
}

/** Joins and normalises `.` and `..`, as Falco does for fd.name. */
function joinPath(dir: string, rel: string): string {
  const parts: string[] = [];
  for (const part of `${dir}/${rel}`.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}
