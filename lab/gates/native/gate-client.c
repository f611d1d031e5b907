/*
 * integrity-gate-client: the node gates' only programs on containerd's
 * paths. One static executable, installed under three names; what it does
 * depends on the name it runs under:
 *
 *   integrity-runc         the start gate's runtime wrapper: containerd's
 *                          runc shim runs it as its OCI runtime (see
 *                          runtime_wrapper below);
 *   integrity-pull-gate    the pull gate in containerd's bindir image
 *                          verifier directory: `gate-client pull ARGS`;
 *   anything else          `gate-client pull|create|start ARGS...`.
 *
 * Static and interpreter-free on purpose: a gate written as a shell script
 * runs whatever /bin/sh is, and root who replaces the node's shell (every
 * gate file untouched and matching its pin) would decide for it
 * (`pull-gate-shell-replaced`, `start-gate-shell-replaced`).
 *
 * It forwards its arguments (and, for `pull`, its stdin) to the resident
 * gate daemon on /run/integrity-lab/gate.sock and exits with the daemon's
 * verdict. If the daemon cannot be reached, it refuses: the gates never fail
 * open.
 *
 * Wire format (see lab/gates/daemon.ts): each argument followed by a NUL,
 * then an extra NUL, then stdin bytes; the client half-closes. The daemon
 * answers one byte (the exit code) followed by the reason text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The paths on a lab node; a unit test (lab/gates/gate-client.test.ts) builds it with its own. */
#ifndef SOCKET_PATH
#define SOCKET_PATH "/run/integrity-lab/gate.sock"
#endif
#ifndef RUNC
#define RUNC "/usr/bin/runc"
#endif
/* Releases what the gate mounted for a deleted container (`layer-bind release ID`, lab/gates/native/layer-bind.c). */
#ifndef LAYER_BIND
#define LAYER_BIND "/opt/integrity-lab/layer-bind"
#endif
/* What containerd writes into a CRI container's or sandbox's OCI spec; only those are gated. */
#define CRI_CONTAINER "\"io.kubernetes.cri.container-type\":\"container\""
#define CRI_SANDBOX "\"io.kubernetes.cri.container-type\":\"sandbox\""

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The daemon's answer and a refusal go to `out`: stdout for the pull gate (containerd reads the reason there), stderr for the runtime wrapper. */
static int refuse(FILE *out, const char *what) {
  fprintf(out, "integrity gate refused: the gate daemon is unreachable (%s: %s)\n", what, strerror(errno));
  if (out != stderr) fprintf(stderr, "integrity gate refused: the gate daemon is unreachable (%s: %s)\n", what, strerror(errno));
  fflush(out);
  return 1;
}

/*
 * Variables through which the environment makes the dynamic loader (or
 * libc) load code or data of the caller's choice: every name starting with
 * LD_, and the others glibc ignores for setuid programs. runc is a dynamic
 * program; the runtime wrapper inherits containerd's environment through
 * the shim, so root who restarts containerd with LD_PRELOAD set would have
 * its library run inside every runc (`start-gate-runc-env-preload`).
 */
static const char *const LOADER_VARIABLES[] = {
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE",
    "NIS_PATH",   "NLSPATH",     "RESOLV_HOST_CONF", "RES_OPTIONS", "TZDIR", NULL};

static int is_loader_variable(const char *entry) {
  if (strncmp(entry, "LD_", 3) == 0) return 1;
  size_t name = strcspn(entry, "=");
  for (const char *const *v = LOADER_VARIABLES; *v; v++) {
    if (strlen(*v) == name && strncmp(entry, *v, name) == 0) return 1;
  }
  return 0;
}

/*
 * Removes the loader variables from this process's environment, so that
 * runc never sees them, and returns them as NUL-terminated entries (empty
 * when there were none), for the gate daemon to judge.
 */
static char *take_loader_variables(size_t *len) {
  extern char **environ;
  size_t cap = 1, used = 0;
  for (char **e = environ; *e; e++) {
    if (is_loader_variable(*e)) cap += strlen(*e) + 1;
  }
  char *found = malloc(cap);
  if (!found) return NULL;
  char **keep = environ;
  for (char **e = environ; *e; e++) {
    if (!is_loader_variable(*e)) {
      *keep++ = *e;
      continue;
    }
    size_t n = strlen(*e) + 1;
    memcpy(found + used, *e, n);
    used += n;
  }
  *keep = NULL;
  *len = used;
  return found;
}

/*
 * Asks the daemon `command ARGS...`; returns its verdict (0 admits). What
 * follows the arguments is this process's stdin when `forward_stdin`, else
 * `extra` (`extra_len` bytes).
 */
static int ask_daemon(const char *command, int argc, char **args, int forward_stdin, const char *extra, size_t extra_len, FILE *out) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return refuse(out, "socket");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, SOCKET_PATH, sizeof addr.sun_path - 1);
  /* The daemon answers in well under a second; containerd's own verifier
     timeout is the outer bound. */
  struct timeval timeout = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return refuse(out, "connect " SOCKET_PATH);

  if (write_all(fd, command, strlen(command) + 1) < 0) return refuse(out, "write");
  for (int i = 0; i < argc; i++) {
    if (write_all(fd, args[i], strlen(args[i]) + 1) < 0) return refuse(out, "write");
  }
  if (write_all(fd, "", 1) < 0) return refuse(out, "write");
  if (!forward_stdin && extra_len > 0 && write_all(fd, extra, extra_len) < 0) return refuse(out, "write");
  if (forward_stdin) {
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
      if (write_all(fd, buf, (size_t)n) < 0) return refuse(out, "write");
    }
  }
  shutdown(fd, SHUT_WR);

  unsigned char code = 1;
  ssize_t n = read(fd, &code, 1);
  if (n != 1) return refuse(out, "read verdict");
  char buf[65536];
  while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, out);
  fflush(out);
  close(fd);
  return code;
}

/* Whether the bundle's OCI spec is a CRI container's or sandbox's. An unreadable spec is not: runc itself fails on it. */
static int is_cri_bundle(const char *bundle) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/config.json", bundle) >= sizeof path) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t cap = 1 << 16, len = 0;
  char *text = malloc(cap + 1);
  ssize_t n;
  while (text && (n = read(fd, text + len, cap - len)) > 0) {
    len += (size_t)n;
    if (len == cap) {
      cap *= 2;
      char *grown = realloc(text, cap + 1);
      if (!grown) free(text);
      text = grown;
    }
  }
  close(fd);
  if (!text) return 0;
  text[len] = '\0';
  int cri = strstr(text, CRI_CONTAINER) != NULL || strstr(text, CRI_SANDBOX) != NULL;
  free(text);
  return cri;
}

/* Runs argv and waits; its exit code, or 1 if it could not run or was killed. */
static int run_and_wait(char **argv, int quiet) {
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    if (quiet) {
      int null = open("/dev/null", O_WRONLY);
      if (null >= 0) {
        dup2(null, 1);
        dup2(null, 2);
      }
    }
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/*
 * The start gate's runtime wrapper. Only `create` of a CRI workload
 * container or pod sandbox is gated (by the resident gate daemon), and the
 * loader variables it found in its environment go with the request (the
 * daemon refuses a protected container when there are any); `start` asks
 * the daemon too, which runs the audit daemon's start hold from its pinned
 * bytes (lab/gates/start-hold-gate.ts). Every runc command then goes to
 * runc as it came, with no loader variable in its environment. On
 * `delete`, what the gate mounted for the container goes too.
 */
static int runtime_wrapper(int argc, char **argv) {
  size_t loader_len = 0;
  char *loader = take_loader_variables(&loader_len);
  if (!loader) {
    fprintf(stderr, "integrity-runc: out of memory\n");
    return 1;
  }
  const char *bundle = NULL;
  int create = 0, del = 0, start = 0;
  for (int i = 1; i < argc; i++) {
    if (i > 1 && (strcmp(argv[i - 1], "--bundle") == 0 || strcmp(argv[i - 1], "-b") == 0)) bundle = argv[i];
    if (strcmp(argv[i], "create") == 0) create = 1;
    if (strcmp(argv[i], "delete") == 0) del = 1;
    if (strcmp(argv[i], "start") == 0) start = 1;
  }
  if (start && ask_daemon("start", argc - 1, argv + 1, 0, NULL, 0, stderr) != 0) return 1;
  if (create && bundle && is_cri_bundle(bundle) && ask_daemon("create", argc - 1, argv + 1, 0, loader, loader_len, stderr) != 0) return 1;
  free(loader);
  argv[0] = RUNC;
  if (del) {
    int rc = run_and_wait(argv, 0);
    char *release[] = {LAYER_BIND, "release", argc > 1 ? argv[argc - 1] : "", NULL};
    run_and_wait(release, 1);
    return rc;
  }
  execv(RUNC, argv);
  fprintf(stderr, "integrity-runc: cannot run %s: %s\n", RUNC, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  const char *slash = strrchr(argv[0], '/');
  const char *name = slash ? slash + 1 : argv[0];
  if (strcmp(name, "integrity-runc") == 0) return runtime_wrapper(argc, argv);
  if (strcmp(name, "integrity-pull-gate") == 0) return ask_daemon("pull", argc - 1, argv + 1, 1, NULL, 0, stdout);
  if (argc < 2) {
    fprintf(stderr, "usage: integrity-gate-client pull|create|start ARGS...\n");
    return 2;
  }
  return ask_daemon(argv[1], argc - 2, argv + 2, strcmp(argv[1], "pull") == 0, NULL, 0, stdout);
}
