/**
 * x86_64 syscall numbers and errno names, for decoding auditd SYSCALL
 * records (arch=c000003e), and the i386 numbers of the few calls the lab
 * records in their 32-bit form (arch=40000003). Numbers are from the kernel's
 * arch/x86/entry/syscalls/syscall_64.tbl (as installed in
 * asm/unistd_64.h; the tests cross-check against that header when present).
 * Only syscalls that the lab's audit rules or Falco's rules care about are
 * listed; others decode to undefined.
 */

/** AUDIT_ARCH_X86_64: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 'c000003e';

export const X86_64_SYSCALLS: Readonly<Record<number, string>> = {
  0: 'read',
  1: 'write',
  2: 'open',
  3: 'close',
  4: 'stat',
  9: 'mmap',
  10: 'mprotect',
  16: 'ioctl',
  21: 'access',
  32: 'dup',
  33: 'dup2',
  41: 'socket',
  42: 'connect',
  43: 'accept',
  44: 'sendto',
  46: 'sendmsg',
  49: 'bind',
  50: 'listen',
  56: 'clone',
  57: 'fork',
  58: 'vfork',
  59: 'execve',
  62: 'kill',
  76: 'truncate',
  77: 'ftruncate',
  82: 'rename',
  83: 'mkdir',
  84: 'rmdir',
  85: 'creat',
  86: 'link',
  87: 'unlink',
  88: 'symlink',
  90: 'chmod',
  91: 'fchmod',
  92: 'chown',
  93: 'fchown',
  94: 'lchown',
  101: 'ptrace',
  105: 'setuid',
  106: 'setgid',
  113: 'setreuid',
  114: 'setregid',
  117: 'setresuid',
  119: 'setresgid',
  126: 'capset',
  155: 'pivot_root',
  157: 'prctl',
  161: 'chroot',
  165: 'mount',
  166: 'umount2',
  175: 'init_module',
  176: 'delete_module',
  257: 'openat',
  258: 'mkdirat',
  260: 'fchownat',
  263: 'unlinkat',
  264: 'renameat',
  265: 'linkat',
  266: 'symlinkat',
  268: 'fchmodat',
  272: 'unshare',
  288: 'accept4',
  292: 'dup3',
  308: 'setns',
  313: 'finit_module',
  316: 'renameat2',
  319: 'memfd_create',
  321: 'bpf',
  322: 'execveat',
  425: 'io_uring_setup',
  428: 'open_tree',
  429: 'move_mount',
  430: 'fsopen',
  431: 'fsconfig',
  432: 'fsmount',
  433: 'fspick',
  435: 'clone3',
  437: 'openat2',
  442: 'mount_setattr',
};

/** AUDIT_ARCH_I386: EM_386 | __AUDIT_ARCH_LE. A 64-bit process's `int $0x80` is audited with it too. */
export const AUDIT_ARCH_I386 = '40000003';

/**
 * i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl, asm/unistd_32.h) of
 * the calls the lab's 32-bit rule records (kernel-rules.ts labRules): the
 * same names as their 64-bit forms, so rules match either.
 */
export const I386_SYSCALLS: Readonly<Record<number, string>> = {
  5: 'open',
  8: 'creat',
  11: 'execve',
  21: 'mount',
  295: 'openat',
  346: 'setns',
  356: 'memfd_create',
  358: 'execveat',
  425: 'io_uring_setup',
  429: 'move_mount',
  437: 'openat2',
  442: 'mount_setattr',
};

/** The syscall's name from a SYSCALL record's arch and number; undefined for an arch or number not listed. */
export function syscallName(arch: string | undefined, nr: number): string | undefined {
  if (arch === AUDIT_ARCH_X86_64) return X86_64_SYSCALLS[nr];
  if (arch === AUDIT_ARCH_I386) return I386_SYSCALLS[nr];
  return undefined;
}

/** Linux errno numbers (asm-generic/errno-base.h and errno.h) to names, for evt.res. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  9: 'EBADF',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  18: 'EXDEV',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  24: 'EMFILE',
  28: 'ENOSPC',
  30: 'EROFS',
  36: 'ENAMETOOLONG',
  38: 'ENOSYS',
  40: 'ELOOP',
  95: 'EOPNOTSUPP',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  115: 'EINPROGRESS',
};

/** open(2) flag bits (asm-generic/fcntl.h, x86_64), in the order Falco prints them. */
export const OPEN_FLAGS: readonly [number, string][] = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o400, 'O_NOCTTY'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'],
  [0o10000, 'O_DSYNC'],
  [0o40000, 'O_DIRECT'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o1000000, 'O_NOATIME'],
  [0o2000000, 'O_CLOEXEC'],
  [0o10000000, 'O_PATH'],
  [0o20200000, 'O_TMPFILE'],
];

/** Renders open flags as Falco does, e.g. O_WRONLY|O_CREAT|O_TRUNC. */
export function renderOpenFlags(flags: number): string {
  const mode = flags & 3;
  const names = [mode === 0 ? 'O_RDONLY' : mode === 1 ? 'O_WRONLY' : mode === 2 ? 'O_RDWR' : 'O_ACCMODE'];
  for (const [bit, name] of OPEN_FLAGS) {
    if (name === 'O_TMPFILE') {
      if ((flags & bit) === bit) names.push(name);
    } else if (flags & bit) {
      names.push(name);
    }
  }
  return names.join('|');
}
