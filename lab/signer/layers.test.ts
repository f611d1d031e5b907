import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { isLabError } from '../errors.ts';
import type { Exec, ExecResult } from '../exec.ts';
import { DELIVERY_KIT_SALT_HEX } from '../verity/index.ts';
import { sha256Digest } from './encoding.ts';
import { UUID_NAMESPACE_URL, annotateLayerRootHashes, buildTimestampOf, computeLayerRootHashes, nodeMkfsErofsArgv, uuidV5 } from './layers.ts';
import { ANNOTATIONS } from './manifest.ts';
import type { OciDescriptor, OciManifest } from './manifest.ts';
import { sampleManifest } from './test-fixtures.ts';

const pythonUuid5 = (name: string): string =>
  execFileSync('python3', ['-c', 'import sys, uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[1]))', name], { encoding: 'utf8' }).trim();

describe('uuidV5', () => {
  describe('when given the RFC 9562 Appendix A.4 example', () => {
    it('returns its UUID', () => {
      assert.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
    });
  });

  describe('when naming an erofs blob in the URL namespace', () => {
    it("matches Python's uuid.uuid5(NAMESPACE_URL, …)", () => {
      for (const digest of [`sha256:${'1'.repeat(64)}`, sha256Digest('layer')]) {
        assert.equal(uuidV5(UUID_NAMESPACE_URL, `erofs:blobs/${digest}`), pythonUuid5(`erofs:blobs/${digest}`));
      }
    });
  });
});

describe('nodeMkfsErofsArgv', () => {
  describe('when building the argv for a layer', () => {
    it("is containerd 2.1's differ command with the lab node's mkfs_options and a UUID of the blob digest", () => {
      const digest = `sha256:${'1'.repeat(64)}`;
      const argv = nodeMkfsErofsArgv({ digest, diffId: `sha256:${'9'.repeat(64)}` }, '/w/l.erofs', '/w/l.tar');
      assert.deepEqual(argv, [
        'mkfs.erofs', '--tar=f', '--aufs', '--quiet', '-Enoinline_data', '-T0', '--mkfs-time', '--sort=none',
        '-U', '0af60004-de54-5c30-b94d-7ba4b93b95af', '/w/l.erofs', '/w/l.tar',
      ]);
      assert.equal(argv[9], pythonUuid5(`erofs:blobs/${digest}`));
      assert.equal(buildTimestampOf(argv), '0');
    });
  });
});

describe('buildTimestampOf', () => {
  describe('when the argv has no fixed -T', () => {
    it('throws LAYER_BAD_RECIPE: the image would not be reproducible', () => {
      assert.throws(() => buildTimestampOf(['mkfs.erofs', '--tar=f', 'out', 'in']), (e) => isLabError(e, 'LAYER_BAD_RECIPE'));
    });
  });
  describe('when -T is a separate argument', () => {
    it('reads it', () => assert.equal(buildTimestampOf(['mkfs.erofs', '-T', '1750791050']), '1750791050'));
  });
});

/** A stand-in for mkfs.erofs: records its argv and writes "EROFS(" + tar + ")" to the output path. */
function fakeMkfs(): Exec & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(argv): Promise<ExecResult> {
      calls.push([...argv]);
      const out = argv.at(-2);
      const input = argv.at(-1);
      assert.ok(out && input);
      await writeFile(out, Buffer.concat([Buffer.from('EROFS('), await readFile(input), Buffer.from(')')]));
      return { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' };
    },
  };
}

const sha256File = async (path: string): Promise<Buffer> => createHash('sha256').update(await readFile(path)).digest();

function layerOf(mediaType: string, blob: Buffer): OciDescriptor {
  return { mediaType, digest: sha256Digest(blob), size: blob.length };
}

describe('computeLayerRootHashes', () => {
  const tars = [Buffer.from('tar one'), Buffer.from('tar two'), Buffer.from('tar three')];
  const blobs = [gzipSync(tars[0] as Buffer), zstdCompressSync(tars[1] as Buffer), tars[2] as Buffer];
  const manifest = (): OciManifest => ({
    ...sampleManifest(),
    layers: [
      layerOf('application/vnd.docker.image.rootfs.diff.tar.gzip', blobs[0] as Buffer),
      layerOf('application/vnd.oci.image.layer.v1.tar+zstd', blobs[1] as Buffer),
      layerOf('application/vnd.oci.image.layer.v1.tar', blobs[2] as Buffer),
    ],
  });
  const fetchFrom = (list: Buffer[]) => async (layer: OciDescriptor): Promise<Buffer> => {
    const found = list.find((b) => sha256Digest(b) === layer.digest);
    assert.ok(found);
    return found;
  };

  describe('when every layer is a tar, tar+gzip or tar+zstd blob', () => {
    it('runs mkfs on each uncompressed tar, hashes the image, and cleans up', async () => {
      const workDir = await mkdtemp(join(tmpdir(), 'signer-test-'));
      try {
        const exec = fakeMkfs();
        const hashes = await computeLayerRootHashes(manifest(), { fetchBlob: fetchFrom(blobs), exec, workDir, rootHasher: sha256File });
        assert.equal(hashes.length, 3);
        hashes.forEach((h, i) => {
          const expected = createHash('sha256').update(Buffer.concat([Buffer.from('EROFS('), tars[i] as Buffer, Buffer.from(')')])).digest();
          assert.deepEqual(h.rootHash, expected, `layer ${i}`);
          assert.equal(h.diffId, sha256Digest(tars[i] as Buffer));
          assert.equal(h.uuid, uuidV5(UUID_NAMESPACE_URL, `erofs:blobs/${sha256Digest(blobs[i] as Buffer)}`));
          assert.equal(h.buildTimestamp, '0');
        });
        assert.equal(exec.calls.length, 3);
        assert.equal(exec.calls[0]?.[0], 'mkfs.erofs');
        assert.deepEqual(await readdir(workDir), []);
      } finally {
        await rm(workDir, { recursive: true, force: true });
      }
    });
  });

  describe('when the registry returns a blob that does not match its digest', () => {
    it('throws LAYER_DIGEST_MISMATCH before running mkfs', async () => {
      const exec = fakeMkfs();
      const lying = async (): Promise<Buffer> => Buffer.from('something else');
      await assert.rejects(
        computeLayerRootHashes(manifest(), { fetchBlob: lying, exec, workDir: tmpdir(), rootHasher: sha256File }),
        (e) => isLabError(e, 'LAYER_DIGEST_MISMATCH'),
      );
      assert.equal(exec.calls.length, 0);
    });
  });

  describe('when a layer is not a tar', () => {
    it('throws LAYER_UNSUPPORTED_MEDIA_TYPE', async () => {
      const blob = Buffer.from('erofs image');
      const m: OciManifest = { ...sampleManifest(), layers: [layerOf('application/vnd.example.layer.v1.erofs', blob)] };
      await assert.rejects(
        computeLayerRootHashes(m, { fetchBlob: async () => blob, exec: fakeMkfs(), workDir: tmpdir(), rootHasher: sha256File }),
        (e) => isLabError(e, 'LAYER_UNSUPPORTED_MEDIA_TYPE'),
      );
    });
  });

  describe('when mkfs.erofs fails', () => {
    it('reports the command, its exit code and its stderr', async () => {
      const failing: Exec = { run: async () => ({ exitCode: 1, stdout: Buffer.alloc(0), stderr: 'mkfs.erofs: invalid option -- T' }) };
      await assert.rejects(
        computeLayerRootHashes(manifest(), { fetchBlob: fetchFrom(blobs), exec: failing, workDir: tmpdir(), rootHasher: sha256File }),
        (e) => isLabError(e, 'EXEC_FAILED') && /exit code 1: mkfs\.erofs --tar=f/.test(e.message) && /invalid option/.test(e.message),
      );
    });
  });
});

describe('computeLayerRootHashes with the default hasher', () => {
  describe('when the EROFS image is hashed with the delivery-kit parameters', () => {
    it('gives the root hash veritysetup format gives for the same file and salt', async () => {
      const workDir = await mkdtemp(join(tmpdir(), 'signer-test-'));
      try {
        const tar = Buffer.alloc(3 * 4096 + 100, 7);
        const blob = gzipSync(tar);
        const image = Buffer.alloc(4 * 4096, 0x5a);
        const mkfs: Exec = {
          async run(argv): Promise<ExecResult> {
            await writeFile(argv.at(-2) ?? '', image);
            await writeFile(join(workDir, 'copy.erofs'), image);
            return { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' };
          },
        };
        const m: OciManifest = { ...sampleManifest(), layers: [layerOf('application/vnd.oci.image.layer.v1.tar+gzip', blob)] };
        const [h] = await computeLayerRootHashes(m, { fetchBlob: async () => blob, exec: mkfs, workDir });
        const out = execFileSync('veritysetup', ['format', '--hash=sha256', '--data-block-size=4096', '--hash-block-size=4096', `--salt=${DELIVERY_KIT_SALT_HEX}`, join(workDir, 'copy.erofs'), join(workDir, 'hash')], { encoding: 'utf8' });
        const root = /Root hash:\s+([0-9a-f]{64})/.exec(out)?.[1];
        assert.ok(root, out);
        assert.equal(h?.rootHash.toString('hex'), root);
      } finally {
        await rm(workDir, { recursive: true, force: true });
      }
    });
  });
});

describe('annotateLayerRootHashes', () => {
  describe('when given hashes for each layer', () => {
    it('writes the root hash and build timestamp annotations without touching the input', () => {
      const input = sampleManifest();
      const hashes = input.layers.map((l, index) => ({ index, digest: l.digest, diffId: '', uuid: '', rootHash: Buffer.alloc(32, index + 0xa0), buildTimestamp: '0' }));
      const out = annotateLayerRootHashes(input, hashes);
      assert.deepEqual(input, sampleManifest());
      assert.equal(out.layers[1]?.annotations?.[ANNOTATIONS.rootHash], 'a1'.repeat(32));
      assert.equal(out.layers[1]?.annotations?.[ANNOTATIONS.buildTimestamp], '0');
    });
  });

  describe('when a hash belongs to another layer', () => {
    it('throws LAYER_DIGEST_MISMATCH', () => {
      const input = sampleManifest();
      assert.throws(
        () => annotateLayerRootHashes(input, [{ index: 0, digest: input.layers[1]?.digest ?? '', diffId: '', uuid: '', rootHash: Buffer.alloc(32), buildTimestamp: '0' }]),
        (e) => isLabError(e, 'LAYER_DIGEST_MISMATCH'),
      );
    });
  });
});
