/*
 * audit-tap: prints every Linux audit record the kernel multicasts, one per
 * line, as "<record type number> <payload>".
 *
 * It joins the read-only multicast group AUDIT_NLGRP_READLOG of the audit
 * netlink socket (include/uapi/linux/audit.h; kernel/audit.c
 * kauditd_send_multicast_skb), which needs CAP_AUDIT_READ and the initial
 * network namespace. Unlike registering as the audit daemon (AUDIT_SET pid),
 * any number of readers can listen at once, so concurrent labs, and a real
 * auditd on the host, keep working.
 *
 * Payloads are the kernel's text ("audit(SECONDS.MILLIS:SERIAL): k=v ..."),
 * which never holds a raw newline: untrusted strings are quoted or hex
 * encoded by audit_log_n_untrustedstring. A payload is written up to its
 * first NUL or its netlink length, whichever comes first.
 *
 * When the socket overflows (ENOBUFS) the kernel has dropped records for
 * this reader; a line "# lost" goes to stdout so the reader can count it.
 *
 * Build: gcc -static -O2 -o audit-tap audit-tap.c
 */
#include <errno.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* include/uapi/linux/audit.h: NETLINK_AUDIT is 9, AUDIT_NLGRP_READLOG is 1. */
#ifndef NETLINK_AUDIT
#define NETLINK_AUDIT 9
#endif
#define LAB_AUDIT_NLGRP_READLOG 1

int main(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) {
    fprintf(stderr, "audit-tap: socket(AF_NETLINK, NETLINK_AUDIT): %s\n", strerror(errno));
    return 2;
  }
  int size = 8 * 1024 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1u << (LAB_AUDIT_NLGRP_READLOG - 1);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    fprintf(stderr, "audit-tap: bind to AUDIT_NLGRP_READLOG: %s (needs CAP_AUDIT_READ and the host network namespace)\n", strerror(errno));
    return 2;
  }
  fprintf(stdout, "# ready\n");
  fflush(stdout);

  static char buf[1 << 16];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        fputs("# lost\n", stdout);
        fflush(stdout);
        continue;
      }
      fprintf(stderr, "audit-tap: recv: %s\n", strerror(errno));
      return 1;
    }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      const char *data = NLMSG_DATA(h);
      size_t dlen = h->nlmsg_len - NLMSG_HDRLEN;
      const char *nul = memchr(data, '\0', dlen);
      if (nul) dlen = (size_t)(nul - data);
      while (dlen > 0 && data[dlen - 1] == '\n') dlen--;
      fprintf(stdout, "%u ", (unsigned)h->nlmsg_type);
      fwrite(data, 1, dlen, stdout);
      fputc('\n', stdout);
    }
    if (fflush(stdout) != 0) return 0; /* the reader went away */
  }
}
