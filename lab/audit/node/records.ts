/**
 * Netlink audit records as audit-tap prints them ("<type number> <payload>")
 * turned into auditd's text lines ("type=NAME msg=<payload>"), so that one
 * parser (auditd.ts) reads both a log file and the live stream.
 *
 * Record type numbers are include/uapi/linux/audit.h's AUDIT_* message
 * types; the name is the macro without AUDIT_, which is how auditd and
 * ausearch print them. A number missing from the table prints as
 * UNKNOWN[n], as auditd does (audit-userspace lib/msg_typetab.h fallback).
 */

/** include/uapi/linux/audit.h, message types 1100–2000 (checked against the header in the tests). */
export const AUDIT_RECORD_TYPES: Readonly<Record<number, string>> = {
  1107: 'USER_AVC',
  1124: 'USER_TTY',
  1200: 'DAEMON_START',
  1201: 'DAEMON_END',
  1202: 'DAEMON_ABORT',
  1203: 'DAEMON_CONFIG',
  1300: 'SYSCALL',
  1302: 'PATH',
  1303: 'IPC',
  1304: 'SOCKETCALL',
  1305: 'CONFIG_CHANGE',
  1306: 'SOCKADDR',
  1307: 'CWD',
  1309: 'EXECVE',
  1311: 'IPC_SET_PERM',
  1312: 'MQ_OPEN',
  1313: 'MQ_SENDRECV',
  1314: 'MQ_NOTIFY',
  1315: 'MQ_GETSETATTR',
  1316: 'KERNEL_OTHER',
  1317: 'FD_PAIR',
  1318: 'OBJ_PID',
  1319: 'TTY',
  1320: 'EOE',
  1321: 'BPRM_FCAPS',
  1322: 'CAPSET',
  1323: 'MMAP',
  1324: 'NETFILTER_PKT',
  1325: 'NETFILTER_CFG',
  1326: 'SECCOMP',
  1327: 'PROCTITLE',
  1328: 'FEATURE_CHANGE',
  1329: 'REPLACE',
  1330: 'KERN_MODULE',
  1331: 'FANOTIFY',
  1332: 'TIME_INJOFFSET',
  1333: 'TIME_ADJNTPVAL',
  1334: 'BPF',
  1335: 'EVENT_LISTENER',
  1336: 'URINGOP',
  1337: 'OPENAT2',
  1338: 'DM_CTRL',
  1339: 'DM_EVENT',
  1400: 'AVC',
  1401: 'SELINUX_ERR',
  1402: 'AVC_PATH',
  1403: 'MAC_POLICY_LOAD',
  1404: 'MAC_STATUS',
  1405: 'MAC_CONFIG_CHANGE',
  1700: 'ANOM_PROMISCUOUS',
  1701: 'ANOM_ABEND',
  1702: 'ANOM_LINK',
  1703: 'ANOM_CREAT',
  1800: 'INTEGRITY_DATA',
  1801: 'INTEGRITY_METADATA',
  1802: 'INTEGRITY_STATUS',
  1803: 'INTEGRITY_HASH',
  1804: 'INTEGRITY_PCR',
  1805: 'INTEGRITY_RULE',
  2000: 'KERNEL',
};

export type TapLine =
  | { kind: 'record'; type: number; line: string }
  /** audit-tap joined the multicast group. */
  | { kind: 'ready' }
  /** The socket overflowed: the kernel dropped records for this reader. */
  | { kind: 'lost' }
  | { kind: 'ignored'; text: string };

/** Decodes one line of audit-tap output. */
export function parseTapLine(text: string): TapLine {
  if (text === '# ready') return { kind: 'ready' };
  if (text === '# lost') return { kind: 'lost' };
  const m = /^(\d{1,5}) (audit\(.*)$/s.exec(text);
  if (!m) return { kind: 'ignored', text };
  const type = Number(m[1]);
  return { kind: 'record', type, line: `type=${recordTypeName(type)} msg=${m[2]}` };
}

export function recordTypeName(type: number): string {
  return AUDIT_RECORD_TYPES[type] ?? `UNKNOWN[${type}]`;
}
