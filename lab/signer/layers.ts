/**
 * Per-layer dm-verity root hashes, computed at signing time over the exact
 * EROFS image the node's containerd will build from the layer, so that the
 * node can open (or check) `layer.erofs` against a root hash the signer
 * vouched for.
 *
 * The node's recipe is containerd 2.1's erofs differ
 * (plugins/diff/erofs/differ_linux.go + internal/erofsutils/mount.go
 * ConvertTarErofs): it pipes the *uncompressed* layer tar into
 *   mkfs.erofs --tar=f --aufs --quiet -Enoinline_data <mkfs_options> -U <uuid> <layer.erofs>
 * where <uuid> = uuid.NewSHA1(uuid.NameSpaceURL, "erofs:blobs/" + desc.Digest),
 * desc being the manifest's layer descriptor (so the digest of the blob as
 * stored, compressed), and the lab node sets
 * mkfs_options = ["-T0", "--mkfs-time", "--sort=none"], which makes the image
 * reproducible (FACTS.md). `nodeMkfsErofsArgv` is the single place that
 * encodes this; if the node turns out to differ, edit only that function.
 *
 * Note the published delivery-kit recipe is different
 * (`mkfs.erofs -Uclear -T<timestamp> -x-1 -Enoinline_data --aufs --tar=-`);
 * its root hash would not match what vanilla containerd 2.1 builds, which is
 * what the lab's node actually mounts.
 */
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { LabError } from '../errors.ts';
import { runChecked } from '../exec.ts';
import type { Exec } from '../exec.ts';
import { silent, step } from '../progress.ts';
import type { ProgressListener } from '../progress.ts';
import { DELIVERY_KIT_PARAMS, computeRootHash } from '../verity/index.ts';
import { quote, sha256Digest } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { ANNOTATIONS, MEDIA_TYPES, cloneManifest } from './manifest.ts';
import type { OciDescriptor, OciManifest } from './manifest.ts';

/** RFC 9562 §6.6 (RFC 4122 Appendix C) name space ID for URLs. */
export const UUID_NAMESPACE_URL = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/**
 * Name-based UUID version 5 (SHA-1), RFC 9562 §5.5: SHA-1 over the
 * namespace's 16 bytes then the name, first 16 bytes kept, version nibble
 * set to 5, variant bits to 10.
 */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new LabError<SignerErrorCode>('LAYER_BAD_RECIPE', `uuidV5: namespace: expected a UUID, got ${quote(namespace)}`);
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const h = hash.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** dm-verity root hash of a file with the delivery-kit parameters (lab/verity). */
export function verityRootHasher(erofsPath: string): Promise<Buffer> {
  return computeRootHash(erofsPath, DELIVERY_KIT_PARAMS);
}

/** What the node's mkfs run needs to know about one layer. */
export interface LayerIdentity {
  /** The layer descriptor's digest in the manifest: the blob as stored (compressed). */
  digest: string;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
}

/**
 * THE node recipe: the mkfs.erofs command line containerd 2.1's erofs
 * differ runs on the lab node for one layer, and the UUID it derives.
 * Digest choice: the descriptor digest (compressed blob), as `desc.Digest`
 * in containerd. Argument order: containerd's, with the tar given as the
 * SOURCE operand instead of on stdin (mkfs.erofs reads it the same way).
 */
export function nodeMkfsErofsArgv(layer: LayerIdentity, outputPath: string, tarPath: string): string[] {
  const uuid = uuidV5(UUID_NAMESPACE_URL, `erofs:blobs/${layer.digest}`);
  return ['mkfs.erofs', '--tar=f', '--aufs', '--quiet', '-Enoinline_data', '-T0', '--mkfs-time', '--sort=none', '-U', uuid, outputPath, tarPath];
}

/** The build time (`-T<seconds>`) an argv asks mkfs.erofs for, as the build-timestamp annotation records it. */
export function buildTimestampOf(argv: readonly string[]): string {
  const i = argv.findIndex((a) => a === '-T' || /^-T\d+$/.test(a));
  const value = i < 0 ? undefined : argv[i] === '-T' ? argv[i + 1] : argv[i]?.slice(2);
  if (value === undefined || !/^\d+$/.test(value)) {
    throw new LabError<SignerErrorCode>('LAYER_BAD_RECIPE', `mkfs.erofs argv: expected a fixed -T<seconds> so the image is reproducible, got ${quote(argv.join(' '), 200)}`);
  }
  return value;
}

/** The uncompressed tar of a layer blob, by the descriptor's media type. */
export function uncompressLayer(layer: OciDescriptor, blob: Buffer): Buffer {
  switch (layer.mediaType) {
    case MEDIA_TYPES.ociLayerTar:
    case MEDIA_TYPES.dockerLayerTar:
      return blob;
    case MEDIA_TYPES.ociLayerGzip:
    case MEDIA_TYPES.dockerLayerGzip:
      return gunzipSync(blob);
    case MEDIA_TYPES.ociLayerZstd:
      return zstdDecompressSync(blob);
    default:
      throw new LabError<SignerErrorCode>(
        'LAYER_UNSUPPORTED_MEDIA_TYPE',
        `layer ${layer.digest}: media type ${quote(layer.mediaType)} is not a tar, tar+gzip or tar+zstd layer; cannot build its EROFS image`,
      );
  }
}

export interface LayerRootHash {
  index: number;
  digest: string;
  diffId: string;
  /** The filesystem UUID given to mkfs.erofs. */
  uuid: string;
  rootHash: Buffer;
  /** The `-T` value the EROFS image was built with. */
  buildTimestamp: string;
}

export interface LayerRootHashOptions {
  /** The layer blob as stored in the registry; its digest is checked here. */
  fetchBlob: (layer: OciDescriptor) => Promise<Buffer>;
  /** Runs mkfs.erofs: locally, or inside the lab node. */
  exec: Exec;
  /** Scratch directory, at the same path for this process and for `exec`. */
  workDir: string;
  /** Root hash of an EROFS image file. Default: verityRootHasher. */
  rootHasher?: (erofsPath: string) => Promise<Buffer>;
  /** Override of nodeMkfsErofsArgv, for tests and for experiments with other recipes. */
  argv?: (layer: LayerIdentity, outputPath: string, tarPath: string) => string[];
  progress?: ProgressListener;
  /** Keep the tar and EROFS files in workDir (default: removed). */
  keepFiles?: boolean;
}

/**
 * For every layer: fetch the blob, check its digest (the registry is not
 * trusted), uncompress it, build the node's EROFS image with mkfs.erofs,
 * and hash it with dm-verity.
 */
export async function computeLayerRootHashes(manifest: OciManifest, options: LayerRootHashOptions): Promise<LayerRootHash[]> {
  const progress = options.progress ?? silent;
  const argvOf = options.argv ?? nodeMkfsErofsArgv;
  const rootHasher = options.rootHasher ?? verityRootHasher;
  const out: LayerRootHash[] = [];
  for (const [index, layer] of manifest.layers.entries()) {
    out.push(
      await step(progress, 'BUILD', `layer ${index} ${layer.digest}: EROFS image and dm-verity root hash`, async () => {
        const blob = await options.fetchBlob(layer);
        const actual = sha256Digest(blob);
        if (actual !== layer.digest) {
          throw new LabError<SignerErrorCode>('LAYER_DIGEST_MISMATCH', `layer ${index}: expected blob ${layer.digest}, got ${blob.length} bytes hashing to ${actual}`);
        }
        const tar = uncompressLayer(layer, blob);
        const identity: LayerIdentity = { digest: layer.digest, diffId: sha256Digest(tar) };
        // Unique per call: two rebuilds of the same layer may run at once (the start gate's
        // application check and the watchdog's reference derivation share the work directory).
        const stem = join(options.workDir, `layer-${index}-${layer.digest.replace(/^sha256:/, '').slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
        const tarPath = `${stem}.tar`;
        const erofsPath = `${stem}.erofs`;
        const argv = argvOf(identity, erofsPath, tarPath);
        try {
          await writeFile(tarPath, tar);
          await rm(erofsPath, { force: true });
          await runChecked(options.exec, argv, { timeoutMs: 600_000 });
          const rootHash = await rootHasher(erofsPath);
          return {
            index,
            digest: layer.digest,
            diffId: identity.diffId,
            uuid: argv[argv.indexOf('-U') + 1] ?? '',
            rootHash,
            buildTimestamp: buildTimestampOf(argv),
          };
        } finally {
          if (options.keepFiles !== true) await Promise.all([rm(tarPath, { force: true }), rm(erofsPath, { force: true })]);
        }
      }),
    );
  }
  return out;
}

/**
 * A copy of `manifest` with each layer annotated with its root hash and
 * build timestamp. Pure. Sign after this: a v2 signature then covers them.
 */
export function annotateLayerRootHashes(manifest: OciManifest, hashes: readonly LayerRootHash[]): OciManifest {
  const out = cloneManifest(manifest);
  for (const h of hashes) {
    const layer = out.layers[h.index];
    if (layer === undefined || layer.digest !== h.digest) {
      throw new LabError<SignerErrorCode>('LAYER_DIGEST_MISMATCH', `annotateLayerRootHashes: layer ${h.index}: expected ${h.digest}, the manifest has ${layer?.digest ?? 'no such layer'}`);
    }
    layer.annotations = {
      ...layer.annotations,
      [ANNOTATIONS.buildTimestamp]: h.buildTimestamp,
      [ANNOTATIONS.rootHash]: h.rootHash.toString('hex'),
    };
  }
  return out;
}
