/**
 * Builds the lab's test images from local content (a Workload's image spec),
 * as OCI image manifests with gzip layers. Builds are deterministic: the same
 * spec and the same busybox binary give the same digests.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { LayerSpec, Workload } from '../spec/schemas.ts';
import { buildTar, type TarEntry } from './tar.ts';

export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  repository: string;
  tag: string;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: string;
  /** Every blob by digest: config and compressed layers. */
  blobs: Map<string, Buffer>;
  /** Uncompressed layer tars, base first (what mkfs.erofs --tar reads). */
  layerTars: Buffer[];
}

export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Busybox applets linked into /bin when a layer asks for busybox. */
export const BUSYBOX_APPLETS = [
  'sh', 'ash', 'cat', 'ls', 'sleep', 'echo', 'mount', 'umount', 'touch', 'id', 'head', 'tail', 'grep', 'wc',
  'sha256sum', 'stat', 'df', 'dd', 'rm', 'mkdir', 'env', 'ps', 'true', 'false', 'test', 'printf', 'cp', 'mv',
  'chmod', 'ln', 'find', 'hostname', 'sync', 'readlink', 'du', 'tr',
];

/** Deterministic pseudo-random bytes: AES-256-CTR keystream keyed by sha256(seed). */
export function deterministicBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(`integrity-lab:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16, 0));
  return Buffer.concat([cipher.update(Buffer.alloc(size, 0)), cipher.final()]);
}

export interface BuildSources {
  /** The static busybox binary (read from the lab node). */
  busybox(): Promise<Buffer>;
}

async function layerEntries(layer: LayerSpec, sources: BuildSources): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  if (layer.busybox) {
    entries.push({ type: 'file', path: '/bin/busybox', content: await sources.busybox(), mode: 0o755 });
    for (const applet of BUSYBOX_APPLETS) entries.push({ type: 'symlink', path: `/bin/${applet}`, target: 'busybox' });
  }
  for (const f of layer.files ?? []) {
    entries.push({ type: 'file', path: f.path, content: Buffer.from(f.content, 'utf8'), mode: f.mode ?? 0o644 });
  }
  if (layer.random) {
    const size = Math.round(layer.random.sizeMiB * 1024 * 1024);
    entries.push({ type: 'file', path: layer.random.path, content: deterministicBytes(layer.random.seed, size) });
  }
  return entries;
}

/** Builds the image of a workload. */
export async function buildImage(image: Workload['spec']['image'], sources: BuildSources): Promise<BuiltImage> {
  const layers: TarEntry[][] = [];
  for (const layer of image.layers) layers.push(await layerEntries(layer, sources));
  return assembleImage({ repository: image.repository, tag: image.tag, layers, entrypoint: image.entrypoint, user: image.user, annotations: image.annotations });
}

export interface ImageRecipe {
  repository: string;
  tag: string;
  /** Each layer's entries, base first. */
  layers: TarEntry[][];
  entrypoint?: string[];
  /** The config's User (a name, a uid, `user:group`); absent: root. */
  user?: string;
  annotations?: Record<string, string>;
}

/**
 * Compressed layers by the digest of their tar (the diff ID). gzip is the
 * one costly step of a build, and every lab of a run builds the same pause
 * and workload images again; the compression of a given tar never changes
 * (level 6, no file name, mtime 0), so it is done once per process.
 * Bounded by bytes, oldest out first; layers over a quarter of the bound
 * are not kept. Callers get their own copy: an attack that edits a blob it
 * was given cannot change the next lab's image.
 */
export class GzipMemo {
  readonly #byDiffId = new Map<string, Buffer>();
  #bytes = 0;
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  gzip(tar: Buffer, diffId: string): Buffer {
    const hit = this.#byDiffId.get(diffId);
    if (hit) {
      // Most recently used last.
      this.#byDiffId.delete(diffId);
      this.#byDiffId.set(diffId, hit);
      return Buffer.from(hit);
    }
    const gz = gzipSync(tar, { level: 6 });
    if (gz.length > this.maxBytes / 4) return gz;
    this.#byDiffId.set(diffId, Buffer.from(gz));
    this.#bytes += gz.length;
    for (const [oldest, old] of this.#byDiffId) {
      if (this.#bytes <= this.maxBytes) break;
      this.#byDiffId.delete(oldest);
      this.#bytes -= old.length;
    }
    return gz;
  }

  has(diffId: string): boolean {
    return this.#byDiffId.has(diffId);
  }

  get size(): { layers: number; bytes: number } {
    return { layers: this.#byDiffId.size, bytes: this.#bytes };
  }
}

const gzipMemo = new GzipMemo(128 * 1024 * 1024);

/** Assembles an OCI image from layer entries: deterministic tars, gzip layers, config and manifest. */
export function assembleImage(recipe: ImageRecipe, memo: GzipMemo = gzipMemo): BuiltImage {
  const blobs = new Map<string, Buffer>();
  const layerTars: Buffer[] = [];
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const entries of recipe.layers) {
    const tar = buildTar(entries);
    const diffId = sha256Digest(tar);
    const gz = memo.gzip(tar, diffId);
    const digest = sha256Digest(gz);
    blobs.set(digest, gz);
    layerTars.push(tar);
    layers.push({ mediaType: MEDIA_TYPES.layerGzip, digest, size: gz.length });
    diffIds.push(diffId);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Entrypoint: recipe.entrypoint,
        ...(recipe.user ? { User: recipe.user } : {}),
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = sha256Digest(config);
  blobs.set(configDigest, config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDigest, size: config.length },
    layers,
    ...(recipe.annotations && Object.keys(recipe.annotations).length ? { annotations: { ...recipe.annotations } } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    repository: recipe.repository,
    tag: recipe.tag,
    manifest,
    manifestBytes,
    manifestDigest: sha256Digest(manifestBytes),
    blobs,
    layerTars,
  };
}
