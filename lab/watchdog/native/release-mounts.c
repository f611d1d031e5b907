/*
 * release-mounts: reads, and releases, the mounts a mount namespace still
 * holds after its container stopped (the "phantom disk usage" of the
 * integrity talk: a namespace kept alive by some process or file descriptor
 * keeps every mount in it, and every deleted file such a mount pins).
 *
 * usage:
 *   release-mounts mountinfo <namespace file>     print the namespace's mountinfo
 *   release-mounts umount <namespace file> <mount point>...
 *       detach each mount point (umount2(MNT_DETACH | UMOUNT_NOFOLLOW)) in
 *       the order given; print one JSON line per mount point
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
#include <sys/mount.h>
#include <unistd.h>

#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008 /* include/linux/fs.h */
#endif

static int enter(const char *ns_path, int *proc_fd)
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
	if (argc < 3 || (strcmp(argv[1], "mountinfo") != 0 && strcmp(argv[1], "umount") != 0)) {
		fprintf(stderr, "usage: %s mountinfo <namespace file> | umount <namespace file> <mount point>...\n", argv[0]);
		return 2;
	}
	int proc_fd;
	if (enter(argv[2], &proc_fd) != 0)
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
	for (int i = 3; i < argc; i++) {
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
