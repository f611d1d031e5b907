/**
 * The digest each image was known by when it was pulled: the pull gate is
 * containerd's image verifier, so it is handed the digest the registry
 * resolved the reference to (`-digest`) before anything is stored. The
 * application tier's start-time check compares the node's local copy with
 * this record when the pod names a tag rather than a digest.
 *
 * Trust: the record is a root-owned file on the node. It is written only by
 * the pull gate, but root on the node can rewrite it (docs/architecture.md,
 * "Application tier: threat model").
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const PULL_RECORD_PATH = '/var/lib/integrity-lab/pulled-digests.json';

export type PullRecord = Record<string, { digest: string; time: string }>;

export type PullRecordRead = { ok: true; record: PullRecord } | { ok: false; reason: string };

/** Reads the record; a missing file is an empty record, anything else unreadable is a failure to report. */
export function readPullRecord(path = PULL_RECORD_PATH, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): PullRecordRead {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, record: {} };
    return { ok: false, reason: `${path}: cannot read: ${(err as Error).message}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `${path}: not JSON (${text.length} bytes): ${(err as Error).message}` };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { ok: false, reason: `${path}: expected an object of image name → { digest, time }` };
  for (const [name, entry] of Object.entries(data as Record<string, unknown>)) {
    const digest = (entry as { digest?: unknown } | null)?.digest;
    if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest)) return { ok: false, reason: `${path}: ${name}: digest: expected sha256:<64 hex>, got ${JSON.stringify(digest)}` };
  }
  return { ok: true, record: data as PullRecord };
}

/**
 * Records an admitted pull (write to a temporary file, then rename: a reader
 * never sees half a record). An unreadable record is left as it is, and
 * false returned: overwriting it would silently drop every other image's
 * reference, while leaving it makes each start check report
 * APP_REFERENCE_UNREADABLE and refuse until someone looks.
 */
export function recordPull(name: string, digest: string, time: Date, path = PULL_RECORD_PATH): boolean {
  const current = readPullRecord(path);
  if (!current.ok) return false;
  const record = current.record;
  record[name] = { digest, time: time.toISOString() };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(record, null, 1));
  renameSync(`${path}.tmp`, path);
  return true;
}
