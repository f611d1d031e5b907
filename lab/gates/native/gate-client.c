/*
 * integrity-gate-client: the few-millisecond client the pull and start gate
 * wrappers run. It forwards its arguments (and, for `pull`, its stdin) to
 * the resident gate daemon on /run/integrity-lab/gate.sock and exits with
 * the daemon's verdict. If the daemon cannot be reached, it refuses: the
 * gates never fail open.
 *
 * Wire format (see lab/gates/daemon.ts): each argument followed by a NUL,
 * then an extra NUL, then stdin bytes; the client half-closes. The daemon
 * answers one byte (the exit code) followed by the reason text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKET_PATH "/run/integrity-lab/gate.sock"

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

static int refuse(const char *what) {
  printf("integrity gate refused: the gate daemon is unreachable (%s: %s)\n", what, strerror(errno));
  fprintf(stderr, "integrity gate refused: the gate daemon is unreachable (%s: %s)\n", what, strerror(errno));
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: integrity-gate-client pull|create ARGS...\n");
    return 2;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return refuse("socket");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, SOCKET_PATH, sizeof addr.sun_path - 1);
  /* The daemon answers in well under a second; containerd's own verifier
     timeout is the outer bound. */
  struct timeval timeout = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return refuse("connect " SOCKET_PATH);

  for (int i = 1; i < argc; i++) {
    if (write_all(fd, argv[i], strlen(argv[i]) + 1) < 0) return refuse("write");
  }
  if (write_all(fd, "", 1) < 0) return refuse("write");
  if (strcmp(argv[1], "pull") == 0) {
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
      if (write_all(fd, buf, (size_t)n) < 0) return refuse("write");
    }
  }
  shutdown(fd, SHUT_WR);

  unsigned char code = 1;
  ssize_t n = read(fd, &code, 1);
  if (n != 1) return refuse("read verdict");
  char buf[65536];
  while ((n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
  fflush(stdout);
  return code;
}
