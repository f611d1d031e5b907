import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import type { Exec, ExecResult } from '../exec.ts';
import { buildImage, type BuiltImage } from '../images/index.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import { applicationTrust, checkApplicationImage, knownDigest, ReferenceCache, type AppCheckDeps } from './app-image.ts';
import { appCheckerMain, checkerOutcome, runAppChecker } from './app-checker.ts';
import { gateApplication } from './app-gate.ts';
import { localExec } from '../exec.ts';
import { readPullRecord, recordPull } from './pull-record.ts';
import { tierOf } from './tiers.ts';

const work = await mkdtemp(join(tmpdir(), 'app-image-'));
after(() => rm(work, { recursive: true, force: true }));

const ok = (stdout: string | Buffer = ''): ExecResult => ({ exitCode: 0, stdout: Buffer.from(stdout), stderr: '' });
const IMAGE = '127.0.0.1:5000/lab/app:1.0';

/**
 * Stand-in for mkfs.erofs (not on the test host): the "EROFS image" is the
 * tar padded to whole 4096-byte blocks. Deterministic in its input like the
 * real recipe, which the lab scenarios exercise (features/app-integrity).
 */
const fakeErofs = (tar: Buffer) => Buffer.concat([tar, Buffer.alloc((4096 - (tar.length % 4096)) % 4096)]);

interface Fixture {
  deps: AppCheckDeps;
  built: BuiltImage;
  rootfs: string;
  mountinfo: string;
  layerFiles: string[];
  blob(digest: string): string;
  record: string;
}

async function fixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(work, 'case-'));
  const built = await buildImage(
    {
      repository: 'lab/app',
      tag: '1.0',
      entrypoint: ['/bin/sh'],
      layers: [{ files: [{ path: '/base', content: 'base layer\n' }] }, { files: [{ path: '/app/message', content: 'genuine\n' }] }],
    },
    { busybox: async () => Buffer.alloc(0) },
  );
  const contentRoot = join(dir, 'content');
  await mkdir(join(contentRoot, 'blobs', 'sha256'), { recursive: true });
  const blob = (d: string) => join(contentRoot, 'blobs', 'sha256', d.slice(7));
  for (const [d, b] of built.blobs) await writeFile(blob(d), b);
  await writeFile(blob(built.manifestDigest), built.manifestBytes);
  const layerFiles: string[] = [];
  for (const [i, tar] of built.layerTars.entries()) {
    await mkdir(join(dir, `s${i}`));
    layerFiles.push(join(dir, `s${i}`, 'layer.erofs'));
    await writeFile(layerFiles[i]!, fakeErofs(tar));
  }
  const rootfs = join(dir, 'bundle', 'rootfs');
  const lower = (i: number) => join(dir, `s${i}`, 'fs');
  const mountinfo = [
    `10 1 0:40 / ${rootfs} rw,relatime - overlay overlay rw,lowerdir=${lower(1)}:${lower(0)},upperdir=${dir}/s9/fs,workdir=${dir}/s9/work`,
    `11 1 0:41 / ${lower(0)} ro,relatime - erofs ${layerFiles[0]} ro,user_xattr`,
    `12 1 0:42 / ${lower(1)} ro,relatime - erofs ${layerFiles[1]} ro,user_xattr`,
  ].join('\n');
  const exec: Exec = {
    async run(argv) {
      if (argv.includes('ls')) {
        const name = argv.find((a) => a.startsWith('name=='))!.slice('name=='.length);
        return ok(`REF TYPE DIGEST\n${name} application/vnd.oci.image.manifest.v1+json ${built.manifestDigest} 1 KiB linux/amd64 -`);
      }
      if (argv.includes('content')) return ok(await readFile(blob(argv[argv.length - 1]!)));
      if (argv[0] === 'mkfs.erofs') {
        await writeFile(argv[argv.length - 2]!, fakeErofs(await readFile(argv[argv.length - 1]!)));
        return ok();
      }
      return { exitCode: 1, stdout: Buffer.alloc(0), stderr: `unexpected ${argv.join(' ')}` };
    },
  };
  const record = join(dir, 'pulled-digests.json');
  recordPull(IMAGE, built.manifestDigest, new Date(0), record);
  return {
    built,
    rootfs,
    mountinfo,
    layerFiles,
    blob,
    record,
    deps: {
      exec,
      containerd: { address: '/run/containerd/containerd.sock', namespace: 'k8s.io' },
      contentRoot,
      pullRecord: () => readPullRecord(record),
      references: new ReferenceCache(join(dir, 'refs.json')),
      layerRootHash: async (f) => ({ hex: (await computeRootHash(f, DELIVERY_KIT_PARAMS)).toString('hex'), cached: false }),
      workDir: join(dir, 'scratch'),
    },
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isLabError(e, code), `expected ${code}, got ${String(e)}`);
    assert.match((e as Error).message, message);
    return true;
  });
}

describe('checkApplicationImage', () => {
  describe('when the local copy is as pulled', () => {
    it('passes, naming the digest recorded at pull and each layer file with its reference', async () => {
      const f = await fixture();
      const v = await checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps);
      assert.deepEqual(v.known, { digest: f.built.manifestDigest, source: 'pull' });
      assert.equal(v.configDigest, f.built.manifest.config.digest);
      assert.deepEqual(v.layers.map((l) => [l.digest, l.layerFile]), f.built.manifest.layers.map((l, i) => [l.digest, f.layerFiles[i]]));
      for (const l of v.layers) assert.equal(l.actual, l.reference);
    });
    it('takes the digest the pod names, with no pull record', async () => {
      const f = await fixture();
      await writeFile(f.record, '{}');
      const v = await checkApplicationImage(`127.0.0.1:5000/lab/app@${f.built.manifestDigest}`, f.rootfs, f.mountinfo, f.deps);
      assert.deepEqual(v.known, { digest: f.built.manifestDigest, source: 'pod' });
    });
    it('hits the reference cache the second time', async () => {
      const f = await fixture();
      await checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps);
      const v = await checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps);
      assert.ok(v.layers.every((l) => l.cached));
    });
  });

  describe('when root edited the content store', () => {
    it('refuses an edited config blob, naming it', async () => {
      const f = await fixture();
      await appendFile(f.blob(f.built.manifest.config.digest), ' ');
      await rejectsWith(checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps), 'APP_DIGEST_MISMATCH', new RegExp(`config ${f.built.manifest.config.digest}: .* hash to sha256:`));
    });
    it('refuses an edited layer blob even when its reference was cached before the edit', async () => {
      const f = await fixture();
      await checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps);
      const d = f.built.manifest.layers[1]!.digest;
      const bytes = await readFile(f.blob(d));
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      await new Promise((r) => setTimeout(r, 5));
      await writeFile(f.blob(d), bytes);
      await rejectsWith(checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps), 'APP_DIGEST_MISMATCH', new RegExp(`layer 1 ${d}`));
    });
    it('refuses an image record that points at another manifest', async () => {
      const f = await fixture();
      recordPull(IMAGE, `sha256:${'a'.repeat(64)}`, new Date(0), f.record);
      await rejectsWith(checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps), 'APP_DIGEST_MISMATCH', /resolves to manifest sha256:[0-9a-f]{64}, but the image is known by sha256:a{64} \(recorded at pull\)/);
    });
  });

  describe('when root edited an unpacked layer file', () => {
    it('refuses, naming the layer, its file and both root hashes', async () => {
      const f = await fixture();
      const bytes = await readFile(f.layerFiles[1]!);
      bytes[100] = bytes[100]! ^ 0xff;
      await writeFile(f.layerFiles[1]!, bytes);
      await rejectsWith(
        checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps),
        'APP_LAYER_MISMATCH',
        new RegExp(`layer 1 \\(${f.built.manifest.layers[1]!.digest}\\): .*layer.erofs has dm-verity root hash [0-9a-f]{64}, the reference rebuilt from the blob whose digest matched is [0-9a-f]{64}`),
      );
    });
    it('refuses a lowerdir that is not an erofs mount of its layer file', async () => {
      const f = await fixture();
      await rejectsWith(checkApplicationImage(IMAGE, f.rootfs, f.mountinfo.replace(/erofs (\S+s1\/layer.erofs)/, 'erofs /tmp/elsewhere.erofs'), f.deps), 'APP_LAYER_MISMATCH', /is not a read-only erofs mount/);
    });
  });

  describe('when there is nothing to check against', () => {
    it('refuses an image with no digest (APP_NO_DIGEST)', async () => {
      const f = await fixture();
      await writeFile(f.record, '{}');
      await rejectsWith(checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps), 'APP_NO_DIGEST', /has no digest to check against/);
    });
    it('refuses when the pull record cannot be read (APP_REFERENCE_UNREADABLE)', async () => {
      const f = await fixture();
      await writeFile(f.record, '{"trunc');
      await rejectsWith(checkApplicationImage(IMAGE, f.rootfs, f.mountinfo, f.deps), 'APP_REFERENCE_UNREADABLE', /pulled-digests.json: not JSON/);
    });
  });
});

describe('applicationTrust', () => {
  it('gives the watchdog the references as root hashes, base first', async () => {
    const f = await fixture();
    const t = await applicationTrust(IMAGE, f.deps);
    assert.ok(t.ok);
    assert.deepEqual(t.layerDigests, f.built.manifest.layers.map((l) => l.digest));
    assert.equal(t.rootHashes[1], (await computeRootHash(f.layerFiles[1]!, DELIVERY_KIT_PARAMS)).toString('hex'));
    assert.match(t.format, /^application tier/);
  });
  it('says why when the image cannot be vouched for', async () => {
    const f = await fixture();
    await writeFile(f.record, '{}');
    const t = await applicationTrust(IMAGE, f.deps);
    assert.ok(!t.ok);
    assert.match(t.reason, /APP_NO_DIGEST/);
  });
});

describe('the checker process', () => {
  it('reports a verdict for a good image', async () => {
    const f = await fixture();
    const o = await appCheckerMain(JSON.stringify({ image: IMAGE, rootfs: f.rootfs }), f.deps, () => f.mountinfo);
    assert.ok(o.ok);
  });
  it('reports an unexpected failure as a crash of the check', async () => {
    const f = await fixture();
    const o = await appCheckerMain(JSON.stringify({ image: IMAGE, rootfs: f.rootfs }), f.deps, () => {
      throw new TypeError('boom');
    });
    assert.deepEqual([o.ok, !o.ok && o.code], [false, 'APP_CHECKER_CRASHED']);
  });
  describe('when the checker dies before a verdict', () => {
    it('is a crash, and the gate refuses saying so', async () => {
      const crashing = join(work, 'crash.mjs');
      await writeFile(crashing, "process.kill(process.pid, 'SIGSEGV');\n");
      const outcome = await runAppChecker(localExec, { image: IMAGE, rootfs: '/x' }, crashing);
      assert.deepEqual([outcome.ok, !outcome.ok && outcome.code], [false, 'APP_CHECKER_CRASHED']);
      assert.match(!outcome.ok ? outcome.reason : '', /killed by a signal/);
      const d = await gateApplication({ time: '', action: 'pass', reason: '', image: IMAGE, tier: 'application' }, '/x', localExec, (exec, req) => runAppChecker(exec, req, crashing));
      assert.equal(d.action, 'refuse');
      assert.equal(d.check, 'APP_CHECKER_CRASHED');
      assert.match(d.reason, /^application tier check failed \[APP_CHECKER_CRASHED\]/);
    });
    it('is a crash when the output is not a verdict', () => {
      assert.equal(checkerOutcome({ exitCode: 0, stdout: Buffer.from('hello'), stderr: '' }).ok, false);
      assert.equal(checkerOutcome({ exitCode: 1, stdout: Buffer.from('{"ok":true,"verdict":{}}'), stderr: '' }).ok, false);
    });
  });
});

describe('tierOf', () => {
  const config = { protectedNamespaces: ['kube-system', 'd8-*'], applicationTier: { namespaces: ['*'], exempt: ['lab-scratch'] } };
  it('keeps system namespaces in the system tier whatever the application globs say', () => {
    assert.equal(tierOf(config, 'd8-system').tier, 'system');
  });
  it('puts an opted-in namespace in the application tier, naming the rule', () => {
    assert.deepEqual(tierOf(config, 'apps'), { tier: 'application', rule: 'applicationTier.namespaces: *' });
  });
  it('lets a namespace opt out', () => {
    assert.deepEqual(tierOf(config, 'lab-scratch'), { tier: 'none', rule: 'applicationTier.exempt: lab-scratch' });
  });
  it('has no application tier without the setting', () => {
    assert.equal(tierOf({ protectedNamespaces: [] }, 'apps').tier, 'none');
  });
});

describe('readPullRecord', () => {
  it('treats a missing record as empty and a bad digest as unreadable', async () => {
    assert.deepEqual(readPullRecord(join(work, 'absent.json')), { ok: true, record: {} });
    const bad = join(work, 'bad.json');
    await writeFile(bad, JSON.stringify({ [IMAGE]: { digest: 'md5:x' } }));
    const r = readPullRecord(bad);
    assert.ok(!r.ok);
    assert.match(r.reason, /digest: expected sha256/);
  });
});

describe('recordPull', () => {
  describe('when the record is unreadable', () => {
    it('leaves it as it is, so that start checks keep refusing with APP_REFERENCE_UNREADABLE', async () => {
      const f = join(work, 'corrupt.json');
      await writeFile(f, '{"trunc');
      assert.equal(recordPull('127.0.0.1:5000/lab/pause:1', `sha256:${'b'.repeat(64)}`, new Date(0), f), false);
      assert.equal(await readFile(f, 'utf8'), '{"trunc');
      assert.throws(() => knownDigest(IMAGE, readPullRecord(f)), (e: unknown) => isLabError(e, 'APP_REFERENCE_UNREADABLE'));
    });
  });
  it('keeps the other images when it adds one', async () => {
    const f = join(work, 'two.json');
    recordPull('a', `sha256:${'1'.repeat(64)}`, new Date(0), f);
    recordPull('b', `sha256:${'2'.repeat(64)}`, new Date(0), f);
    const r = readPullRecord(f);
    assert.deepEqual(r.ok && Object.keys(r.record), ['a', 'b']);
  });
});
