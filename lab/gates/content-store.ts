/**
 * containerd's content store, read the way the gates and the watchdog must:
 * every blob is read by digest and its bytes are hashed again before they
 * are used. A blob edited in place on the node (root can; containerd does
 * not re-check what it reads back) is an error, never data.
 *
 * The image record (name → manifest or index digest) comes from containerd
 * (containerd-records.ts); the bytes come from the blob files, which is
 * also much cheaper than one `ctr content get` per blob.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { ContainerdRecords } from './containerd-records.ts';
import { Refusal } from './refusal.ts';

export const CONTENT_ROOT = '/var/lib/containerd/io.containerd.content.v1.content';

export interface ContentStore {
  /** The blob's bytes, checked against its digest; throws a Refusal when they differ or cannot be read. */
  blob(digest: string): Buffer;
}

/** A blob's file under `root`; the digest is checked first, so it cannot walk out of the store. */
export function blobPath(root: string, digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new Refusal(`content digest ${JSON.stringify(digest)} is not sha256:<64 hex>`);
  return posix.join(root, 'blobs', 'sha256', m[1]!);
}

/** The content store's blob files under `root`, each checked against its digest. */
export function blobFiles(root = CONTENT_ROOT, read: (path: string) => Buffer = (p) => readFileSync(p)): ContentStore {
  return {
    blob(digest) {
      const path = blobPath(root, digest);
      let bytes: Buffer;
      try {
        bytes = read(path);
      } catch (err) {
        throw new Refusal(`cannot read blob ${digest} from the content store (${path}): ${(err as Error).message}`);
      }
      const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (actual !== digest) throw new Refusal(`blob ${digest} in the content store (${path}) has been altered: its ${bytes.length} bytes hash to ${actual}`);
      return bytes;
    },
  };
}

/** The image's manifest (the linux/amd64 one of an index), its bytes checked against the digest that names them. */
export async function manifestOf(records: ContainerdRecords, image: string, store: ContentStore): Promise<{ bytes: Buffer; digest: string }> {
  let digest = await records.imageTarget(image);
  let bytes = store.blob(digest);
  const index = indexEntry(bytes, `image ${image}: blob ${digest}`);
  if (index.isIndex) {
    if (!index.manifest) throw new Refusal(`image ${image}: its index has no linux/amd64 manifest`);
    digest = index.manifest;
    bytes = store.blob(digest);
  }
  return { bytes, digest };
}

/** Whether a checked blob is an image index, and if so its linux/amd64 manifest's digest. */
export function indexEntry(bytes: Buffer, what: string): { isIndex: boolean; manifest?: string } {
  let parsed: { manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[] };
  try {
    parsed = JSON.parse(bytes.toString()) as typeof parsed;
  } catch (err) {
    throw new Refusal(`${what} is not JSON: ${(err as Error).message}`);
  }
  if (!parsed.manifests) return { isIndex: false };
  return { isIndex: true, manifest: parsed.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64')?.digest };
}
