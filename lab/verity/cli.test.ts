import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CliIo } from '../cli/command.ts';
import { command, createVerityCommand } from './cli.ts';
import { DELIVERY_KIT_PARAMS } from './params.ts';
import { describeRun, rootHashFromOutput, runVeritysetup, veritysetupAvailable } from './veritysetup.ts';

const skip = !veritysetupAvailable() && 'veritysetup is not installed at /usr/sbin/veritysetup';

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (line) => void stdout.push(line), err: (line) => void stderr.push(line) };
}

function bytes(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size + 32);
  for (let off = 0, n = 0; off < size; off += 32, n++) createHash('sha256').update(`${seed}/${n}`).digest().copy(out, off);
  return out.subarray(0, size);
}

async function run(argv: string[], cmd = command) {
  const io = capture();
  const code = await cmd.run(argv, io);
  return { code, ...io, root: io.stdout.map((l) => /^Root hash: ([0-9a-f]+)$/.exec(l)?.[1]).find(Boolean) };
}

describe('verity command', { skip }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verity-cli-'));
    await writeFile(join(dir, 'data'), bytes(300 * 4096 + 99, 'cli'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('when formatting with every option veritysetup has', () => {
    it('prints "Root hash: <hex>" and writes the same bytes as veritysetup format', async () => {
      const options = ['--salt', 'c0ffee', '--data-block-size', '1024', '--hash-block-size', '512', '--hash', 'sha512', '--format', '0', '--hash-offset', '1024', '--uuid', '01234567-89ab-cdef-0123-456789abcdef'];
      const ours = await run(['format', join(dir, 'data'), join(dir, 'ours.hash'), ...options]);
      assert.equal(ours.code, 0, ours.stderr.join('\n'));
      const peer = await runVeritysetup(['format', join(dir, 'data'), join(dir, 'peer.hash'), ...options.map((o, i) => (i % 2 === 0 ? `${o}=${options[i + 1]}` : '')).filter(Boolean)]);
      assert.equal(peer.exitCode, 0, describeRun(peer));
      assert.equal(ours.root, rootHashFromOutput(peer.stdout));
      assert.ok((await readFile(join(dir, 'ours.hash'))).equals(await readFile(join(dir, 'peer.hash'))));
      assert.ok(ours.stdout.includes('Hash algorithm: sha512'));
    });

    it('writes the same bytes without a superblock', async () => {
      const ours = await run(['format', join(dir, 'data'), join(dir, 'nosb.hash'), '--no-superblock', '--salt', '-']);
      const peer = await runVeritysetup(['format', join(dir, 'data'), join(dir, 'nosb-peer.hash'), '--no-superblock', '--salt=-']);
      assert.equal(ours.root, rootHashFromOutput(peer.stdout));
      assert.ok((await readFile(join(dir, 'nosb.hash'))).equals(await readFile(join(dir, 'nosb-peer.hash'))));
    });
  });

  describe('when no salt is given', () => {
    it('uses 32 bytes from the injected randomness, like veritysetup\'s random default', async () => {
      const cmd = createVerityCommand({ randomBytes: (n) => Buffer.alloc(n, 0xab) });
      const ours = await run(['format', join(dir, 'data'), join(dir, 'random.hash')], cmd);
      assert.equal(ours.code, 0);
      assert.ok(ours.stdout.includes(`Salt: ${'ab'.repeat(32)}`));
      const peer = await runVeritysetup(['format', join(dir, 'data'), join(dir, 'random-peer.hash'), `--salt=${'ab'.repeat(32)}`]);
      assert.equal(ours.root, rootHashFromOutput(peer.stdout));
    });
  });

  describe('when verifying', () => {
    it('exits 0 for intact files, and 1 naming the first corrupted data block', async () => {
      const formatted = await run(['format', join(dir, 'data'), join(dir, 'v.hash'), '--salt', '00']);
      const root = formatted.root!;
      const ok = await run(['verify', join(dir, 'data'), join(dir, 'v.hash'), root]);
      assert.equal(ok.code, 0, ok.stderr.join('\n'));

      const corrupted = bytes(300 * 4096 + 99, 'cli');
      corrupted[211 * 4096 + 17]! ^= 0x40;
      await writeFile(join(dir, 'corrupted'), corrupted);
      const bad = await run(['verify', join(dir, 'corrupted'), join(dir, 'v.hash'), root]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr.join('\n'), /Verification failed: data block 211 /);
      assert.ok(bad.stdout.includes('First corrupted data block: 211'));
      const peer = await runVeritysetup(['verify', join(dir, 'corrupted'), join(dir, 'v.hash'), root]);
      assert.match(peer.stderr, new RegExp(`position ${211 * 4096}\\.`));
    });

    it('verifies a --no-superblock tree when given the same options', async () => {
      const formatted = await run(['format', join(dir, 'data'), join(dir, 'n.hash'), '--no-superblock', '--salt', '77', '--hash', 'sha1']);
      const ok = await run(['verify', join(dir, 'data'), join(dir, 'n.hash'), formatted.root!, '--no-superblock', '--salt', '77', '--hash', 'sha1']);
      assert.equal(ok.code, 0, ok.stderr.join('\n'));
      const wrongSalt = await run(['verify', join(dir, 'data'), join(dir, 'n.hash'), formatted.root!, '--no-superblock', '--salt', '78', '--hash', 'sha1']);
      assert.equal(wrongSalt.code, 1);
    });
  });

  describe('when computing a root hash only', () => {
    it('defaults to the delivery-kit parameters and writes nothing', async () => {
      const before = (await readdir(dir)).sort();
      const ours = await run(['root-hash', join(dir, 'data')]);
      assert.equal(ours.code, 0);
      assert.deepEqual((await readdir(dir)).sort(), before);
      const peer = await runVeritysetup(['format', join(dir, 'data'), join(dir, 'dk.hash'), `--salt=${DELIVERY_KIT_PARAMS.salt.toString('hex')}`]);
      assert.equal(ours.root, rootHashFromOutput(peer.stdout));
    });
  });

  describe('when the input is bad', () => {
    const cases: [string, string[], RegExp][] = [
      ['a salt that is not hex', ['format', 'DATA', 'HASH', '--salt', 'xyz'], /INVALID_SALT/],
      ['a salt longer than 256 bytes', ['format', 'DATA', 'HASH', '--salt', 'aa'.repeat(257)], /INVALID_SALT/],
      ['a data block size that is not a power of two', ['format', 'DATA', 'HASH', '--data-block-size', '1000'], /INVALID_BLOCK_SIZE/],
      ['a hash block size that is not a number', ['format', 'DATA', 'HASH', '--hash-block-size', '4k'], /INVALID_BLOCK_SIZE/],
      ['an unknown hash', ['format', 'DATA', 'HASH', '--hash', 'md5'], /UNSUPPORTED_HASH/],
      ['an unknown format', ['format', 'DATA', 'HASH', '--format', '2'], /INVALID_HASH_TYPE/],
      ['a misaligned hash offset', ['format', 'DATA', 'HASH', '--hash-offset', '100'], /INVALID_HASH_OFFSET/],
      ['a malformed UUID', ['format', 'DATA', 'HASH', '--uuid', 'nope'], /INVALID_UUID/],
      ['a missing data file', ['format', 'MISSING', 'HASH'], /DATA_FILE_UNREADABLE/],
      ['a root hash that is not hex', ['verify', 'DATA', 'GOOD', 'xx'], /INVALID_ROOT_HASH/],
      ['superblock options without --no-superblock', ['verify', 'DATA', 'GOOD', 'ab'.repeat(32), '--salt', '00'], /--no-superblock/],
      ['--no-superblock without a salt', ['verify', 'DATA', 'GOOD', 'ab'.repeat(32), '--no-superblock'], /--salt is required/],
      ['an unknown option', ['format', 'DATA', 'HASH', '--frobnicate'], /Unknown option/],
      ['a missing argument', ['format', 'DATA'], /expected DATA HASHFILE/],
      ['an unknown action', ['open', 'DATA'], /unknown action/],
    ];
    for (const [name, argv, message] of cases) {
      it(`exits 2 on ${name}, writes nothing, and says why`, async () => {
        await run(['format', join(dir, 'data'), join(dir, 'good.hash'), '--salt', '00']);
        const before = (await readdir(dir)).sort();
        const resolved = argv.map((a) =>
          a === 'DATA' ? join(dir, 'data') : a === 'HASH' ? join(dir, 'bad.hash') : a === 'GOOD' ? join(dir, 'good.hash') : a === 'MISSING' ? join(dir, 'missing') : a,
        );
        const result = await run(resolved);
        assert.equal(result.code, 2);
        assert.match(result.stderr.join('\n'), message);
        assert.deepEqual((await readdir(dir)).sort(), before);
      });
    }

    it('prints usage and exits 0 on --help', async () => {
      const result = await run(['--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout.join('\n'), /integrity-lab verity format DATA HASHFILE/);
    });
  });
});
