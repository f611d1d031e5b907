/*
 * enter-container.h: what every attacker tool that plays "a process of the
 * container" does (memfd-exec.c, compat-exec.c, uring-read.c,
 * transient-exec-mount.c). The caller has joined the container's cgroups
 * already (a shell on the node, lab/attacks/techniques/memfd-exec.ts
 * joinCgroupsThenRun); the tool then enters its namespaces and forks, since
 * a pid namespace applies to children only.
 *
 * compileStatic (lab/node/native.ts) caches a build by the source and the
 * local headers it includes, so a change here rebuilds every tool.
 */
#ifndef ENTER_CONTAINER_H
#define ENTER_CONTAINER_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* setns(2) into ipc, uts, net, pid and mnt of process `pid` (every file opened first), then chdir to its root; 0, or -1 having said why. */
static int enter_container(const char *tool, const char *pid) {
  static const char *const namespaces[] = {"ipc", "uts", "net", "pid", "mnt"};
  enum { COUNT = sizeof namespaces / sizeof namespaces[0] };
  int fds[COUNT];
  for (int i = 0; i < COUNT; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, namespaces[i]);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) {
      fprintf(stderr, "%s: %s: %s\n", tool, path, strerror(errno));
      return -1;
    }
  }
  for (int i = 0; i < COUNT; i++) {
    if (setns(fds[i], 0) != 0) {
      fprintf(stderr, "%s: setns %s: %s\n", tool, namespaces[i], strerror(errno));
      return -1;
    }
    close(fds[i]);
  }
  if (chdir("/") != 0) {
    fprintf(stderr, "%s: chdir /: %s\n", tool, strerror(errno));
    return -1;
  }
  return 0;
}

/* Forks; the child exits with work(arg), the parent waits and returns the child's status as an exit code (128 + signal when killed). */
static int in_child(const char *tool, int (*work)(void *), void *arg) {
  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "%s: fork: %s\n", tool, strerror(errno));
    return 1;
  }
  if (child == 0) _exit(work(arg));
  int status;
  if (waitpid(child, &status, 0) < 0) {
    fprintf(stderr, "%s: waitpid: %s\n", tool, strerror(errno));
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif
