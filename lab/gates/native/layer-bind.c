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
 *   layer-bind bind ROOTFS LOWERDIRS FILE BACKING MOUNT_POINT [FILE BACKING MOUNT_POINT...]
 *       All of the above for one container, in one process (the userspace
 *       verity mode, where nothing runs between the steps). For each FILE:
 *       attach a read-only loop device and print its line as attach does;
 *       if the kernel says the device reads another inode than BACKING
 *       ("MAJ:MIN:INO", the inode the gate hashed), detach it and exit 3
 *       before anything is mounted from it; otherwise mount it read-only
 *       as EROFS on MOUNT_POINT and detach it (autoclear). Then, unless
 *       ROOTFS is "-", the read-only overlay as rootfs does. Exit codes
 *       say which step failed: 1 a loop device, 3 the backing check,
 *       4 a mount, 5 the overlay; the gate checks every mount again from
 *       mountinfo afterwards.
 *   layer-bind dm-table NAME
 *       Prints what the kernel says device-mapper device NAME is
 *       (DM_TABLE_STATUS with DM_STATUS_TABLE_FLAG): "MAJ:MIN TARGETS", then
 *       one line per target, "START LENGTH TYPE PARAMS". In kernel dm-verity
 *       mode the gate reads the verity device veritysetup opened back from
 *       the kernel: veritysetup is a dynamic program with eight libraries,
 *       so pinning its file alone would not say what it did.
 *
 * It replaces losetup --find --show, losetup --list, busybox mount and
 * umount, one process each per layer: about 75 ms per container of six
 * layers; `bind` replaces the four calls a container needed after that. On the
 * first failure it stops, says which argument and which step failed on
 * stderr, and exits 1; what it printed (attach) or mounted (mount) before
 * that is the caller's to release. Usage errors exit 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* What the kernel says about an attached loop device. */
struct attached {
  char path[64];
  unsigned int major, minor, backing_major, backing_minor;
  unsigned long long backing_ino;
};

/* Attaches a read-only loop device to FILE, prints its line and fills `out`; 0, or 1 after saying why. */
static int attach_one(int ctl, const char *file_path, struct attached *out) {
  int file = open(file_path, O_RDONLY | O_CLOEXEC);
  if (file < 0) return fail("cannot open", file_path);
  int loop = -1;
  /* Another process may take the free device first: LOOP_CONFIGURE then says EBUSY, and we ask again. */
  for (int attempt = 0; attempt < 16; attempt++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) return fail("no free loop device for", file_path);
    loop = open_loop(n, out->path, sizeof out->path);
    if (loop < 0) return fail("cannot open the loop device for", file_path);
    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = (unsigned int)file;
    config.info.lo_flags = LO_FLAGS_READ_ONLY;
    if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) break;
    int err = errno;
    close(loop);
    loop = -1;
    errno = err;
    if (err != EBUSY) return fail("cannot configure a loop device for", file_path);
  }
  if (loop < 0) return fail("every free loop device was taken meanwhile, for", file_path);
  struct loop_info64 info;
  struct stat device;
  if (ioctl(loop, LOOP_GET_STATUS64, &info) != 0) return fail("cannot read the status of", out->path);
  if (fstat(loop, &device) != 0) return fail("cannot stat", out->path);
  out->major = major(device.st_rdev);
  out->minor = minor(device.st_rdev);
  out->backing_major = major(info.lo_device);
  out->backing_minor = minor(info.lo_device);
  out->backing_ino = (unsigned long long)info.lo_inode;
  printf("%s %u:%u %u:%u %llu\n", out->path, out->major, out->minor, out->backing_major, out->backing_minor, out->backing_ino);
  fflush(stdout);
  close(loop);
  close(file);
  return 0;
}

static int attach(int argc, char **argv) {
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return fail("cannot open", "/dev/loop-control");
  for (int i = 0; i < argc; i++) {
    struct attached a;
    if (attach_one(ctl, argv[i], &a) != 0) return 1;
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

/* Mounts DEVICE read-only as EROFS on MOUNT_POINT, creating it; 0, or 1 after saying why. */
static int mount_one(const char *device, char *mount_point) {
  if (make_dirs(mount_point) != 0) return fail("cannot create the mount point", mount_point);
  if (mount(device, mount_point, "erofs", MS_RDONLY, NULL) != 0) {
    fprintf(stderr, "layer-bind: cannot mount %s on %s read-only as erofs: %s\n", device, mount_point, strerror(errno));
    return 1;
  }
  return 0;
}

static int mount_all(int argc, char **argv) {
  if (argc % 2 != 0) {
    fprintf(stderr, "layer-bind mount: expected DEVICE MOUNT_POINT pairs, got %d arguments\n", argc);
    return 2;
  }
  for (int i = 0; i < argc; i += 2) {
    if (mount_one(argv[i], argv[i + 1]) != 0) return 1;
  }
  return 0;
}

/* Detaches a loop device; a mounted one is marked autoclear and goes with its last mount. */
static int detach_one(const char *device) {
  int loop = open(device, O_RDONLY | O_CLOEXEC);
  if (loop < 0) return fail("cannot open", device);
  /* A device that is still mounted says EBUSY and is marked autoclear: it goes with its last mount. */
  if (ioctl(loop, LOOP_CLR_FD, 0) != 0 && errno != EBUSY && errno != ENXIO) return fail("cannot detach", device);
  close(loop);
  return 0;
}

static int detach(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (detach_one(argv[i]) != 0) return 1;
  }
  return 0;
}

/* The read-only overlay of LOWERDIRS on ROOTFS, in place of the shim's: 0, 1 after saying why, 2 when too long. */
static int overlay(const char *root, const char *lowerdirs) {
  char options[4096];
  if ((size_t)snprintf(options, sizeof options, "lowerdir=%s", lowerdirs) >= sizeof options) {
    fprintf(stderr, "layer-bind rootfs: the lowerdir list is longer than mount(2) takes (%zu bytes)\n", sizeof options);
    return 2;
  }
  if (umount2(root, 0) != 0) return fail("cannot unmount the prepared rootfs", root);
  if (mount("overlay", root, "overlay", MS_RDONLY, options) != 0) return fail("cannot mount the read-only overlay on", root);
  return 0;
}

static int rootfs(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "layer-bind rootfs: expected ROOTFS LOWERDIRS, got %d arguments\n", argc);
    return 2;
  }
  return overlay(argv[0], argv[1]);
}

static int bind(int argc, char **argv) {
  if (argc < 5 || (argc - 2) % 3 != 0) {
    fprintf(stderr, "layer-bind bind: expected ROOTFS LOWERDIRS and FILE BACKING MOUNT_POINT triples, got %d arguments\n", argc);
    return 2;
  }
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return fail("cannot open", "/dev/loop-control");
  for (int i = 2; i < argc; i += 3) {
    unsigned int want_major, want_minor;
    unsigned long long want_ino;
    char tail;
    if (sscanf(argv[i + 1], "%u:%u:%llu%c", &want_major, &want_minor, &want_ino, &tail) != 3) {
      fprintf(stderr, "layer-bind bind: BACKING must be MAJ:MIN:INO, got \"%s\"\n", argv[i + 1]);
      return 2;
    }
    struct attached a;
    if (attach_one(ctl, argv[i], &a) != 0) return 1;
    if (a.backing_major != want_major || a.backing_minor != want_minor || a.backing_ino != want_ino) {
      fprintf(stderr, "layer-bind: %s reads %u:%u inode %llu, not %s: nothing was mounted from it\n", a.path, a.backing_major, a.backing_minor,
              a.backing_ino, argv[i + 1]);
      detach_one(a.path);
      return 3;
    }
    int mounted = mount_one(a.path, argv[i + 2]);
    /* Mounted: autoclear, freed with the mount. Not mounted: freed now. */
    if (detach_one(a.path) != 0 || mounted != 0) return 4;
  }
  if (strcmp(argv[0], "-") == 0) return 0;
  return overlay(argv[0], argv[1]) == 0 ? 0 : 5;
}

static int dm_table(int argc, char **argv) {
  if (argc != 1 || strlen(argv[0]) >= DM_NAME_LEN) {
    fprintf(stderr, "layer-bind dm-table: expected one device-mapper name shorter than %d bytes\n", DM_NAME_LEN);
    return 2;
  }
  int ctl = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) return fail("cannot open", "/dev/mapper/control");
  static char buffer[16384] __attribute__((aligned(8)));
  struct dm_ioctl *io = (struct dm_ioctl *)buffer;
  memset(buffer, 0, sizeof buffer);
  io->version[0] = DM_VERSION_MAJOR;
  io->data_size = sizeof buffer;
  io->data_start = sizeof *io;
  io->flags = DM_STATUS_TABLE_FLAG;
  strncpy(io->name, argv[0], DM_NAME_LEN - 1);
  if (ioctl(ctl, DM_TABLE_STATUS, io) != 0) return fail("cannot read the table of", argv[0]);
  if (io->flags & DM_BUFFER_FULL_FLAG) {
    fprintf(stderr, "layer-bind: the table of %s is larger than %zu bytes\n", argv[0], sizeof buffer);
    return 1;
  }
  printf("%u:%u %u\n", major(io->dev), minor(io->dev), io->target_count);
  /* Each target's offset ("next") counts from the first target; its parameters follow it, NUL-terminated. */
  const char *first = buffer + io->data_start;
  const char *end = buffer + (io->data_size < sizeof buffer ? io->data_size : sizeof buffer);
  size_t offset = 0;
  for (unsigned int i = 0; i < io->target_count; i++) {
    if (first + offset + sizeof(struct dm_target_spec) > end) break;
    const struct dm_target_spec *t = (const struct dm_target_spec *)(first + offset);
    const char *params = (const char *)(t + 1);
    printf("%llu %llu %.*s %.*s\n", (unsigned long long)t->sector_start, (unsigned long long)t->length, DM_MAX_TYPE_NAME, t->target_type,
           (int)strnlen(params, (size_t)(end - params)), params);
    if (t->next <= offset) break;
    offset = t->next;
  }
  return 0;
}

int main(int argc, char **argv) {
  /* Run from a descriptor (/proc/<pid>/fd/<n>, the pinned bytes), the kernel would name the process "<n>". */
  prctl(PR_SET_NAME, "layer-bind");
  if (argc >= 2 && strcmp(argv[1], "dm-table") == 0) return dm_table(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "bind") == 0) return bind(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "attach") == 0) return attach(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "mount") == 0) return mount_all(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "detach") == 0) return detach(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "rootfs") == 0) return rootfs(argc - 2, argv + 2);
  fprintf(stderr,
          "usage: layer-bind attach FILE... | mount DEVICE MOUNT_POINT... | detach DEVICE... | rootfs ROOTFS LOWERDIRS\n"
          "       layer-bind bind ROOTFS|- LOWERDIRS FILE MAJ:MIN:INO MOUNT_POINT... | dm-table NAME\n");
  return 2;
}
