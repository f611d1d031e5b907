/**
 * Linux capability names of this host's bounding set, for the fallback when
 * the engine refuses privileged mode (this host lacks CAP_SYS_RESOURCE).
 * Bit numbers from include/uapi/linux/capability.h.
 */
import { readFileSync } from 'node:fs';

export const CAPABILITY_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
] as const;

/** Decodes a `CapBnd:` hex mask into capability names. */
export function decodeCapabilityMask(hex: string): { present: string[]; missing: string[] } {
  const mask = BigInt(`0x${hex.trim()}`);
  const present: string[] = [];
  const missing: string[] = [];
  CAPABILITY_NAMES.forEach((name, bit) => ((mask >> BigInt(bit)) & 1n ? present : missing).push(name));
  return { present, missing };
}

/** The capabilities in this process's bounding set. */
export function hostCapabilities(statusText = readFileSync('/proc/self/status', 'utf8')): { present: string[]; missing: string[] } {
  const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(statusText);
  return line?.[1] ? decodeCapabilityMask(line[1]) : { present: [...CAPABILITY_NAMES], missing: [] };
}
