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
 *   layer-bind release ID
 *       What the gate mounted for container ID goes: every mount below
 *       GATE_LAYER_ROOT/ID (deepest first), the container's verity devices
 *       (integrity-<first 32 hex digits of ID>-*, a deferred remove, as
 *       `veritysetup close --deferred`), then that directory. The runtime
 *       wrapper runs it on `runc delete`, and the gate after a refusal. Exit
 *       1 if something stayed; nothing there is exit 0.
 *   layer-bind memfd-noexec PID
 *       Sets vm.memfd_noexec to 2 in the pid namespace of process PID (a
 *       protected container's init, before `runc start` lets it run): the
 *       kernel then refuses memfd_create(MFD_EXEC) there and seals every
 *       other memfd non-executable (F_SEAL_EXEC), so no process of the
 *       container can run code from an anonymous memory file. The sysctl
 *       is per pid namespace (Linux >= 6.3) and acts on the writer's own
 *       namespace: setns(2) applies to children, so a child writes it and
 *       reads it back. A namespace's value can only be raised, also by root.
 *       Exit 0 when it reads back 2; 4 when the kernel has no such sysctl;
 *       1 otherwise.
 *
 * It replaces losetup --find --show, losetup --list, busybox mount and
 * umount, one process each per layer: about 75 ms per container of six
 * layers; `bind` replaces the four calls a container needed after that. On the
 * first failure it stops, says which argument and which step failed on
 * stderr, and exits 1; what it printed (attach) or mounted (mount) before
 * that is the caller's to release. Usage errors exit 2.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/dm-ioctl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sched.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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

/* lab/gates/layer-mount.ts GATE_LAYER_ROOT: the gate's mount points, one directory per container. */
#define GATE_LAYER_ROOT "/run/integrity-lab/layers"

static int is_container_id(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
  }
  return 1;
}

static int by_path_descending(const void *a, const void *b) { return strcmp(*(char *const *)b, *(char *const *)a); }

/* Field 5 of a mountinfo line, with the kernel's octal escapes undone; NULL if the line is short. */
static char *mount_point_of(char *line) {
  char *field = line;
  for (int i = 0; i < 4 && field; i++) field = strchr(field, ' ') ? strchr(field, ' ') + 1 : NULL;
  if (!field) return NULL;
  char *end = strchr(field, ' ');
  if (end) *end = '\0';
  char *out = field;
  for (char *in = field; *in; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
  return field;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0) fprintf(stderr, "layer-bind: cannot remove %s: %s\n", path, strerror(errno));
  return 0;
}

static int release(int argc, char **argv) {
  if (argc != 1 || !is_container_id(argv[0])) {
    fprintf(stderr, "layer-bind release: expected one container id (1 to 64 lower-case hex digits)\n");
    return 2;
  }
  char dir[sizeof GATE_LAYER_ROOT + 80];
  snprintf(dir, sizeof dir, "%s/%s/", GATE_LAYER_ROOT, argv[0]);
  size_t prefix = strlen(dir);
  int rc = 0;

  FILE *mountinfo = fopen("/proc/self/mountinfo", "re");
  if (!mountinfo) return fail("cannot read", "/proc/self/mountinfo");
  char **points = NULL;
  size_t count = 0;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, mountinfo) > 0) {
    char *point = mount_point_of(line);
    if (!point || strncmp(point, dir, prefix) != 0) continue;
    char **grown = realloc(points, (count + 1) * sizeof *points);
    if (!grown) break;
    points = grown;
    points[count++] = strdup(point);
  }
  free(line);
  fclose(mountinfo);
  qsort(points, count, sizeof *points, by_path_descending);
  for (size_t i = 0; i < count; i++) {
    if (points[i] && umount2(points[i], 0) != 0) rc = fail("cannot unmount", points[i]);
    free(points[i]);
  }
  free(points);

  char name_prefix[64];
  snprintf(name_prefix, sizeof name_prefix, "integrity-%.32s-", argv[0]);
  int ctl = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
  DIR *mapper = ctl < 0 ? NULL : opendir("/dev/mapper");
  for (struct dirent *e; mapper && (e = readdir(mapper));) {
    if (strncmp(e->d_name, name_prefix, strlen(name_prefix)) != 0 || strlen(e->d_name) >= DM_NAME_LEN) continue;
    struct dm_ioctl io;
    memset(&io, 0, sizeof io);
    io.version[0] = DM_VERSION_MAJOR;
    io.data_size = sizeof io;
    io.data_start = sizeof io;
    io.flags = DM_DEFERRED_REMOVE;
    memcpy(io.name, e->d_name, strlen(e->d_name) + 1);
    if (ioctl(ctl, DM_DEV_REMOVE, &io) != 0) rc = fail("cannot remove the verity device", e->d_name);
  }
  if (mapper) closedir(mapper);
  if (ctl >= 0) close(ctl);

  dir[prefix - 1] = '\0';
  if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && errno != ENOENT) rc = fail("cannot remove", dir);
  struct stat st;
  if (stat(dir, &st) == 0) rc = 1;
  return rc;
}

#define MEMFD_NOEXEC "/proc/sys/vm/memfd_noexec"

/* In the pid namespace this process is in (the child's, after setns): write 2, read it back. */
static int set_memfd_noexec_here(void) {
  int fd = open(MEMFD_NOEXEC, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "2\n", 2) != 2) return fail("cannot write 2 to", MEMFD_NOEXEC);
  close(fd);
  char value[16] = {0};
  fd = open(MEMFD_NOEXEC, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, value, sizeof value - 1) < 1) return fail("cannot read back", MEMFD_NOEXEC);
  close(fd);
  if (value[0] != '2') {
    fprintf(stderr, "layer-bind: %s reads %s after writing 2\n", MEMFD_NOEXEC, value);
    return 1;
  }
  return 0;
}

static int memfd_noexec(int argc, char **argv) {
  if (argc != 1 || argv[0][0] == '\0' || strspn(argv[0], "0123456789") != strlen(argv[0])) {
    fprintf(stderr, "usage: layer-bind memfd-noexec PID\n");
    return 2;
  }
  if (access(MEMFD_NOEXEC, F_OK) != 0) {
    fail("the kernel has no", MEMFD_NOEXEC);
    return 4;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%s/ns/pid", argv[0]);
  int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) return fail("cannot open", path);
  if (setns(ns, CLONE_NEWPID) != 0) return fail("cannot enter", path);
  close(ns);
  pid_t child = fork();
  if (child < 0) return fail("cannot fork into", path);
  if (child == 0) _exit(set_memfd_noexec_here());
  int status;
  if (waitpid(child, &status, 0) < 0) return fail("cannot wait for the child in", path);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
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
  if (argc >= 2 && strcmp(argv[1], "release") == 0) return release(argc - 2, argv + 2);
  if (argc >= 2 && strcmp(argv[1], "memfd-noexec") == 0) return memfd_noexec(argc - 2, argv + 2);
  fprintf(stderr,
          "usage: layer-bind attach FILE... | mount DEVICE MOUNT_POINT... | detach DEVICE... | rootfs ROOTFS LOWERDIRS\n"
          "       layer-bind bind ROOTFS|- LOWERDIRS FILE MAJ:MIN:INO MOUNT_POINT... | dm-table NAME | release ID | memfd-noexec PID\n");
  return 2;
}
