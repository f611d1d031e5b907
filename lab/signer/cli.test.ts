import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { CliIo } from '../cli/command.ts';
import type { Exec, ExecResult } from '../exec.ts';
import { createSignCommand } from './cli.ts';
import { sha256Digest } from './encoding.ts';
import { ANNOTATIONS, MEDIA_TYPES } from './manifest.ts';
import type { OciManifest } from './manifest.ts';
import { RegistryClient } from './registry.ts';
import { clock } from './test-fixtures.ts';
import { startFakeRegistry } from './test-registry.ts';
import type { FakeRegistry } from './test-registry.ts';

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

/** Stand-in for mkfs.erofs: a deterministic 8 KiB "image" derived from the tar and the -U uuid. */
const mkfs: Exec & { runs: number } = {
  runs: 0,
  async run(argv): Promise<ExecResult> {
    this.runs++;
    const tar = await readFile(argv.at(-1) ?? '');
    const seed = createHash('sha256').update(tar).update(argv[argv.indexOf('-U') + 1] ?? '').digest();
    await writeFile(argv.at(-2) ?? '', Buffer.concat(Array.from({ length: 256 }, () => seed)));
    return { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' };
  },
};

let registry: FakeRegistry;
let client: RegistryClient;
let dir: string;
const command = createSignCommand({ exec: mkfs, clock });

before(async () => {
  registry = await startFakeRegistry();
  client = new RegistryClient(registry.url);
  dir = await mkdtemp(join(tmpdir(), 'signer-cli-test-'));
  // An unsigned two-layer image, as lab/images would push it.
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const layers = [gzipSync(Buffer.from('first layer tar')), gzipSync(Buffer.from('second layer tar'))];
  for (const blob of [config, ...layers]) await client.putBlob('lab/app', blob);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256Digest(config), size: config.length },
    layers: layers.map((b) => ({ mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha256Digest(b), size: b.length })),
  };
  await client.putManifest('lab/app', '1', Buffer.from(JSON.stringify(manifest)), MEDIA_TYPES.ociManifest);
});
after(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sign command', () => {
  describe('when a lab makes a PKI, signs an image in v2 and verifies it', () => {
    it('pushes a signed manifest with root hashes and verifies it, also after recomputing them', async () => {
      const pki = join(dir, 'pki');
      const io = capture();
      assert.equal(await command.run(['pki', 'init', pki, '--tls-dns', 'webhook.lab.svc'], io), 0, io.stderr.join('\n'));
      assert.equal(io.stdout[0], join(pki, 'root-ca.pem'));

      const signIo = capture();
      assert.equal(await command.run(['--pki', pki, '--registry', registry.url, '--image', 'lab/app:1', '--format', 'v2'], signIo), 0, signIo.stderr.join('\n'));
      const digest = signIo.stdout[0] ?? '';
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      assert.equal(mkfs.runs, 2);
      const pushed = JSON.parse((await client.getManifest('lab/app', '1')).bytes.toString()) as OciManifest;
      assert.equal((await client.getManifest('lab/app', '1')).digest, digest);
      assert.match(pushed.layers[0]?.annotations?.[ANNOTATIONS.rootHash] ?? '', /^[0-9a-f]{64}$/);
      assert.equal(pushed.annotations?.[ANNOTATIONS.signatureFormat], 'v2');

      const verifyIo = capture();
      assert.equal(await command.run(['verify', '--pki', pki, '--registry', registry.url, '--image', `lab/app@${digest}`, '--format', 'v2', '--require-root-hashes'], verifyIo), 0, verifyIo.stderr.join('\n'));
      assert.equal((JSON.parse(verifyIo.stdout.join('\n')) as { ok: boolean }).ok, true);

      const recomputeIo = capture();
      assert.equal(await command.run(['verify', '--pki', pki, '--registry', registry.url, '--image', 'lab/app:1', '--recompute'], recomputeIo), 0, recomputeIo.stderr.join('\n'));
    });
  });

  describe('when someone edits a root hash in the registry after signing', () => {
    it('verify exits 1 and reports SIGNATURE_INVALID', async () => {
      const pki = join(dir, 'pki');
      const m = JSON.parse((await client.getManifest('lab/app', '1')).bytes.toString()) as OciManifest;
      const layer = m.layers[1];
      assert.ok(layer?.annotations);
      layer.annotations[ANNOTATIONS.rootHash] = '0'.repeat(64);
      await client.putManifest('lab/app', 'tampered', Buffer.from(JSON.stringify(m)), MEDIA_TYPES.ociManifest);
      const io = capture();
      assert.equal(await command.run(['verify', '--pki', pki, '--registry', registry.url, '--image', 'lab/app:tampered'], io), 1);
      const result = JSON.parse(io.stdout.join('\n')) as { findings: Array<{ code: string }> };
      assert.deepEqual(result.findings.map((f) => f.code), ['SIGNATURE_INVALID']);
      assert.ok(io.stderr.some((l) => l.startsWith('ERROR SIGNATURE_INVALID: lab/app:tampered:')));
    });
  });

  describe('when arguments are missing or wrong', () => {
    for (const [label, argv] of [
      ['no --pki', ['--registry', 'http://127.0.0.1:1', '--image', 'lab/app:1']],
      ['an unknown format', ['--pki', '/x', '--registry', 'http://127.0.0.1:1', '--image', 'a:1', '--format', 'v3']],
      ['an unknown flag', ['verify', '--bogus']],
      ['pki without init', ['pki', 'make', '/tmp/x']],
    ] as const) {
      it(`exits 2 with the usage for ${label}`, async () => {
        const io = capture();
        assert.equal(await command.run([...argv], io), 2);
        assert.ok(io.stderr.some((l) => l.includes('Usage:')));
      });
    }
  });

  describe('when the PKI directory does not exist', () => {
    it('exits 1 and says which file is missing', async () => {
      const io = capture();
      assert.equal(await command.run(['verify', '--pki', join(dir, 'nope'), '--registry', registry.url, '--image', 'lab/app:1'], io), 1);
      assert.match(io.stderr.join('\n'), /root-ca\.pem.*PKI_MISSING_FILE/);
    });
  });
});
