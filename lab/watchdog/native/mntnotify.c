/*
 * mntnotify: reports mount attach/detach events of watched mount namespaces
 * as JSON lines on stdout, for the integrity-lab watchdog (Node.js cannot
 * call fanotify).
 *
 * Kernel interface: fanotify mount notification (Linux 6.15), see
 * Documentation/filesystems/fanotify (fanotify_init(2) FAN_REPORT_MNT,
 * fanotify_mark(2) FAN_MARK_MNTNS, events FAN_MNT_ATTACH / FAN_MNT_DETACH with
 * a FAN_EVENT_INFO_TYPE_MNT record carrying the 64-bit unique mount id) and
 * tools/testing/selftests/filesystems/mount-notify. An event does not say
 * which namespace it came from; it is attributed with statmount(2) (Linux
 * 6.8) restricted to one namespace by mnt_id_req.mnt_ns_id (Linux 6.11),
 * whose id comes from the NS_MNT_GET_INFO ioctl on the namespace file
 * (include/uapi/linux/nsfs.h, Linux 6.12).
 *
 * Protocol. stdin, one command a line:
 *   watch <key> <path of a mount namespace file, e.g. /proc/123/ns/mnt>
 *   unwatch <key> [<path>]
 * stdout, one JSON object a line:
 *   {"type":"ready","notify":"fanotify-mnt"}
 *   {"type":"unavailable","error":"..."}            (then exit 3)
 *   {"type":"watching","key":"k","nsId":"123"|null}
 *   {"type":"watch-failed","key":"k","error":"..."}
 *   {"type":"mount","event":"attach"|"detach"|"move","mntId":"...","key":"k"|null,"time":1700000000123.456}
 *   {"type":"overflow","time":...}
 *
 * The namespace file is closed right after the mark is placed: an open
 * namespace file keeps the namespace, and every mount in it, alive, which is
 * the phantom disk usage this watchdog exists to prevent. A fanotify mark on
 * a mount namespace does not keep it alive (it is dropped when the namespace
 * is freed).
 *
 * Build: gcc -static -O2 -o mntnotify mntnotify.c (the build host's headers
 * predate these interfaces, so the constants are defined here).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* include/uapi/linux/fanotify.h (Linux 6.15) */
#ifndef FAN_REPORT_MNT
#define FAN_REPORT_MNT 0x00004000
#endif
#ifndef FAN_MARK_MNTNS
#define FAN_MARK_MNTNS 0x00000110
#endif
#ifndef FAN_MNT_ATTACH
#define FAN_MNT_ATTACH 0x01000000
#endif
#ifndef FAN_MNT_DETACH
#define FAN_MNT_DETACH 0x02000000
#endif
#define WD_FAN_EVENT_INFO_TYPE_MNT 7
struct wd_fanotify_event_info_mnt {
	struct fanotify_event_info_header hdr;
	uint64_t mnt_id;
};

/* include/uapi/linux/nsfs.h */
#define WD_NSIO 0xb7
struct wd_mnt_ns_info {
	uint32_t size;
	uint32_t nr_mounts;
	uint64_t mnt_ns_id;
};
#define WD_NS_MNT_GET_INFO _IOR(WD_NSIO, 10, struct wd_mnt_ns_info)
#define WD_NS_GET_MNTNS_ID _IOR(WD_NSIO, 0x5, uint64_t)

/* include/uapi/linux/mount.h; arch/x86/entry/syscalls/syscall_64.tbl */
struct wd_mnt_id_req {
	uint32_t size;
	uint32_t spare;
	uint64_t mnt_id;
	uint64_t param;
	uint64_t mnt_ns_id;
};
#define WD_MNT_ID_REQ_SIZE_VER1 32
#define WD_STATMOUNT_MNT_BASIC 0x00000002U
#define WD_LSMT_ROOT 0xffffffffffffffffULL
#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#ifndef SYS_listmount
#define SYS_listmount 458
#endif

#define MAX_WATCHED 4096
#define KEY_MAX 128

struct watched {
	char key[KEY_MAX];
	uint64_t ns_id; /* 0: unknown */
	int used;
};

static struct watched watched[MAX_WATCHED];
static int fan_fd = -1;

/*
 * Mount id -> watched slot, so that a detach (the mount is gone, statmount
 * cannot place it) is still attributed. Filled from listmount(2) when a
 * namespace is watched and from attach events after.
 */
struct known_mount {
	uint64_t mnt_id;
	int slot;
};
static struct known_mount *known;
static size_t known_len, known_cap;

static void remember(uint64_t mnt_id, int slot)
{
	for (size_t i = 0; i < known_len; i++)
		if (known[i].mnt_id == mnt_id) {
			known[i].slot = slot;
			return;
		}
	if (known_len == known_cap) {
		size_t cap = known_cap ? known_cap * 2 : 1024;
		struct known_mount *k = realloc(known, cap * sizeof(*k));
		if (!k)
			return;
		known = k;
		known_cap = cap;
	}
	known[known_len++] = (struct known_mount){ mnt_id, slot };
}

static int recall(uint64_t mnt_id, int forget)
{
	for (size_t i = 0; i < known_len; i++)
		if (known[i].mnt_id == mnt_id) {
			int slot = known[i].slot;
			if (forget)
				known[i] = known[--known_len];
			return slot;
		}
	return -1;
}

static void forget_slot(int slot)
{
	for (size_t i = 0; i < known_len;)
		if (known[i].slot == slot)
			known[i] = known[--known_len];
		else
			i++;
}

/* Every mount of the namespace, by listmount(2) (Linux 6.8; foreign namespaces 6.11). */
static void remember_namespace(uint64_t ns_id, int slot)
{
	uint64_t ids[512];
	struct wd_mnt_id_req req = { .size = WD_MNT_ID_REQ_SIZE_VER1, .mnt_id = WD_LSMT_ROOT, .param = 0, .mnt_ns_id = ns_id };
	for (;;) {
		long n = syscall(SYS_listmount, &req, ids, 512, 0);
		if (n <= 0)
			return;
		for (long i = 0; i < n; i++)
			remember(ids[i], slot);
		if (n < 512)
			return;
		req.param = ids[n - 1];
	}
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Keys are container ids or "node": [A-Za-z0-9._-]; anything else is refused. */
static int valid_key(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n >= KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static void json_error(const char *type, const char *key, const char *what, int err)
{
	/* strerror texts contain no quotes or backslashes */
	if (key)
		printf("{\"type\":\"%s\",\"key\":\"%s\",\"error\":\"%s: %s\"}\n", type, key, what, strerror(err));
	else
		printf("{\"type\":\"%s\",\"error\":\"%s: %s\"}\n", type, what, strerror(err));
	fflush(stdout);
}

static uint64_t namespace_id(int ns_fd)
{
	struct wd_mnt_ns_info info = { .size = sizeof(info) };
	if (ioctl(ns_fd, WD_NS_MNT_GET_INFO, &info) == 0 && info.mnt_ns_id)
		return info.mnt_ns_id;
	uint64_t id = 0;
	if (ioctl(ns_fd, WD_NS_GET_MNTNS_ID, &id) == 0)
		return id;
	return 0;
}

static struct watched *find(const char *key)
{
	for (int i = 0; i < MAX_WATCHED; i++)
		if (watched[i].used && strcmp(watched[i].key, key) == 0)
			return &watched[i];
	return NULL;
}

static void cmd_watch(const char *key, const char *path)
{
	if (!valid_key(key)) {
		json_error("watch-failed", "invalid", "key", EINVAL);
		return;
	}
	struct watched *w = find(key);
	if (!w) {
		for (int i = 0; i < MAX_WATCHED && !w; i++)
			if (!watched[i].used)
				w = &watched[i];
	}
	if (!w) {
		json_error("watch-failed", key, "table full", ENOSPC);
		return;
	}
	int ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0) {
		json_error("watch-failed", key, "open namespace", errno);
		return;
	}
	if (fanotify_mark(fan_fd, FAN_MARK_ADD | FAN_MARK_MNTNS, FAN_MNT_ATTACH | FAN_MNT_DETACH, ns_fd, NULL) != 0) {
		int e = errno;
		close(ns_fd);
		json_error("watch-failed", key, "fanotify_mark", e);
		return;
	}
	uint64_t id = namespace_id(ns_fd);
	close(ns_fd); /* never keep a namespace alive */
	snprintf(w->key, KEY_MAX, "%s", key);
	w->ns_id = id;
	w->used = 1;
	forget_slot((int)(w - watched));
	if (id)
		remember_namespace(id, (int)(w - watched));
	if (id)
		printf("{\"type\":\"watching\",\"key\":\"%s\",\"nsId\":\"%llu\"}\n", key, (unsigned long long)id);
	else
		printf("{\"type\":\"watching\",\"key\":\"%s\",\"nsId\":null}\n", key);
	fflush(stdout);
}

static void cmd_unwatch(const char *key, const char *path)
{
	struct watched *w = find(key);
	if (w) {
		w->used = 0;
		forget_slot((int)(w - watched));
	}
	if (path && *path) {
		int ns_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (ns_fd >= 0) {
			fanotify_mark(fan_fd, FAN_MARK_REMOVE | FAN_MARK_MNTNS, FAN_MNT_ATTACH | FAN_MNT_DETACH, ns_fd, NULL);
			close(ns_fd);
		}
	}
	printf("{\"type\":\"unwatched\",\"key\":\"%s\"}\n", valid_key(key) ? key : "invalid");
	fflush(stdout);
}

/*
 * The watched namespace the mount is in: remembered, or found by asking
 * statmount(2) in each watched namespace.
 */
static const char *attribute(uint64_t mnt_id, int detached)
{
	int slot = recall(mnt_id, detached);
	if (slot >= 0 && watched[slot].used)
		return watched[slot].key;
	if (detached)
		return NULL;
	char buf[4096];
	for (int i = 0; i < MAX_WATCHED; i++) {
		if (!watched[i].used || !watched[i].ns_id)
			continue;
		struct wd_mnt_id_req req = { .size = WD_MNT_ID_REQ_SIZE_VER1, .mnt_id = mnt_id, .param = WD_STATMOUNT_MNT_BASIC, .mnt_ns_id = watched[i].ns_id };
		if (syscall(SYS_statmount, &req, buf, sizeof(buf), 0) == 0) {
			remember(mnt_id, i);
			return watched[i].key;
		}
	}
	return NULL;
}

static void read_events(void)
{
	char buf[65536] __attribute__((aligned(8)));
	for (;;) {
		ssize_t len = read(fan_fd, buf, sizeof(buf));
		if (len <= 0)
			return;
		double t = now_ms();
		struct fanotify_event_metadata *meta = (struct fanotify_event_metadata *)buf;
		for (; FAN_EVENT_OK(meta, len); meta = FAN_EVENT_NEXT(meta, len)) {
			if (meta->mask & FAN_Q_OVERFLOW) {
				printf("{\"type\":\"overflow\",\"time\":%.3f}\n", t);
				continue;
			}
			uint64_t mnt_id = 0;
			size_t off = meta->metadata_len;
			while (off + sizeof(struct fanotify_event_info_header) <= meta->event_len) {
				struct fanotify_event_info_header *h = (struct fanotify_event_info_header *)((char *)meta + off);
				if (h->len == 0)
					break;
				if (h->info_type == WD_FAN_EVENT_INFO_TYPE_MNT && h->len >= sizeof(struct wd_fanotify_event_info_mnt))
					mnt_id = ((struct wd_fanotify_event_info_mnt *)h)->mnt_id;
				off += h->len;
			}
			const char *event = (meta->mask & FAN_MNT_ATTACH) && (meta->mask & FAN_MNT_DETACH) ? "move"
					    : (meta->mask & FAN_MNT_ATTACH)                               ? "attach"
														   : "detach";
			int detached = (meta->mask & FAN_MNT_DETACH) && !(meta->mask & FAN_MNT_ATTACH);
			const char *key = mnt_id ? attribute(mnt_id, detached) : NULL;
			if (key)
				printf("{\"type\":\"mount\",\"event\":\"%s\",\"mntId\":\"%llu\",\"key\":\"%s\",\"time\":%.3f}\n", event, (unsigned long long)mnt_id, key, t);
			else
				printf("{\"type\":\"mount\",\"event\":\"%s\",\"mntId\":\"%llu\",\"key\":null,\"time\":%.3f}\n", event, (unsigned long long)mnt_id, t);
		}
		fflush(stdout);
	}
}

static void handle_line(char *line)
{
	char *save = NULL;
	char *cmd = strtok_r(line, " \t\r\n", &save);
	char *key = strtok_r(NULL, " \t\r\n", &save);
	char *path = strtok_r(NULL, " \t\r\n", &save);
	if (!cmd || !key)
		return;
	if (strcmp(cmd, "watch") == 0 && path)
		cmd_watch(key, path);
	else if (strcmp(cmd, "unwatch") == 0)
		cmd_unwatch(key, path);
}

int main(void)
{
	/* Run from a descriptor (/proc/<pid>/fd/<n>, the pinned bytes), the kernel would name the process "<n>". */
	prctl(PR_SET_NAME, "mntnotify");
	fan_fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_MNT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY);
	if (fan_fd < 0) {
		json_error("unavailable", NULL, "fanotify_init(FAN_REPORT_MNT)", errno);
		return 3;
	}
	printf("{\"type\":\"ready\",\"notify\":\"fanotify-mnt\"}\n");
	fflush(stdout);

	char line[8192];
	size_t have = 0;
	struct pollfd fds[2] = { { .fd = 0, .events = POLLIN }, { .fd = fan_fd, .events = POLLIN } };
	for (;;) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[1].revents & POLLIN)
			read_events();
		if (fds[0].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(0, line + have, sizeof(line) - 1 - have);
			if (n <= 0)
				return 0; /* the watchdog went away */
			have += (size_t)n;
			line[have] = '\0';
			char *start = line;
			char *nl;
			while ((nl = memchr(start, '\n', have - (size_t)(start - line)))) {
				*nl = '\0';
				handle_line(start);
				start = nl + 1;
			}
			have -= (size_t)(start - line);
			memmove(line, start, have);
			if (have == sizeof(line) - 1)
				have = 0; /* an overlong line is dropped */
		}
	}
}
