/**
 * containerd's content store, read the way the gates and the watchdog must:
 * every blob is read by digest and its bytes are hashed again before they
 * are used. A blob edited in place on the node (root can; containerd does
 * not re-check what it reads back) is an error, never data.
 *
 * The image record (name → manifest or index digest) comes from containerd
 * (`ctr images ls`); the bytes come from the blob files, which is also much
 * cheaper than one `ctr content get` per blob.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { runChecked, type Exec } from '../exec.ts';
import { Refusal } from './refusal.ts';

export const CONTENT_ROOT = '/var/lib/containerd/io.containerd.content.v1.content';

export interface ContainerdTarget {
  address?: string;
  namespace: string;
}

export interface ContentStore {
  /** The blob's bytes, checked against its digest; throws a Refusal when they differ or cannot be read. */
  blob(digest: string): Buffer;
}

/** The content store's blob files under `root`, each checked against its digest. */
export function blobFiles(root = CONTENT_ROOT, read: (path: string) => Buffer = (p) => readFileSync(p)): ContentStore {
  return {
    blob(digest) {
      const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
      if (!m) throw new Refusal(`content digest ${JSON.stringify(digest)} is not sha256:<64 hex>`);
      const path = posix.join(root, 'blobs', 'sha256', m[1]!);
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

const ctr = (c: ContainerdTarget, ...args: string[]) => ['ctr', ...(c.address ? ['--address', c.address] : []), '-n', c.namespace, ...args];

/** containerd's image record for `image`: its target digest. */
export async function imageTargetDigest(exec: Exec, c: ContainerdTarget, image: string): Promise<string> {
  const r = await runChecked(exec, ctr(c, 'images', 'ls', `name==${image}`));
  const line = r.stdout.toString().split('\n').slice(1).find((l) => l.startsWith(`${image} `));
  const digest = line?.trim().split(/\s+/)[2];
  if (!digest?.startsWith('sha256:')) throw new Refusal(`image ${image} is not in containerd's image store (namespace ${c.namespace})`);
  return digest;
}

/**
 * The image a CRI container was created from, as containerd's CRI recorded
 * it at CreateContainer: its image ID, which is the digest of the image's
 * config (the container record's `io.cri-containerd.container.metadata`
 * extension, `ImageRef`). The OCI spec's process (entrypoint, command, env,
 * user, working directory) was built then from that config, so this, not
 * the image's name looked up again at start, says what the container runs.
 */
export async function criImageIdOf(exec: Exec, c: ContainerdTarget, containerId: string): Promise<string> {
  const r = await exec.run(ctr(c, 'containers', 'info', containerId));
  if (r.exitCode !== 0) throw new Refusal(`container ${containerId} has no containerd record to say which image CRI created it from: ${r.stderr.trim()}`);
  let imageRef: unknown;
  try {
    const info = JSON.parse(r.stdout.toString()) as { Extensions?: Record<string, { value?: string }> };
    const meta = info.Extensions?.['io.cri-containerd.container.metadata']?.value;
    imageRef = meta === undefined ? undefined : (JSON.parse(Buffer.from(meta, 'base64').toString('utf8')) as { Metadata?: { ImageRef?: unknown } }).Metadata?.ImageRef;
  } catch (err) {
    throw new Refusal(`container ${containerId}: containerd's record of it cannot be read (${(err as Error).message})`);
  }
  if (typeof imageRef !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(imageRef)) {
    throw new Refusal(`container ${containerId} was not created through CRI (its containerd record names no image ID): a protected container must be`);
  }
  return imageRef;
}

/** The image's manifest (the linux/amd64 one of an index), its bytes checked against the digest that names them. */
export async function manifestOf(exec: Exec, c: ContainerdTarget, image: string, store: ContentStore): Promise<{ bytes: Buffer; digest: string }> {
  let digest = await imageTargetDigest(exec, c, image);
  let bytes = store.blob(digest);
  let parsed: { manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[] };
  try {
    parsed = JSON.parse(bytes.toString()) as typeof parsed;
  } catch (err) {
    throw new Refusal(`image ${image}: blob ${digest} is not JSON: ${(err as Error).message}`);
  }
  if (parsed.manifests) {
    const entry = parsed.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
    if (!entry) throw new Refusal(`image ${image}: its index has no linux/amd64 manifest`);
    digest = entry.digest;
    bytes = store.blob(digest);
  }
  return { bytes, digest };
}
