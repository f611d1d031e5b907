/*
 * release-mounts: reads, and releases, the mounts a mount namespace still
 * holds after its container stopped (the "phantom disk usage" of the
 * integrity talk: a namespace kept alive by some process or file descriptor
 * keeps every mount in it, and every deleted file such a mount pins).
 *
 * usage:
 *   release-mounts nsid <namespace file>           print the namespace's unique id
 *   release-mounts mountinfo <namespace file> [--ns-id N]
 *       print the namespace's mountinfo
 *   release-mounts umount <namespace file> [--ns-id N] <mount point>...
 *       detach each mount point (umount2(MNT_DETACH | UMOUNT_NOFOLLOW)) in
 *       the order given; print one JSON line per mount point
 *
 * Namespace inode numbers (the N of mnt:[N]) are reused as soon as a
 * namespace is freed, so "the namespace of the container that stopped" may
 * already be a new container's. The 64-bit id of the NS_MNT_GET_INFO ioctl
 * (include/uapi/linux/nsfs.h, Linux 6.12) is never reused: with --ns-id the
 * helper refuses (exit 4) to touch a namespace with another id.
 *
 * The namespace file is /proc/<pid>/ns/mnt of a process still in it,
 * /proc/<pid>/fd/<n> of a descriptor open on it, or a bind mount of it.
 * After setns(2) "/proc" would be the container's own procfs, whose pid
 * namespace is gone, so the node's /proc is opened first and the
 * namespace's mountinfo read through it as self/mountinfo (proc(5): the
 * table of the reading task's namespace, relative to its root, which setns
 * sets to the namespace's root).
 *
 * Build: gcc -static -O2 -o release-mounts release-mounts.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008 /* include/linux/fs.h */
#endif

/* include/uapi/linux/nsfs.h */
struct wd_mnt_ns_info {
	uint32_t size;
	uint32_t nr_mounts;
	uint64_t mnt_ns_id;
};
#define WD_NS_MNT_GET_INFO _IOR(0xb7, 10, struct wd_mnt_ns_info)

static uint64_t namespace_id(int ns_fd)
{
	struct wd_mnt_ns_info info = { .size = sizeof(info) };
	return ioctl(ns_fd, WD_NS_MNT_GET_INFO, &info) == 0 ? info.mnt_ns_id : 0;
}

/* Enters the namespace; -1 on failure, -4 when its id is not the expected one. */
static int enter(const char *ns_path, uint64_t expected_id, int *proc_fd)
{
	*proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*proc_fd < 0) {
		fprintf(stderr, "open(/proc): %s\n", strerror(errno));
		return -1;
	}
	int ns_fd = open(ns_path, O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0) {
		fprintf(stderr, "open(%s): %s\n", ns_path, strerror(errno));
		return -1;
	}
	if (expected_id) {
		uint64_t id = namespace_id(ns_fd);
		if (id != expected_id) {
			fprintf(stderr, "%s is mount namespace %llu, not %llu: the namespace was freed and its number reused; not touching it\n", ns_path,
				(unsigned long long)id, (unsigned long long)expected_id);
			close(ns_fd);
			return -4;
		}
	}
	if (setns(ns_fd, CLONE_NEWNS) != 0) {
		fprintf(stderr, "setns(%s): %s\n", ns_path, strerror(errno));
		close(ns_fd);
		return -1;
	}
	close(ns_fd);
	return 0;
}

/* JSON string body: the mount point as given (escaped only for quotes, backslashes and controls). */
static void json_str(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
}

int main(int argc, char **argv)
{
	/* Run from a descriptor (/proc/<pid>/fd/<n>, the pinned bytes), the kernel would name the process "<n>". */
	prctl(PR_SET_NAME, "release-mounts");
	if (argc < 3 || (strcmp(argv[1], "mountinfo") != 0 && strcmp(argv[1], "umount") != 0 && strcmp(argv[1], "nsid") != 0)) {
		fprintf(stderr, "usage: %s nsid <namespace file> | mountinfo <namespace file> [--ns-id N] | umount <namespace file> [--ns-id N] <mount point>...\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "nsid") == 0) {
		int ns_fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		if (ns_fd < 0) {
			fprintf(stderr, "open(%s): %s\n", argv[2], strerror(errno));
			return 1;
		}
		uint64_t id = namespace_id(ns_fd);
		close(ns_fd);
		if (!id) {
			fprintf(stderr, "NS_MNT_GET_INFO on %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		printf("%llu\n", (unsigned long long)id);
		return 0;
	}
	int first = 3;
	uint64_t expected_id = 0;
	if (argc >= 5 && strcmp(argv[3], "--ns-id") == 0) {
		expected_id = strtoull(argv[4], NULL, 10);
		first = 5;
	}
	int proc_fd;
	int rc = enter(argv[2], expected_id, &proc_fd);
	if (rc == -4)
		return 4;
	if (rc != 0)
		return 1;
	if (strcmp(argv[1], "mountinfo") == 0) {
		int fd = openat(proc_fd, "self/mountinfo", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "open(self/mountinfo): %s\n", strerror(errno));
			return 1;
		}
		char buf[65536];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		close(fd);
		return 0;
	}
	int failed = 0;
	for (int i = first; i < argc; i++) {
		int rc = umount2(argv[i], MNT_DETACH | UMOUNT_NOFOLLOW);
		int e = errno;
		printf("{\"mountPoint\":\"");
		json_str(argv[i]);
		if (rc == 0)
			printf("\",\"released\":true}\n");
		else {
			printf("\",\"released\":false,\"error\":\"%s\"}\n", strerror(e));
			failed++;
		}
	}
	fflush(stdout);
	return failed ? 3 : 0;
}
