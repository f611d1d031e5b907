import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLabError } from '../errors.ts';
import type { Exec, ExecResult } from '../exec.ts';
import { pkiSigningIdentity, serializeManifest, signManifest, type OciManifest } from '../signer/index.ts';
import { clock, sampleManifest, tempPki, type TempPki } from '../signer/test-fixtures.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import { globMatch, parseGateConfig, type GateConfig } from './config.ts';
import { RootHashCache, openKernelVerity } from './layer-check.ts';
import { judgePull, parsePullArgs } from './pull-gate.ts';
import { gateCreate, parseRuncArgs, STANDARD_LAYER_MOUNT, type RuntimeGateDeps } from './runtime-gate.ts';

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ok = (stdout = ''): ExecResult => ({ exitCode: 0, stdout: Buffer.from(stdout), stderr: '' });

let pki: TempPki;
let work: string;
before(async () => {
  pki = await tempPki();
  work = await mkdtemp(join(tmpdir(), 'gates-test-'));
});
after(async () => {
  await pki.cleanup();
  await rm(work, { recursive: true, force: true });
});

function config(overrides: Partial<GateConfig> = {}): GateConfig {
  return {
    protectedNamespaces: ['kube-system', 'd8-*'],
    protectedImages: ['127.0.0.1:5000/system/*'],
    trustedRootsFile: join(pki.dir, 'root-ca.pem'),
    allowedFormats: ['v2'],
    standardLayer: { path: join(work, 'std.erofs'), rootHash: '0'.repeat(64) },
    verityMode: 'userspace',
    decisionLog: join(work, 'decisions.jsonl'),
    runtime: '/usr/bin/runc',
    ...overrides,
  };
}

async function signed(m: OciManifest, format: 'v2' | 'delivery-kit' = 'v2'): Promise<{ bytes: Buffer; digest: string }> {
  const s = await signManifest(m, { identity: pkiSigningIdentity(pki.pki), format, clock });
  const bytes = serializeManifest(s.manifest);
  return { bytes, digest: sha(bytes) };
}

describe('parseGateConfig', () => {
  describe('when the file is not JSON', () => {
    it('fails with GATE_CONFIG_INVALID naming the file', () => {
      assert.throws(() => parseGateConfig('{', '/etc/x.json'), (e) => isLabError(e, 'GATE_CONFIG_INVALID') && /\/etc\/x\.json: not JSON/.test(e.message));
    });
  });
  describe('when fields are missing or wrong', () => {
    it('lists every problem', () => {
      assert.throws(
        () => parseGateConfig(JSON.stringify({ protectedNamespaces: 'kube-system', allowedFormats: [] })),
        (e) => isLabError(e, 'GATE_CONFIG_INVALID') && /protectedNamespaces/.test(e.message) && /allowedFormats/.test(e.message) && /standardLayer/.test(e.message),
      );
    });
  });
  it('accepts a complete configuration', () => {
    assert.deepEqual(parseGateConfig(JSON.stringify(config())).protectedNamespaces, ['kube-system', 'd8-*']);
  });
});

describe('globMatch', () => {
  it('matches whole strings with * and ?', () => {
    assert.ok(globMatch('d8-*', 'd8-system'));
    assert.ok(!globMatch('d8-*', 'xd8-system'));
    assert.ok(globMatch('127.0.0.1:5000/system/*', '127.0.0.1:5000/system/agent:1.0'));
    assert.ok(!globMatch('127.0.0.1:5000/system/*', '127.0.0.1:5000/lab/app:1.0'));
  });
});

describe('parseRuncArgs', () => {
  it('finds the subcommand, bundle, log file and id as the shim passes them', () => {
    const inv = parseRuncArgs(['--root', '/run/containerd/runc/k8s.io', '--log', '/b/log.json', '--log-format', 'json', 'create', '--bundle', '/b', '--pid-file', '/b/init.pid', 'abc123']);
    assert.deepEqual(inv, { command: 'create', bundle: '/b', logFile: '/b/log.json', id: 'abc123' });
  });
  describe('when the command is not create', () => {
    it('reports it so the wrapper passes through', () => {
      assert.equal(parseRuncArgs(['--root', '/r', 'state', 'abc']).command, 'state');
    });
  });
});

describe('parsePullArgs', () => {
  it('reads the Go-style flags containerd passes', () => {
    assert.deepEqual(parsePullArgs(['-name', 'r/x:1', '-digest', 'sha256:aa', '-stdin-media-type', 'application/vnd.oci.descriptor.v1+json']), {
      name: 'r/x:1',
      digest: 'sha256:aa',
      mediaType: 'application/vnd.oci.descriptor.v1+json',
    });
  });
  describe('when -digest is missing', () => {
    it('refuses', () => {
      assert.throws(() => parsePullArgs(['-name', 'x']), (e) => isLabError(e, 'GATE_REFUSED'));
    });
  });
});

describe('judgePull', () => {
  const roots = () => [pki.pki.root.certificatePem];
  describe('when the image is outside the protected set', () => {
    it('admits it without fetching anything', async () => {
      const j = await judgePull({ name: '127.0.0.1:5000/lab/app:1', digest: 'sha256:00', mediaType: '', descriptor: {} }, config(), roots(), async () => {
        throw new Error('must not fetch');
      });
      assert.equal(j.allow, true);
    });
  });
  describe('when a protected image is unsigned', () => {
    it('refuses with MISSING_SIGNATURE in the reason', async () => {
      const bytes = serializeManifest(sampleManifest());
      const j = await judgePull({ name: '127.0.0.1:5000/system/a:1', digest: sha(bytes), mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes, mediaType: 'application/vnd.oci.image.manifest.v1+json' }));
      assert.equal(j.allow, false);
      assert.match(j.reason, /integrity pull gate refused .*MISSING_SIGNATURE/);
    });
  });
  describe('when a protected image is validly signed in v2', () => {
    it('admits it', async () => {
      const s = await signed(sampleManifest());
      const j = await judgePull({ name: '127.0.0.1:5000/system/a:1', digest: s.digest, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, true, j.reason);
    });
  });
  describe('when the registry serves other bytes than the digest names', () => {
    it('refuses', async () => {
      const s = await signed(sampleManifest());
      const j = await judgePull({ name: '127.0.0.1:5000/system/a:1', digest: `sha256:${'0'.repeat(64)}`, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, false);
      assert.match(j.reason, /MANIFEST_DIGEST_MISMATCH/);
    });
  });
  describe('when the signature is delivery-kit but only v2 is allowed', () => {
    it('refuses: delivery-kit does not sign the root hashes', async () => {
      const s = await signed(sampleManifest(), 'delivery-kit');
      const j = await judgePull({ name: '127.0.0.1:5000/system/a:1', digest: s.digest, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, false);
    });
  });
});

describe('gateCreate', () => {
  interface Fixture {
    bundle: string;
    deps: RuntimeGateDeps;
    calls: string[][];
    config: GateConfig;
    layerFiles: string[];
  }

  /** A bundle with a rootfs overlay of two real layer files, and a signed manifest for them. */
  async function fixture(opts: { namespace?: string; sign?: boolean; tamperLayer?: boolean; mountType?: string; kernel?: boolean } = {}): Promise<Fixture> {
    const dir = await mkdtemp(join(work, 'case-'));
    const layerFiles: string[] = [];
    const hashes: string[] = [];
    for (const i of [1, 2]) {
      await mkdir(join(dir, `s${i}`));
      const f = join(dir, `s${i}`, 'layer.erofs');
      await writeFile(f, randomBytes(8192));
      layerFiles.push(f);
      hashes.push((await computeRootHash(f, DELIVERY_KIT_PARAMS)).toString('hex'));
    }
    const std = join(dir, 'std.erofs');
    await writeFile(std, Buffer.alloc(4096, 7));
    const stdHash = (await computeRootHash(std, DELIVERY_KIT_PARAMS)).toString('hex');
    const m = sampleManifest();
    m.layers.forEach((l, i) => (l.annotations!['io.deckhouse.delivery-kit.dm-verity-root-hash'] = hashes[i]!));
    const s = opts.sign === false ? { bytes: serializeManifest(m), digest: sha(serializeManifest(m)) } : await signed(m);
    if (opts.tamperLayer) await writeFile(layerFiles[1]!, randomBytes(8192));
    const bundle = join(dir, 'bundle');
    await mkdir(bundle);
    const image = '127.0.0.1:5000/system/agent:1.0';
    await writeFile(join(bundle, 'config.json'), JSON.stringify({
      root: { path: 'rootfs' },
      annotations: {
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.sandbox-namespace': opts.namespace ?? 'kube-system',
        'io.kubernetes.cri.sandbox-name': 'agent',
        'io.kubernetes.cri.container-name': 'agent',
        'io.kubernetes.cri.image-name': image,
      },
      mounts: [],
    }));
    const rootfs = join(bundle, 'rootfs');
    const lower = (i: number) => join(dir, `s${i}`, 'fs');
    const mountinfo = [
      `10 1 0:40 / ${rootfs} rw,relatime - ${opts.mountType ?? 'overlay'} overlay rw,lowerdir=${lower(2)}:${lower(1)},upperdir=${dir}/s3/fs,workdir=${dir}/s3/work`,
      `11 1 0:41 / ${lower(1)} ro,relatime - erofs ${layerFiles[0]} ro,user_xattr`,
      `12 1 0:42 / ${lower(2)} ro,relatime - erofs ${layerFiles[1]} ro,user_xattr`,
    ].join('\n');
    const calls: string[][] = [];
    const exec: Exec = {
      async run(argv) {
        calls.push([...argv]);
        if (argv[0] === 'ctr' && argv.includes('ls')) return ok(`REF TYPE DIGEST\n${image} application/vnd.oci.image.manifest.v1+json ${s.digest} 1 KiB linux/amd64 -`);
        if (argv[0] === 'ctr' && argv.includes('content')) return ok(s.bytes.toString());
        return ok();
      },
    };
    const files = new Map<string, string>();
    return {
      bundle,
      calls,
      layerFiles,
      config: config({ standardLayer: { path: std, rootHash: stdHash }, verityMode: opts.kernel ? 'kernel' : 'userspace' }),
      deps: {
        exec,
        readFile: (p) => files.get(p) ?? readFileSync(p, 'utf8'),
        writeFile: (p, d) => void files.set(p, d),
        mountinfo: () => mountinfo,
        cache: new RootHashCache(join(dir, 'cache.json')),
        kernelVerity: () => Boolean(opts.kernel),
        clock,
      },
    };
  }

  describe('when the container is a sandbox', () => {
    it('passes it through', async () => {
      const f = await fixture();
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      spec.annotations['io.kubernetes.cri.container-type'] = 'sandbox';
      await writeFile(join(f.bundle, 'config.json'), JSON.stringify(spec));
      assert.equal((await gateCreate(f.bundle, f.config, f.deps)).action, 'pass');
    });
  });
  describe('when the namespace is not protected', () => {
    it('passes it through without looking at the image', async () => {
      const f = await fixture({ namespace: 'apps' });
      const d = await gateCreate(f.bundle, f.config, f.deps);
      assert.equal(d.action, 'pass');
      assert.equal(f.calls.length, 0);
    });
  });
  describe('when the gate configuration is unusable', () => {
    it('refuses every workload container', async () => {
      const f = await fixture({ namespace: 'apps' });
      const d = await gateCreate(f.bundle, new Error('gates.json: not JSON'), f.deps);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /configuration is unusable/);
    });
  });
  describe('when the trusted roots file is missing', () => {
    it('refuses the protected container', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, { ...f.config, trustedRootsFile: join(work, 'nope.pem') }, f.deps);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /trusted roots .*cannot read/);
    });
  });
  describe('when the image is unsigned', () => {
    it('refuses, removes the image and starts a re-pull', async () => {
      const f = await fixture({ sign: false });
      const d = await gateCreate(f.bundle, f.config, f.deps);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /MISSING_SIGNATURE.*treated as corrupted/);
      assert.ok(f.calls.some((c) => c.join(' ').startsWith('ctr -n k8s.io images rm')));
      assert.ok(f.calls.some((c) => c.join(' ').includes('images pull')));
    });
  });
  describe('when a layer file no longer matches its signed root hash', () => {
    it('refuses naming the layer and both hashes', async () => {
      const f = await fixture({ tamperLayer: true });
      const d = await gateCreate(f.bundle, f.config, f.deps);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /layer 1 .* has dm-verity root hash [0-9a-f]{64}, the signed manifest says [0-9a-f]{64}/);
      assert.ok(!f.calls.some((c) => c.includes('mount')), 'nothing mounted for a refused container');
    });
  });
  describe('when the rootfs is not an overlay of layers', () => {
    it('refuses', async () => {
      const f = await fixture({ mountType: 'tmpfs' });
      assert.match((await gateCreate(f.bundle, f.config, f.deps)).reason, /expected an overlay of EROFS layers/);
    });
  });
  describe('when the standard layer does not match its pin', () => {
    it('refuses', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, { ...f.config, standardLayer: { ...f.config.standardLayer, rootHash: 'f'.repeat(64) } }, f.deps);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /standard layer .* pins f{64}/);
    });
  });
  describe('when everything verifies', () => {
    it('remounts the rootfs read-only from the standard layer and the verified layers, with no upperdir', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, f.config, f.deps);
      assert.equal(d.action, 'allow', d.reason);
      const mount = f.calls.find((c) => c.includes('mount') && c.includes('overlay'))!;
      const options = mount[mount.indexOf('-o') + 1]!;
      assert.match(options, new RegExp(`^ro,lowerdir=${STANDARD_LAYER_MOUNT}:.*/s2/fs:.*/s1/fs$`));
      assert.ok(!options.includes('upperdir'));
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      assert.equal(spec.root.readonly, true);
      assert.ok(spec.mounts.some((m: { destination: string; type: string }) => m.destination === '/tmp' && m.type === 'tmpfs'));
    });
  });
  describe('when the node has kernel dm-verity (not available on the lab host)', () => {
    it('opens a verity device per layer with the signed root hash and mounts EROFS from it', async () => {
      const f = await fixture({ kernel: true });
      const d = await gateCreate(f.bundle, f.config, f.deps);
      assert.equal(d.action, 'allow', d.reason);
      assert.equal(d.verityMode, 'kernel');
      const opens = f.calls.filter((c) => c[0] === 'veritysetup' && c[1] === 'open');
      assert.equal(opens.length, 2);
      assert.deepEqual(opens.map((c) => c[5]), d.layers!.map((l) => l.signed));
      assert.ok(f.calls.some((c) => c[0] === 'mount' && c.includes('erofs') && c.some((a) => a.startsWith('/dev/mapper/integrity-'))));
    });
  });
});

describe('openKernelVerity', () => {
  describe('when the layer does not match the signed root hash', () => {
    it('fails before opening any device', async () => {
      const f = join(work, 'k.erofs');
      await writeFile(f, randomBytes(4096));
      const calls: string[][] = [];
      await assert.rejects(openKernelVerity({ run: async (a) => (calls.push([...a]), ok()) }, f, 'a'.repeat(64), join(work, 'kv'), 'x'), /does not match the signed/);
      assert.equal(calls.length, 0);
    });
  });
});

describe('RootHashCache', () => {
  describe('when a file is not a whole number of blocks', () => {
    it('refuses: its tail would not be covered', async () => {
      const f = join(work, 'odd.erofs');
      await writeFile(f, randomBytes(5000));
      await assert.rejects(new RootHashCache(join(work, 'c.json')).rootHash(f), /not a whole number of 4096-byte blocks/);
    });
  });
  describe('when the file changes', () => {
    it('does not serve the old hash', async () => {
      const f = join(work, 'c.erofs');
      await writeFile(f, randomBytes(4096));
      const cache = new RootHashCache(join(work, 'c2.json'));
      const a = await cache.rootHash(f);
      assert.equal((await cache.rootHash(f)).cached, true);
      await writeFile(f, randomBytes(4096));
      const b = await cache.rootHash(f);
      assert.equal(b.cached, false);
      assert.notEqual(a.hex, b.hex);
    });
  });
});
