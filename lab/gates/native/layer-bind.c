/*
 * layer-bind: the start gate's loop devices and mounts, as syscalls in one
 * process (lab/gates/layer-mount.ts says why each step is there).
 *
 *   layer-bind attach FILE...
 *       Attaches a read-only loop device to each FILE and prints, one line
 *       per file and in order, "DEVICE MAJ:MIN BACKING-MAJ:MIN BACKING-INO":
 *       the device, its number, and the inode the kernel says it reads
 *       (LOOP_GET_STATUS64), for the gate to compare with the inode it hashed.
 *   layer-bind mount DEVICE MOUNT_POINT [DEVICE MOUNT_POINT...]
 *       Creates each mount point (and its parents) and mounts the device
 *       there read-only as EROFS.
 *   layer-bind detach DEVICE...
 *       Detaches each loop device (LOOP_CLR_FD). A mounted device is only
 *       marked to go with its last mount (autoclear).
 *   layer-bind rootfs ROOTFS LOWERDIRS
 *       Unmounts what the shim mounted on ROOTFS and mounts a read-only
 *       overlay of LOWERDIRS (colon-separated, top first) there, with no
 *       upperdir. mount(2) directly: util-linux 2.41's fsconfig path fails
 *       with four or more lowerdirs on this kernel.
 *
 * It replaces losetup --find --show, losetup --list, busybox mount and
 * umount, one process each per layer: about 75 ms per container of six
 * layers. On the
 * first failure it stops, says which argument and which step failed on
 * stderr, and exits 1; what it printed (attach) or mounted (mount) before
 * that is the caller's to release. Usage errors exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int fail(const char *what, const char *arg) {
  fprintf(stderr, "layer-bind: %s %s: %s\n", what, arg, strerror(errno));
  return 1;
}

/* Opens /dev/loopN, creating the node when /dev is not the kernel's devtmpfs (a container's own /dev). */
static int open_loop(int n, char *path, size_t size) {
  snprintf(path, size, "/dev/loop%d", n);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (mknod(path, S_IFBLK | 0660, makedev(7, n)) != 0 && errno != EEXIST) return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  return fd;
}

static int attach(int argc, char **argv) {
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return fail("cannot open", "/dev/loop-control");
  for (int i = 0; i < argc; i++) {
    int file = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (file < 0) return fail("cannot open", argv[i]);
    char path[64];
    int loop = -1;
    /* Another process may take the free device first: LOOP_CONFIGURE then says EBUSY, and we ask again. */
    for (int attempt = 0; attempt < 16; attempt++) {
      int n = ioctl(ctl, LOOP_CTL_GET_FREE);
      if (n < 0) return fail("no free loop device for", argv[i]);
      loop = open_loop(n, path, sizeof path);
      if (loop < 0) return fail("cannot open the loop device for", argv[i]);
      struct loop_config config;
      memset(&config, 0, sizeof config);
      config.fd = (unsigned int)file;
      config.info.lo_flags = LO_FLAGS_READ_ONLY;
      if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) break;
      int err = errno;
      close(loop);
      loop = -1;
      errno = err;
      if (err != EBUSY) return fail("cannot configure a loop device for", argv[i]);
    }
    if (loop < 0) return fail("every free loop device was taken meanwhile, for", argv[i]);
    struct loop_info64 info;
    struct stat device;
    if (ioctl(loop, LOOP_GET_STATUS64, &info) != 0) return fail("cannot read the status of", path);
    if (fstat(loop, &device) != 0) return fail("cannot stat", path);
    printf("%s %u:%u %u:%u %llu\n", path, major(device.st_rdev), minor(device.st_rdev), major(info.lo_device), minor(info.lo_device),
           (unsigned long long)info.lo_inode);
    fflush(stdout);
    close(loop);
    close(file);
  }
  return 0;
}

/* mkdir -p, for the gate's own paths. */
static int make_dirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int r = mkdir(path, 0755);
    *p = '/';
    if (r != 0 && errno != EEXIST) return -1;
  }
  return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int mount_all(int argc, char **argv) {
  if (argc % 2 != 0) {
    fprintf(stderr, "layer-bind mount: expected DEVICE MOUNT_POINT pairs, got %d arguments\n", argc);
    return 2;
  }
  for (int i = 0; i < argc; i += 2) {
    if (make_dirs(argv[i + 1]) != 0) return fail("cannot create the mount point", argv[i + 1]);
    if (mount(argv[i], argv[i + 1], "erofs", MS_RDONLY, NULL) != 0) {
      fprintf(stderr, "layer-bind: cannot mount %s on %s read-only as erofs: %s\n", argv[i], argv[i + 1], strerror(errno));
      return 1;
    }
  }
  return 0;
}

static int detach(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    int loop = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (loop < 0) return fail("cannot open", argv[i]);
    /* A device that is still mounted says EBUSY and is marked autoclear: it goes with its last mount. */
    if (ioctl(loop, LOOP_CLR_FD, 0) != 0 && errno != EBUSY && errno != ENXIO) return fail("cannot detach", argv[i]);
    close(loop);
  }
  return 0;
}

static int rootfs(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "layer-bind rootfs: expected ROOTFS LOWERDIRS, got %d arguments\n", argc);
    return 2;
  }
  char options[4096];
  if ((size_t)snprintf(options, sizeof options, "lowerdir=%s", argv[1]) >= sizeof options) {
    fprintf(stderr, "layer-bind rootfs: the lowerdir list is longer than mount(2) takes (%zu bytes)\n", sizeof options);
    return 2;
  }
  if (umount2(argv[0], 0) != 0) return fail("cannot unmount the prepared rootfs", argv[0]);
  if (mount("overlay", argv[0], "overlay", MS_RDONLY, options) != 0) return fail("cannot mount the read-only overlay on", argv[0]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "attach") == 0) return attach(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "mount") == 0) return mount_all(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "detach") == 0) return detach(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "rootfs") == 0) return rootfs(argc - 2, argv + 2);
  fprintf(stderr, "usage: layer-bind attach FILE... | mount DEVICE MOUNT_POINT... | detach DEVICE... | rootfs ROOTFS LOWERDIRS\n");
  return 2;
}
