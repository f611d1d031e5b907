/*
 * audit-rule: adds one kernel audit rule from inside another process's
 * mount namespace, with no program of that namespace.
 *
 *   audit-rule PID -a always,exit -F arch=b64 -S NAME[,NAME...] -F dir=PATH [-F perm=rwxa] -k KEY
 *
 * A tree rule (-F dir=) must be added from the mount namespace that owns
 * the mount (the kernel refuses another namespace's mount with EINVAL,
 * fs/namespace.c collect_paths), so the audit daemon used to run
 * `nsenter --target <node> --mount auditctl …`: the node's own auditctl,
 * whose exit code it believed. Root on the node who replaced that auditctl
 * by one that answers "set" and sets nothing blinded the audit layer to
 * every container started afterwards (`audit-blinded-by-auditctl`). This
 * helper is static and runs from the audit sidecar's files: it joins the
 * namespace with setns(2) and sends AUDIT_ADD_RULE itself, and exits 0
 * only on the kernel's own acknowledgement.
 *
 * It takes the subset of auditctl's syntax the audit daemon uses, in that
 * order of fields, and refuses anything else, so that `auditctl -l` lists
 * its rules exactly as it lists auditctl's (lab/audit/node/audit-rule.test.ts).
 *
 * Exit codes: 0 added; 1 the kernel refused (or netlink failed); 2 usage;
 * 3 the namespace could not be joined.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "audit-rule knows the 64-bit audit arch of x86_64 and aarch64 only"
#endif

static const struct {
  const char *name;
  int nr;
} SYSCALLS[] = {
    {"execve", SYS_execve},
    {"execveat", SYS_execveat},
#ifdef SYS_open
    {"open", SYS_open},
#endif
    {"openat", SYS_openat},
    {"openat2", SYS_openat2},
};

static int usage(const char *why) {
  fprintf(stderr, "audit-rule: %s\nusage: audit-rule PID -a always,exit -F arch=b64 -S NAME[,NAME...] -F dir=PATH [-F perm=rwxa] -k KEY\n", why);
  return 2;
}

/* Adds the syscalls named in `list` (comma-separated) to the rule's mask; 0, or -1 for an unknown name. */
static int add_syscalls(struct audit_rule_data *rule, char *list) {
  for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
    int found = 0;
    for (size_t i = 0; i < sizeof SYSCALLS / sizeof SYSCALLS[0]; i++) {
      if (strcmp(SYSCALLS[i].name, name) == 0) {
        rule->mask[SYSCALLS[i].nr / 32] |= 1U << (SYSCALLS[i].nr % 32);
        found = 1;
      }
    }
    if (!found) {
      fprintf(stderr, "audit-rule: unknown system call %s\n", name);
      return -1;
    }
  }
  return 0;
}

/* AUDIT_PERM's bits from auditctl's letters; -1 for anything else. */
static int perm_bits(const char *letters) {
  int bits = 0;
  for (const char *c = letters; *c; c++) {
    if (*c == 'r') bits |= AUDIT_PERM_READ;
    else if (*c == 'w') bits |= AUDIT_PERM_WRITE;
    else if (*c == 'x') bits |= AUDIT_PERM_EXEC;
    else if (*c == 'a') bits |= AUDIT_PERM_ATTR;
    else return -1;
  }
  return bits ? bits : -1;
}

/* Appends a string field (its length is the value, its bytes go to buf, unterminated). */
static void add_string_field(struct audit_rule_data *rule, __u32 type, const char *text) {
  size_t len = strlen(text);
  rule->fields[rule->field_count] = type;
  rule->values[rule->field_count] = (__u32)len;
  rule->fieldflags[rule->field_count] = AUDIT_EQUAL;
  rule->field_count++;
  memcpy(rule->buf + rule->buflen, text, len);
  rule->buflen += (__u32)len;
}

static void add_value_field(struct audit_rule_data *rule, __u32 type, __u32 value) {
  rule->fields[rule->field_count] = type;
  rule->values[rule->field_count] = value;
  rule->fieldflags[rule->field_count] = AUDIT_EQUAL;
  rule->field_count++;
}

int main(int argc, char **argv) {
  prctl(PR_SET_NAME, "audit-rule");
  if (argc < 2) return usage("no PID");
  char *end;
  long pid = strtol(argv[1], &end, 10);
  if (*end || pid <= 0) return usage("PID must be a positive number");

  size_t text = 0;
  for (int i = 2; i < argc; i++) text += strlen(argv[i]);
  struct audit_rule_data *rule = calloc(1, sizeof *rule + text);
  if (!rule) return usage("out of memory");
  rule->flags = AUDIT_FILTER_EXIT;
  rule->action = AUDIT_ALWAYS;
  int have_action = 0, have_arch = 0, have_syscalls = 0, have_dir = 0, have_key = 0;
  for (int i = 2; i < argc; i++) {
    const char *opt = argv[i];
    if (i + 1 >= argc) return usage("an option without its value");
    char *value = argv[++i];
    if (rule->field_count + 1 >= AUDIT_MAX_FIELDS) return usage("too many fields");
    if (strcmp(opt, "-a") == 0 && !have_action && strcmp(value, "always,exit") == 0) {
      have_action = 1;
    } else if (strcmp(opt, "-S") == 0 && have_arch) {
      if (add_syscalls(rule, value) < 0) return 2;
      have_syscalls = 1;
    } else if (strcmp(opt, "-F") == 0 && strcmp(value, "arch=b64") == 0 && !have_arch) {
      add_value_field(rule, AUDIT_ARCH, NATIVE_ARCH);
      have_arch = 1;
    } else if (strcmp(opt, "-F") == 0 && strncmp(value, "dir=", 4) == 0 && !have_dir && value[4] == '/') {
      add_string_field(rule, AUDIT_DIR, value + 4);
      have_dir = 1;
    } else if (strcmp(opt, "-F") == 0 && strncmp(value, "perm=", 5) == 0 && have_dir) {
      int bits = perm_bits(value + 5);
      if (bits < 0) return usage("perm takes the letters r, w, x and a");
      add_value_field(rule, AUDIT_PERM, (__u32)bits);
    } else if (strcmp(opt, "-k") == 0 && have_dir && !have_key && *value) {
      add_string_field(rule, AUDIT_FILTERKEY, value);
      have_key = 1;
    } else {
      fprintf(stderr, "audit-rule: %s %s is not in the subset this helper sets\n", opt, value);
      return 2;
    }
  }
  if (!(have_action && have_arch && have_syscalls && have_dir && have_key)) return usage("-a always,exit, -F arch=b64, -S, -F dir= and -k are all required");

  char ns[64];
  snprintf(ns, sizeof ns, "/proc/%ld/ns/mnt", pid);
  int nsfd = open(ns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNS) < 0) {
    fprintf(stderr, "audit-rule: cannot join the mount namespace %s: %s\n", ns, strerror(errno));
    return 3;
  }
  close(nsfd);

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
  if (fd < 0) {
    fprintf(stderr, "audit-rule: socket(AF_NETLINK, NETLINK_AUDIT): %s\n", strerror(errno));
    return 1;
  }
  size_t payload = sizeof *rule + rule->buflen;
  size_t total = NLMSG_SPACE(payload);
  struct nlmsghdr *msg = calloc(1, total);
  if (!msg) return usage("out of memory");
  msg->nlmsg_len = NLMSG_LENGTH(payload);
  msg->nlmsg_type = AUDIT_ADD_RULE;
  msg->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  msg->nlmsg_seq = 1;
  memcpy(NLMSG_DATA(msg), rule, payload);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, msg, msg->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    fprintf(stderr, "audit-rule: sending AUDIT_ADD_RULE: %s\n", strerror(errno));
    return 1;
  }
  /* The kernel's answer to this request: an NLMSG_ERROR whose error is 0 (added) or -errno. */
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "audit-rule: reading the kernel's answer: %s\n", strerror(errno));
      return 1;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != 1 || h->nlmsg_type != NLMSG_ERROR) continue;
      int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (err == 0) return 0;
      fprintf(stderr, "audit-rule: the kernel refused the rule: %s\n", strerror(-err));
      return 1;
    }
  }
}
