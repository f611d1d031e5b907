/*
 * verity-leaves: the lowest level of a dm-verity hash tree (the digest of
 * every data block) for sha256, as a Node-API addon, on POSIX threads.
 *
 * lab/verity/hasher.ts hashes with Node's own crypto on worker threads. For
 * a whole `integrity-lab verity format` process, a Node worker thread costs
 * 30-50 ms to start and every 4 KiB block one call into crypto, so the
 * process could not reach 1.5x veritysetup on two cores (docs/benchmarks.md).
 * This does the same work in C: every thread claims chunks of blocks from
 * one counter, reads each chunk with pread, and hashes each block with the
 * salt (type 1: salt || block; type 0: block || salt) with the SHA-256 that
 * Node itself exports (OpenSSL's, with the CPU's SHA extensions). Digests go
 * to the caller's buffer at the entry offsets of the tree's layout
 * (lab/verity/tree.ts): entry i of hash block i / hashesPerBlock.
 *
 * hashLeaves(fd, firstBlock, count, blockSize, salt, saltFirst, out,
 *            entrySize, hashesPerBlock, hashBlockSize, threads)
 * hashes data blocks firstBlock .. firstBlock+count-1 and returns undefined,
 * or throws an Error naming the offset and what went wrong (a read error,
 * or the file ending early).
 *
 * Built on the host by lab/node/native.ts (compileNodeAddon) with Node's
 * own headers; loaded by lab/verity/native-leaves.ts. Never committed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCKS_PER_CHUNK 64
#define MAX_THREADS 16
#define DIGEST 32

typedef struct {
  int fd;
  uint64_t first, count;
  uint32_t block_size;
  const uint8_t *salt;
  size_t salt_len;
  int salt_first;
  uint8_t *out;
  size_t out_len;
  uint32_t entry_size, hashes_per_block, hash_block_size;
  atomic_uint_fast64_t next;
  /* The first failure: which block's chunk, and its text. */
  pthread_mutex_t lock;
  uint64_t failed_at;
  char failure[256];
} job_t;

static void fail(job_t *j, uint64_t block, const char *text) {
  pthread_mutex_lock(&j->lock);
  if (j->failure[0] == '\0' || block < j->failed_at) {
    j->failed_at = block;
    snprintf(j->failure, sizeof j->failure, "%s", text);
  }
  pthread_mutex_unlock(&j->lock);
}

static void *hash_chunks(void *arg) {
  job_t *j = arg;
  size_t chunk_bytes = (size_t)BLOCKS_PER_CHUNK * j->block_size;
  /* 64 bytes past an aligned start: a page-aligned read target triggers 4K aliasing in the kernel's copy (lab/verity/chunk.ts). */
  uint8_t *base = aligned_alloc(4096, chunk_bytes + 4096);
  if (!base) {
    fail(j, j->first, "out of memory");
    return NULL;
  }
  uint8_t *data = base + 64;
  SHA256_CTX salted;
  SHA256_Init(&salted);
  if (j->salt_first) SHA256_Update(&salted, j->salt, j->salt_len);
  for (;;) {
    uint64_t at = atomic_fetch_add(&j->next, BLOCKS_PER_CHUNK);
    if (at >= j->count) break;
    uint64_t n = j->count - at < BLOCKS_PER_CHUNK ? j->count - at : BLOCKS_PER_CHUNK;
    uint64_t block = j->first + at;
    size_t want = (size_t)n * j->block_size, got = 0;
    off_t position = (off_t)(block * j->block_size);
    while (got < want) {
      ssize_t r = pread(j->fd, data + got, want - got, position + (off_t)got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        char text[256];
        if (r < 0) snprintf(text, sizeof text, "read of %zu bytes at offset %lld failed: %s", want, (long long)position, strerror(errno));
        else snprintf(text, sizeof text, "expected %zu bytes at offset %lld, the file ended after %zu (did it change while being read?)", want, (long long)position, got);
        fail(j, block, text);
        free(base);
        return NULL;
      }
      got += (size_t)r;
    }
    for (uint64_t i = 0; i < n; i++) {
      uint64_t index = block + i;
      size_t offset = (size_t)(index / j->hashes_per_block) * j->hash_block_size + (size_t)(index % j->hashes_per_block) * j->entry_size;
      if (offset + DIGEST > j->out_len) {
        fail(j, block, "the digest buffer is too small for the tree's layout");
        free(base);
        return NULL;
      }
      SHA256_CTX c = salted;
      SHA256_Update(&c, data + i * j->block_size, j->block_size);
      if (!j->salt_first) SHA256_Update(&c, j->salt, j->salt_len);
      SHA256_Final(j->out + offset, &c);
    }
  }
  free(base);
  return NULL;
}

static int number(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

static napi_value hash_leaves(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value a[11];
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 11) {
    napi_throw_type_error(env, NULL, "hashLeaves: expected 11 arguments");
    return NULL;
  }
  double fd, first, count, block_size, entry_size, hashes_per_block, hash_block_size, threads;
  bool salt_first;
  void *salt, *out;
  size_t salt_len, out_len;
  if (!number(env, a[0], &fd) || !number(env, a[1], &first) || !number(env, a[2], &count) || !number(env, a[3], &block_size) ||
      napi_get_buffer_info(env, a[4], &salt, &salt_len) != napi_ok || napi_get_value_bool(env, a[5], &salt_first) != napi_ok ||
      napi_get_buffer_info(env, a[6], &out, &out_len) != napi_ok || !number(env, a[7], &entry_size) || !number(env, a[8], &hashes_per_block) ||
      !number(env, a[9], &hash_block_size) || !number(env, a[10], &threads)) {
    napi_throw_type_error(env, NULL, "hashLeaves: an argument has the wrong type");
    return NULL;
  }
  if (block_size < 512 || entry_size < DIGEST || hashes_per_block < 1 || hash_block_size < entry_size || first < 0 || count < 0) {
    napi_throw_range_error(env, NULL, "hashLeaves: an argument is out of range");
    return NULL;
  }
  job_t j = {
      .fd = (int)fd, .first = (uint64_t)first, .count = (uint64_t)count, .block_size = (uint32_t)block_size,
      .salt = salt, .salt_len = salt_len, .salt_first = salt_first, .out = out, .out_len = out_len,
      .entry_size = (uint32_t)entry_size, .hashes_per_block = (uint32_t)hashes_per_block, .hash_block_size = (uint32_t)hash_block_size,
  };
  atomic_init(&j.next, 0);
  pthread_mutex_init(&j.lock, NULL);
  int n = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : (int)threads;
  pthread_t started[MAX_THREADS];
  int running = 0;
  /* The calling thread hashes too; a thread that cannot start leaves its share to the others. */
  for (int i = 1; i < n; i++) {
    if (pthread_create(&started[running], NULL, hash_chunks, &j) == 0) running++;
  }
  hash_chunks(&j);
  for (int i = 0; i < running; i++) pthread_join(started[i], NULL);
  pthread_mutex_destroy(&j.lock);
  if (j.failure[0] != '\0') {
    napi_value message, error, code;
    napi_create_string_utf8(env, j.failure, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_create_string_utf8(env, "READ_FAILED", NAPI_AUTO_LENGTH, &code);
    napi_set_named_property(env, error, "verityCode", code);
    napi_throw(env, error);
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "hashLeaves", NAPI_AUTO_LENGTH, hash_leaves, NULL, &f);
  napi_set_named_property(env, exports, "hashLeaves", f);
  return exports;
}
