import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLabError } from '../errors.ts';
import type { Exec, ExecResult } from '../exec.ts';
import { pkiSigningIdentity, serializeManifest, signManifest, type ImageBinding, type OciManifest } from '../signer/index.ts';
import { clock, sampleManifest, tempPki, type TempPki } from '../signer/test-fixtures.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../verity/index.ts';
import { globMatch, parseGateConfig, type GateConfig } from './config.ts';
import { RootHashCache } from './layer-check.ts';
import { blobFiles } from './content-store.ts';
import { GATE_LAYER_ROOT, LAYER_BIND, majminOf } from './layer-mount.ts';
import type { SpecMount } from './bundle-spec.ts';
import { CreatedTasks } from './created-tasks.ts';
import { judgePull, parsePullArgs } from './pull-gate.ts';
import { versionRecord, type VersionRecord } from './versions.ts';
import { pinFiles, pinnedProgram, pinnedReader, pinRuntime, runtimeChecker } from './pins.ts';
import { gateCreate, noexecWritableMounts, parseRuncArgs, type RuntimeGateDeps } from './runtime-gate.ts';
import { ctrRecords } from './containerd-records.ts';
import { requestedProcessOf } from '../cri/identity.ts';

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

/** Signs as the lab does: v2 binds the repository (default the fixtures' system/agent) and a release version. */
async function signed(m: OciManifest, format: 'v2' | 'delivery-kit' = 'v2', binding: ImageBinding | null = { repository: 'system/agent', version: clock().getTime() }): Promise<{ bytes: Buffer; digest: string }> {
  const s = await signManifest(m, { identity: pkiSigningIdentity(pki.pki), format, clock, ...(format === 'v2' && binding ? { binding } : {}) });
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
      const j = await judgePull({ name: '127.0.0.1:5000/system/agent:1', digest: sha(bytes), mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes, mediaType: 'application/vnd.oci.image.manifest.v1+json' }));
      assert.equal(j.allow, false);
      assert.match(j.reason, /integrity pull gate refused .*MISSING_SIGNATURE/);
    });
  });
  describe('what a v2 signature binds (repository, release version)', () => {
    const NAME = '127.0.0.1:5000/system/agent:1';
    const pull = (s: { bytes: Buffer; digest: string }, versions?: VersionRecord, name = NAME) =>
      judgePull({ name, digest: s.digest, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }), versions);
    /** An in-memory record of signed releases. */
    const memoryRecord = () => {
      const files = new Map<string, string>();
      return { files, record: versionRecord('/record.json', { read: (p) => files.get(p), write: (p, t) => void files.set(p, t) }) };
    };
    it('refuses another signed image served under this name (signed for another repository)', async () => {
      const s = await signed(sampleManifest(), 'v2', { repository: 'system/other-agent', version: 1 });
      const j = await pull(s);
      assert.equal(j.allow, false);
      assert.match(j.reason, /IMAGE_REPOSITORY_MISMATCH: 127.0.0.1:5000\/system\/agent:1 is signed for repository system\/other-agent, not system\/agent/);
    });
    it('refuses a v2 signature that binds no repository or version', async () => {
      const j = await pull(await signed(sampleManifest(), 'v2', null));
      assert.equal(j.allow, false);
      assert.match(j.reason, /IMAGE_BINDING_MISSING/);
    });
    it('does not look for a binding in a delivery-kit signature (it binds none) when that format is allowed', async () => {
      const s = await signed(sampleManifest(), 'delivery-kit');
      const j = await judgePull({ name: NAME, digest: s.digest, mediaType: '', descriptor: {} }, config({ allowedFormats: ['delivery-kit', 'v2'] }), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, true, j.reason);
    });
    it('admits a newer release and notes it; then refuses the older signed release (rollback), naming both', async () => {
      const { files, record } = memoryRecord();
      const older = await signed(sampleManifest(), 'v2', { repository: 'system/agent', version: 1_000 });
      const newer = await signed(sampleManifest(), 'v2', { repository: 'system/agent', version: 2_000 });
      assert.equal((await pull(older, record)).allow, true);
      assert.equal((await pull(newer, record)).allow, true);
      assert.equal(JSON.parse(files.get('/record.json')!)['system/agent'].version, 2_000);
      const j = await pull(older, record);
      assert.equal(j.allow, false);
      assert.match(j.reason, new RegExp(`IMAGE_ROLLBACK: .*@${older.digest} is release 1000 .*older than release 2000 .*${newer.digest}`));
      // The same release again is no rollback.
      assert.equal((await pull(newer, record)).allow, true);
    });
    it('without the record (the gate before this check) the older release is admitted', async () => {
      const older = await signed(sampleManifest(), 'v2', { repository: 'system/agent', version: 1_000 });
      assert.equal((await pull(older)).allow, true);
    });
    it('refuses when the record is corrupt: a rollback could not be seen', async () => {
      const record = versionRecord('/record.json', { read: () => '{"system/agent": "yesterday"}', write: () => undefined });
      const j = await pull(await signed(sampleManifest()), record);
      assert.equal(j.allow, false);
      assert.match(j.reason, /record of signed releases \/record.json is corrupt/);
    });
  });
  describe('when a protected image is validly signed in v2', () => {
    it('admits it', async () => {
      const s = await signed(sampleManifest());
      const j = await judgePull({ name: '127.0.0.1:5000/system/agent:1', digest: s.digest, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, true, j.reason);
    });
  });
  describe('when the registry serves other bytes than the digest names', () => {
    it('refuses', async () => {
      const s = await signed(sampleManifest());
      const j = await judgePull({ name: '127.0.0.1:5000/system/agent:1', digest: `sha256:${'0'.repeat(64)}`, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, false);
      assert.match(j.reason, /MANIFEST_DIGEST_MISMATCH/);
    });
  });
  describe('when the signature is delivery-kit but only v2 is allowed', () => {
    it('refuses: delivery-kit does not sign the root hashes', async () => {
      const s = await signed(sampleManifest(), 'delivery-kit');
      const j = await judgePull({ name: '127.0.0.1:5000/system/agent:1', digest: s.digest, mediaType: '', descriptor: {} }, config(), roots(), async () => ({ bytes: s.bytes, mediaType: '' }));
      assert.equal(j.allow, false);
    });
  });
});

/** The mounts containerd's CRI puts in a pod container's OCI spec (shape of internal/cri/opts/spec_linux.go). */
const CRI_MOUNTS = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/dev/shm', type: 'bind', source: '/run/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm', options: ['rbind', 'rprivate', 'rw'] },
  { destination: '/etc/hosts', type: 'bind', source: '/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/hosts', options: ['rbind', 'rprivate', 'rw'] },
  { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rprivate', 'ro'] },
  { destination: '/scratch', type: 'bind', source: '/srv/scratch', options: ['rbind', 'rprivate', 'rw', 'exec'] },
];

describe('noexecWritableMounts', () => {
  describe('when a mount is writable', () => {
    it('adds noexec and drops an exec option that would undo it', () => {
      const out = noexecWritableMounts(CRI_MOUNTS);
      assert.deepEqual(out.find((m) => m.destination === '/scratch')!.options, ['rbind', 'rprivate', 'rw', 'noexec']);
      assert.deepEqual(out.find((m) => m.destination === '/dev')!.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k', 'noexec']);
      assert.equal(out.find((m) => m.destination === '/proc')!.options.filter((o) => o === 'noexec').length, 1, 'noexec once');
    });
  });
  describe('when a mount is read-only', () => {
    it('keeps it as it is', () => {
      const out = noexecWritableMounts(CRI_MOUNTS);
      assert.equal(out.find((m) => m.destination === '/data'), CRI_MOUNTS.find((m) => m.destination === '/data'));
      assert.equal(out.find((m) => m.destination === '/sys'), CRI_MOUNTS.find((m) => m.destination === '/sys'));
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
    /** Blob files of the fake content store, by path. */
    blobs: Map<string, Buffer>;
    configDigest: string;
    /** Mounts a later mountinfo read shows. */
    extraMounts: string[];
    /** Mount points the (fake) helper mounted a layer on. */
    mounted: string[];
  }
  const ID = 'c0ffee';

  interface FixtureOptions {
    /** Kernel mode: the device veritysetup reports opened is not a verity target (a tampered veritysetup or library). */
    kernelMapsOtherFile?: boolean;
    /** The overlay the kernel then shows on the rootfs keeps a writable upperdir (a helper that did not do what it said). */
    writableOverlay?: boolean;
    namespace?: string;
    sign?: boolean;
    tamperLayer?: boolean;
    mountType?: string;
    kernel?: boolean;
    /** The loop device the node attaches reads another inode than the gate hashed. */
    loopReadsOtherInode?: boolean;
    /** No loop device can be attached. */
    noLoopDevice?: boolean;
    /** The kernel reports another device at the gate's mount point. */
    forgedGateMount?: boolean;
    /** The bundle is a pod sandbox run from the image (the pause image), not a workload container. */
    sandbox?: boolean;
    /** What the v2 signature binds (default: system/agent, now). */
    binding?: ImageBinding;
    /** The image ID (config digest) containerd's CRI recorded at CreateContainer (default: the signed config's). */
    createdFromConfig?: string;
    /** The bundle is where containerd puts a CRI task (`…/k8s.io/<id>`), so the gate holds it to containerd's record. */
    criBundle?: boolean;
    /** containerd has no record of the container. */
    noRecord?: boolean;
    /** Changes containerd's record of the container (and so its bundle) before the gate reads it. */
    recordEdit?: (spec: { process: { args: string[] }; mounts: SpecMount[] }) => void;
    /** OCI hooks in containerd's record of the container (and so in its bundle). */
    hooks?: Record<string, { path: string; args?: string[] }[]>;
  }

  /** A bundle with a rootfs overlay of two real layer files, and a signed manifest for them. */
  async function fixture(opts: FixtureOptions = {}): Promise<Fixture> {
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
    const configBlob = Buffer.from(JSON.stringify({ config: { Entrypoint: ['/bin/agent'] } }));
    const m = sampleManifest();
    m.config = { ...m.config, digest: sha(configBlob), size: configBlob.length };
    m.layers.forEach((l, i) => (l.annotations!['io.deckhouse.delivery-kit.dm-verity-root-hash'] = hashes[i]!));
    const s = opts.sign === false ? { bytes: serializeManifest(m), digest: sha(serializeManifest(m)) } : await signed(m, 'v2', opts.binding);
    if (opts.tamperLayer) await writeFile(layerFiles[1]!, randomBytes(8192));
    const blobs = new Map<string, Buffer>([
      [`/cs/blobs/sha256/${s.digest.slice(7)}`, s.bytes],
      [`/cs/blobs/sha256/${m.config.digest.slice(7)}`, configBlob],
    ]);
    const bundle = opts.criBundle ? join(dir, 'k8s.io', ID) : join(dir, 'bundle');
    await mkdir(bundle, { recursive: true });
    const image = '127.0.0.1:5000/system/agent:1.0';
    const recorded = {
      root: { path: 'rootfs' },
      // As CRI builds it from the request (no command) and the image's entrypoint.
      process: { args: ['/bin/agent'] },
      annotations: opts.sandbox
        ? {
            // As containerd's CRI annotates a sandbox: no container name, the pause image under its own key.
            'io.kubernetes.cri.container-type': 'sandbox',
            'io.kubernetes.cri.sandbox-namespace': opts.namespace ?? 'kube-system',
            'io.kubernetes.cri.sandbox-name': 'agent',
            'io.kubernetes.cri.podsandbox.image-name': image,
          }
        : {
            'io.kubernetes.cri.container-type': 'container',
            'io.kubernetes.cri.sandbox-namespace': opts.namespace ?? 'kube-system',
            'io.kubernetes.cri.sandbox-name': 'agent',
            'io.kubernetes.cri.container-name': 'agent',
            'io.kubernetes.cri.image-name': image,
          },
      // A sandbox has the runtime's mounts and its own /dev/shm only (containerd's CRI podsandbox).
      mounts: opts.sandbox ? [...CRI_MOUNTS.slice(0, 3), { ...CRI_MOUNTS[3]!, source: `/run/containerd/io.containerd.grpc.v1.cri/sandboxes/${ID}/shm` }] : CRI_MOUNTS,
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
      // A sandbox's namespaces, as CRI gives a pod on its own network (every container of the pod joins them).
      ...(opts.sandbox ? { linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network', path: '/var/run/netns/cni-0b1c' }] } } : {}),
    };
    opts.recordEdit?.(recorded as unknown as Parameters<NonNullable<FixtureOptions['recordEdit']>>[0]);
    // containerd writes its record's spec into the bundle as config.json.
    await writeFile(join(bundle, 'config.json'), JSON.stringify(recorded));
    const rootfs = join(bundle, 'rootfs');
    const lower = (i: number) => join(dir, `s${i}`, 'fs');
    const extraMounts: string[] = [];
    const mountinfo = [
      `10 1 0:40 / ${rootfs} rw,relatime - ${opts.mountType ?? 'overlay'} overlay rw,lowerdir=${lower(2)}:${lower(1)},upperdir=${dir}/s3/fs,workdir=${dir}/s3/work`,
      `11 1 0:41 / ${lower(1)} ro,relatime - erofs ${layerFiles[0]} ro,user_xattr`,
      `12 1 0:42 / ${lower(2)} ro,relatime - erofs ${layerFiles[1]} ro,user_xattr`,
    ];
    const calls: string[][] = [];
    const attachedFiles: string[] = [];
    /** Mount points the helper mounted a layer on. */
    const mounted: string[] = [];
    /** Verity devices veritysetup opened: name → loop device and root hash. */
    const verityOpened = new Map<string, { data: string; root: string }>();
    const exec: Exec = {
      async run(argv) {
        calls.push([...argv]);
        if (argv[0] === 'ctr' && argv.includes('ls')) return ok(`REF TYPE DIGEST\n${image} application/vnd.oci.image.manifest.v1+json ${s.digest} 1 KiB linux/amd64 -`);
        if (argv[0] === 'ctr' && argv.includes('containers') && argv.includes('info')) {
          if (opts.noRecord) return { exitCode: 1, stdout: Buffer.alloc(0), stderr: `ctr: container "${argv.at(-1)}" in namespace "k8s.io": not found` };
          // As containerd records a CRI container: its spec, and the image ID (config digest) CRI created it from.
          const meta = { Version: 'v1', Metadata: { ID: argv.at(-1), ImageRef: opts.createdFromConfig ?? m.config.digest } };
          return ok(JSON.stringify({ ID: argv.at(-1), Spec: recorded, Extensions: { 'io.cri-containerd.container.metadata': { type_url: 'github.com/containerd/cri/pkg/store/container/Metadata', value: Buffer.from(JSON.stringify(meta)).toString('base64') } } }));
        }
        if (argv[0] === LAYER_BIND && argv[1] === 'attach') {
          if (opts.noLoopDevice) return { exitCode: 1, stdout: Buffer.alloc(0), stderr: `layer-bind: no free loop device for ${argv[2]}: No such device` };
          const first = attachedFiles.length;
          attachedFiles.push(...argv.slice(2));
          // As the kernel reports each device: its number, and the inode it reads.
          return ok(argv.slice(2).map((f, j) => {
            const i = first + j;
            const st = statSync(f, { bigint: true });
            const ino = opts.loopReadsOtherInode && i === 0 ? st.ino + 1n : st.ino;
            return `/dev/loop${i} 7:${i} ${majminOf(st.dev)} ${ino}\n`;
          }).join(''));
        }
        if (argv[0] === LAYER_BIND && argv[1] === 'bind') {
          // As native/layer-bind.c does: per layer attach, check the backing inode, mount, detach; then the overlay.
          const [, , root, lowers, ...triples] = argv as [string, string, string, string, ...string[]];
          let out = '';
          for (let k = 0; k < triples.length; k += 3) {
            if (opts.noLoopDevice) return { exitCode: 1, stdout: Buffer.from(out), stderr: `layer-bind: no free loop device for ${triples[k]}: No such device` };
            const i = attachedFiles.length;
            attachedFiles.push(triples[k]!);
            const st = statSync(triples[k]!, { bigint: true });
            const ino = opts.loopReadsOtherInode && i === 0 ? st.ino + 1n : st.ino;
            out += `/dev/loop${i} 7:${i} ${majminOf(st.dev)} ${ino}\n`;
            if (`${majminOf(st.dev)}:${ino}` !== triples[k + 1]) return { exitCode: 3, stdout: Buffer.from(out), stderr: `layer-bind: /dev/loop${i} reads another inode: nothing was mounted from it` };
            mounted.push(triples[k + 2]!);
            extraMounts.push(`${20 + i} 1 ${opts.forgedGateMount ? '0:99' : `7:${i}`} / ${triples[k + 2]} ro,relatime - erofs /dev/loop${i} ro`);
          }
          if (root !== '-') extraMounts.push(`40 1 0:50 / ${root} ${opts.writableOverlay ? 'rw' : 'ro'},relatime - overlay overlay rw,lowerdir=${lowers}${opts.writableOverlay ? `,upperdir=${dir}/s3/fs,workdir=${dir}/s3/work` : ''}`);
          return ok(out);
        }
        if (argv[0] === 'veritysetup' && argv[1] === 'open') verityOpened.set(argv[3]!, { data: argv[2]!, root: argv[5]! });
        if (argv[0] === LAYER_BIND && argv[1] === 'dm-table') {
          // As the kernel reports the device veritysetup opened (drivers/md/dm-verity-target.c, verity_status).
          const name = argv[2]!;
          const opened = verityOpened.get(name)!;
          const minor = name.endsWith('standard') ? '9' : name.slice(-1);
          const sectors = statSync(opts.kernelMapsOtherFile ? layerFiles[0]! : attachedFiles[Number(opened.data.slice(9))]!).size / 512;
          const type = opts.kernelMapsOtherFile ? 'linear' : 'verity';
          return ok(`253:${minor} 1\n0 ${sectors} ${type} 1 7:${opened.data.slice(9)} 7:99 4096 4096 ${sectors / 8} 1 sha256 ${opened.root} ${DELIVERY_KIT_PARAMS.salt.toString('hex')}\n`);
        }
        if (argv[0] === LAYER_BIND && argv[1] === 'mount') {
          const pairs = argv.slice(2);
          for (let i = 0; i < pairs.length; i += 2) {
            const dev = pairs[i]!;
            const majmin = dev.startsWith('/dev/loop') ? `7:${dev.slice(9)}` : `253:${dev.endsWith('standard') ? '9' : dev.slice(-1)}`;
            mounted.push(pairs[i + 1]!);
            extraMounts.push(`${20 + i} 1 ${opts.forgedGateMount ? '0:99' : majmin} / ${pairs[i + 1]} ro,relatime - erofs ${dev} ro`);
          }
          return ok();
        }
        if (argv[0] === LAYER_BIND && argv[1] === 'rootfs') {
          extraMounts.push(`40 1 0:50 / ${argv[2]} ro,relatime - overlay overlay ro,lowerdir=${argv[3]}`);
          return ok();
        }
        return ok();
      },
    };
    const files = new Map<string, string>();
    return {
      bundle,
      calls,
      layerFiles,
      blobs,
      configDigest: m.config.digest,
      extraMounts,
      mounted,
      config: config({ standardLayer: { path: std, rootHash: stdHash }, verityMode: opts.kernel ? 'kernel' : 'userspace' }),
      deps: {
        exec,
        records: ctrRecords(exec, { namespace: 'k8s.io' }),
        readFile: (p) => files.get(p) ?? readFileSync(p, 'utf8'),
        writeFile: (p, d) => void files.set(p, d),
        mountinfo: () => [...mountinfo, ...extraMounts].join('\n'),
        cache: new RootHashCache(join(dir, 'cache.json')),
        kernelVerity: () => Boolean(opts.kernel),
        verityWorkDir: join(dir, 'verity'),
        clock,
        content: blobFiles('/cs', (p) => {
          const b = blobs.get(p);
          if (!b) throw new Error(`ENOENT: ${p}`);
          return b;
        }),
      },
    };
  }
  const gate = (f: Fixture, config: GateConfig | Error = f.config) => gateCreate(f.bundle, ID, config, f.deps);
  const mountsOf = (f: Fixture) => f.mounted;
  const bindOf = (f: Fixture) => f.calls.find((c) => c[0] === LAYER_BIND && c[1] === 'bind');

  describe('when the bundle is the sandbox of a pod in a protected namespace', () => {
    it('verifies its pause image like any protected image and mounts it read-only from the verified layers', async () => {
      const f = await fixture({ sandbox: true });
      const d = await gate(f);
      assert.equal(d.action, 'allow', d.reason);
      assert.equal(d.sandbox, true);
      assert.equal(d.image, '127.0.0.1:5000/system/agent:1.0');
      assert.equal(d.layers?.length, 3);
      assert.equal(bindOf(f)?.[2], join(f.bundle, 'rootfs'), 'the root is remounted read-only');
      assert.equal(JSON.parse(f.deps.readFile(join(f.bundle, 'config.json'))).root.readonly, true);
    });
    it('refuses an unsigned pause image, treats it as corrupted, and mounts nothing', async () => {
      const f = await fixture({ sandbox: true, sign: false });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /is not validly signed/);
      assert.ok(f.calls.some((c) => c.join(' ') === 'ctr -n k8s.io images rm 127.0.0.1:5000/system/agent:1.0'));
      assert.equal(mountsOf(f).length, 0);
    });
    it('refuses a pause image whose layer file no longer matches its signed root hash', async () => {
      const f = await fixture({ sandbox: true, tamperLayer: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /layer 1 .*signed manifest says/);
    });
    it('refuses a sandbox that names no pause image', async () => {
      const f = await fixture({ sandbox: true });
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      delete spec.annotations['io.kubernetes.cri.podsandbox.image-name'];
      await writeFile(join(f.bundle, 'config.json'), JSON.stringify(spec));
      assert.equal((await gate(f)).action, 'refuse');
    });
  });
  describe("when the bundle is a CRI task's (containerd holds a record of its spec)", () => {
    const NS = 'io.kubernetes.cri.sandbox-namespace';
    const edit = async (f: Fixture, change: (spec: { annotations: Record<string, string>; mounts: unknown[] }) => void) => {
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      change(spec);
      await writeFile(join(f.bundle, 'config.json'), JSON.stringify(spec));
    };
    it('allows the protected container whose bundle is the recorded spec, and writes its rewrite of it', async () => {
      const f = await fixture({ criBundle: true });
      const d = await gate(f);
      assert.equal(d.action, 'allow', d.reason);
      assert.equal(f.calls.filter((c) => c[0] === 'ctr' && c.includes('info')).length, 1, 'the spec and the image ID come from one read of the record');
      assert.equal(d.namespace, 'kube-system');
      const written = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      assert.equal(written.root.readonly, true);
      assert.ok(written.mounts.some((m: { destination: string }) => m.destination === '/tmp'));
    });
    for (const sandbox of [false, true]) {
      it(`refuses a ${sandbox ? 'sandbox' : 'container'} whose bundle names an unprotected namespace, naming containerd's namespace and the edit, and mounts nothing`, async () => {
        const f = await fixture({ criBundle: true, sandbox });
        await edit(f, (spec) => void (spec.annotations[NS] = 'default'));
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.equal(d.namespace, 'kube-system', "the decision names the pod's namespace as containerd recorded it");
        assert.equal(d.internalError, undefined);
        assert.match(d.reason, /config\.json is not the spec containerd recorded .*annotations\["io\.kubernetes\.cri\.sandbox-namespace"\]: "default" in the bundle, "kube-system" in containerd's record.*edited on the node/);
        assert.equal(d.bundleEdits?.length, 1);
        assert.equal(mountsOf(f).length, 0);
      });
    }
    it('refuses a protected container whose bundle gained a mount', async () => {
      const f = await fixture({ criBundle: true });
      await edit(f, (spec) => spec.mounts.push({ destination: '/usr/bin', type: 'bind', source: '/var/tmp/evil', options: ['rbind', 'ro'] }));
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /mounts: \d+ entries in the bundle, \d+ in containerd's record: \{"destination":"\/usr\/bin","type":"bind","source":"\/var\/tmp\/evil".* in the bundle only/);
    });
    for (const sandbox of [false, true]) {
      it(`refuses a protected ${sandbox ? 'sandbox' : 'container'} whose recorded spec asks runc for a hook, naming it, and mounts nothing`, async () => {
        const hook = { path: '/bin/sh', args: ['sh', '-c', 'id > /tmp/hook-ran'] };
        const f = await fixture({ criBundle: true, sandbox, hooks: { startContainer: [hook] } });
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.equal(d.internalError, undefined);
        assert.deepEqual(d.hooks, ['hooks.startContainer[0]: /bin/sh ["sh","-c","id > /tmp/hook-ran"]']);
        assert.match(d.reason, /^the spec asks runc to run a hook \(hooks\.startContainer\[0\]: \/bin\/sh .*CRI puts none into a protected task's spec/);
        assert.equal(mountsOf(f).length, 0);
      });
    }
    it('refuses a hook in a bundle containerd holds no record for (not a CRI task), too', async () => {
      const f = await fixture({ hooks: { createContainer: [{ path: '/usr/local/bin/mount-over' }] } });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.deepEqual(d.hooks, ['hooks.createContainer[0]: /usr/local/bin/mount-over []']);
    });
    it('lets an unprotected container keep its hooks', async () => {
      const f = await fixture({ criBundle: true, namespace: 'default', sign: false, hooks: { startContainer: [{ path: '/bin/true' }] } });
      const d = await gate(f);
      assert.equal(d.action, 'pass', d.reason);
    });
    it('keeps what an allowed create established for its start, and nothing of a refused one', async () => {
      const allowed = await fixture({ criBundle: true });
      allowed.deps.created = new CreatedTasks();
      assert.equal((await gate(allowed)).action, 'allow');
      assert.equal(allowed.deps.created.take(ID)?.recorded.annotations?.['io.kubernetes.cri.sandbox-namespace'], 'kube-system');
      const refused = await fixture({ criBundle: true, hooks: { startContainer: [{ path: '/bin/sh' }] } });
      refused.deps.created = new CreatedTasks();
      assert.equal((await gate(refused)).action, 'refuse');
      assert.equal(refused.deps.created.take(ID), undefined);
    });
    it('refuses when containerd has no record of the container, as it cannot say whose it is', async () => {
      const f = await fixture({ criBundle: true, noRecord: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /cannot compare the bundle .* with containerd's record of container c0ffee.*has no containerd record/);
    });
    describe("and CRI's own state says which pod the container is (the record can be rewritten through containerd's API)", () => {
      const inCri = (namespace: string) => ({ namespace, pod: 'agent', container: 'agent', sandboxId: 'sb' });
      it("refuses a container whose record and bundle name an unprotected namespace CRI did not create it in, naming CRI's pod", async () => {
        const f = await fixture({ criBundle: true, namespace: 'default' });
        f.deps.cri = { requestOf: async () => undefined, ofContainer: async () => inCri('kube-system') };
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.equal(d.namespace, 'kube-system');
        assert.deepEqual(d.recordChanges, ['namespace "default" in containerd\'s record, "kube-system" in CRI\'s own state']);
        assert.match(d.reason, /record was changed through containerd's API/);
        assert.equal(mountsOf(f).length, 0);
      });
      it('allows the protected container whose record names the pod CRI has', async () => {
        const f = await fixture({ criBundle: true });
        f.deps.cri = { requestOf: async () => undefined, ofContainer: async () => inCri('kube-system') };
        assert.equal((await gate(f)).action, 'allow');
      });
      it('refuses when CRI cannot be asked', async () => {
        const f = await fixture({ criBundle: true });
        f.deps.cri = { requestOf: async () => undefined, ofContainer: async () => Promise.reject(new Error('cannot ask CRI at /run/containerd/containerd.sock for container c0ffee: UNAVAILABLE')) };
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.match(d.reason, /^cannot ask CRI which pod container c0ffee belongs to, so it is refused: cannot ask CRI at/);
      });
      it('believes the record of a container CRI does not have', async () => {
        const f = await fixture({ criBundle: true, namespace: 'default', sign: false });
        f.deps.cri = { requestOf: async () => undefined, ofContainer: async () => undefined };
        const d = await gate(f);
        assert.equal(d.action, 'pass', d.reason);
        assert.equal(d.namespace, 'default');
      });
      // The request CRI holds for the fixture's container: its two volumes; no command (the image's entrypoint runs).
      const request = () => ({ command: [] as string[], args: [] as string[], mounts: [{ containerPath: '/data', hostPath: '/srv/data', image: false }, { containerPath: '/scratch', hostPath: '/srv/scratch', image: false }] });
      const withRequest = (f: Fixture, r: ReturnType<typeof request>) => {
        f.deps.cri = { ofContainer: async () => ({ ...inCri('kube-system'), sandboxId: 'abc' }), requestOf: async () => r };
      };
      it('allows the protected container whose recorded command and mounts follow from the request and the signed config', async () => {
        const f = await fixture({ criBundle: true });
        withRequest(f, request());
        const d = await gate(f);
        assert.equal(d.action, 'allow', d.reason);
      });
      it("refuses a container whose recorded command is not the one CRI built (another command over verified layers)", async () => {
        const f = await fixture({ criBundle: true });
        withRequest(f, { ...request(), args: ['--debug'] });
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.match(d.reason, /process\.args \["\/bin\/agent"\] in containerd's record, \["\/bin\/agent","--debug"\] from the request CRI holds and the signed image config/);
        assert.equal(mountsOf(f).length, 0);
      });
      it('refuses a container whose record binds a host path the request did not ask for', async () => {
        const f = await fixture({ criBundle: true });
        withRequest(f, { ...request(), mounts: request().mounts.slice(0, 1) });
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.match(d.reason, /mount \{"destination":"\/scratch".*which no mount of the request CRI holds asked for/);
      });
      describe("and what the process runs as and with, and its namespaces", () => {
        const caps = ['CAP_CHOWN', 'CAP_KILL'];
        // As CRI writes a record for a request that drops all capabilities but CHOWN and KILL, in pid namespace CONTAINER.
        const full = (spec: { process: Record<string, unknown>; linux?: Record<string, unknown> }) => {
          spec.process = { ...spec.process, env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=agent'], cwd: '/', user: { uid: 0, gid: 0 }, capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] } };
          spec.linux = { namespaces: [{ type: 'pid' }, { type: 'ipc', path: '/proc/42/ns/ipc' }, { type: 'uts', path: '/proc/42/ns/uts' }, { type: 'mount' }, { type: 'network', path: '/proc/42/ns/net' }] };
        };
        const withProcess = (f: Fixture) => {
          const process = requestedProcessOf({ linux: { security_context: { capabilities: { add_capabilities: ['CHOWN', 'KILL'], drop_capabilities: ['ALL'] }, namespace_options: { pid: 1 } } } });
          f.deps.cri = { ofContainer: async () => ({ ...inCri('kube-system'), sandboxId: 'abc' }), requestOf: async () => ({ ...request(), process }) };
          // The sandbox's hostname file and its first process's cgroup, as the node has them.
          const node: Record<string, string> = { '/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/hostname': 'agent\n', '/proc/42/cgroup': '1:name=systemd:/k8s.io/abc\n', '/proc/1/cgroup': '1:name=systemd:/\n' };
          const readFile = f.deps.readFile;
          f.deps.readFile = (path) => node[path] ?? readFile(path);
        };
        it('allows the container whose record CRI wrote for its request', async () => {
          const f = await fixture({ criBundle: true, recordEdit: full as never });
          withProcess(f);
          const d = await gate(f);
          assert.equal(d.action, 'allow', d.reason);
        });
        it("refuses a container whose record gives it CAP_SYS_ADMIN and the node's network namespace, naming both", async () => {
          const f = await fixture({
            criBundle: true,
            recordEdit: ((spec: Parameters<typeof full>[0]) => {
              full(spec);
              (spec.process.capabilities as Record<string, string[]>).bounding!.push('CAP_SYS_ADMIN');
              (spec.linux!.namespaces as { type: string; path?: string }[])[4]!.path = '/proc/1/ns/net';
            }) as never,
          });
          withProcess(f);
          const d = await gate(f);
          assert.equal(d.action, 'refuse');
          assert.match(d.reason, /process\.capabilities\.bounding holds CAP_SYS_ADMIN in containerd's record/);
          assert.match(d.reason, /namespaces network in containerd's record are those of process 1, which is not in the pod sandbox's cgroup/);
          assert.equal(mountsOf(f).length, 0);
        });
      });
      it("refuses a sandbox whose recorded command is not the signed pause image's entrypoint and cmd", async () => {
        const f = await fixture({ criBundle: true, sandbox: true, recordEdit: (spec) => void (spec.process = { args: ['/bin/sh', '-c', 'nc -l -p 4444'] }) });
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.match(d.reason, /record of this pod sandbox does not follow from the signed pause image config .*process\.args \["\/bin\/sh","-c","nc -l -p 4444"\] in containerd's record, \["\/bin\/agent"\]/);
        assert.equal(mountsOf(f).length, 0);
      });
      it('refuses a sandbox whose record binds a host path (a sandbox asks for none)', async () => {
        const f = await fixture({ criBundle: true, sandbox: true, recordEdit: (spec) => void spec.mounts.push({ destination: '/bin', type: 'bind', source: '/var/tmp/evil', options: ['rbind', 'ro'] }) });
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.match(d.reason, /mount \{"destination":"\/bin".*which no mount of the request CRI holds asked for/);
      });
      it("refuses a sandbox whose record puts the pod in the node's network namespace", async () => {
        const f = await fixture({
          criBundle: true,
          sandbox: true,
          recordEdit: (spec) => void ((spec as unknown as { linux: { namespaces: { type: string; path?: string }[] } }).linux.namespaces[4] = { type: 'network', path: '/proc/1/ns/net' }),
        });
        const d = await gate(f);
        assert.equal(d.action, 'refuse');
        assert.match(d.reason, /namespace network "\/proc\/1\/ns\/net" in containerd's record of the pod sandbox, where CRI gives a new one or the one it mounted for the pod/);
        assert.equal(mountsOf(f).length, 0);
      });
      it('does not ask about a sandbox (CRI has it only once it has started)', async () => {
        const f = await fixture({ criBundle: true, sandbox: true });
        f.deps.cri = { requestOf: async () => undefined, ofContainer: async () => assert.fail('CRI asked about a sandbox') };
        assert.equal((await gate(f)).action, 'allow');
      });
    });
    it('passes an unprotected container whose record says so, whatever its bundle claims', async () => {
      const f = await fixture({ criBundle: true, namespace: 'default', sign: false });
      await edit(f, (spec) => void (spec.annotations[NS] = 'kube-system'));
      const d = await gate(f);
      assert.equal(d.action, 'pass', d.reason);
      assert.equal(d.namespace, 'default');
    });
  });
  describe('when the bundle is the sandbox of a pod outside the system tier', () => {
    it('passes it through without looking at the image', async () => {
      const f = await fixture({ sandbox: true, namespace: 'apps', sign: false });
      const d = await gate(f);
      assert.equal(d.action, 'pass', d.reason);
      assert.equal(f.calls.length, 0);
    });
  });
  describe('when the bundle is neither a workload container nor a sandbox', () => {
    it('passes it through', async () => {
      const f = await fixture();
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      delete spec.annotations['io.kubernetes.cri.container-type'];
      await writeFile(join(f.bundle, 'config.json'), JSON.stringify(spec));
      assert.equal((await gate(f)).action, 'pass');
    });
  });
  describe('when the namespace is not protected', () => {
    it('passes it through without looking at the image', async () => {
      const f = await fixture({ namespace: 'apps' });
      const d = await gate(f);
      assert.equal(d.action, 'pass');
      assert.equal(f.calls.length, 0);
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      assert.deepEqual(spec.mounts, CRI_MOUNTS, 'an unprotected container keeps its mounts (exec on its volumes stays possible)');
    });
  });
  describe('when the gate configuration is unusable', () => {
    it('refuses every workload container', async () => {
      const f = await fixture({ namespace: 'apps' });
      const d = await gate(f, new Error('gates.json: not JSON'));
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /configuration is unusable/);
    });
  });
  describe('when the trusted roots file is missing', () => {
    it('refuses the protected container', async () => {
      const f = await fixture();
      const d = await gate(f, { ...f.config, trustedRootsFile: join(work, 'nope.pem') });
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /trusted roots .*cannot read/);
    });
  });
  describe('when the image is unsigned', () => {
    it('refuses, removes the image and starts a re-pull', async () => {
      const f = await fixture({ sign: false });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /MISSING_SIGNATURE.*treated as corrupted/);
      assert.ok(f.calls.some((c) => c.join(' ').startsWith('ctr -n k8s.io images rm')));
      assert.ok(f.calls.some((c) => c.join(' ').includes('images pull')));
    });
  });
  describe('when the signing certificate has expired', () => {
    it('refuses but keeps the image: a re-pull would be refused the same way', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, clock: () => new Date('2999-01-01T00:00:00Z') });
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /CERT_EXPIRED.*the image is kept on the node/);
      assert.ok(!f.calls.some((c) => c.includes('rm') || c.join(' ').includes('images pull')), 'nothing removed or pulled');
    });
  });
  describe('when the manifest blob in the content store was edited', () => {
    it('refuses: the bytes no longer hash to the digest that names them', async () => {
      const f = await fixture();
      const [path, bytes] = [...f.blobs][0]!;
      f.blobs.set(path, Buffer.concat([bytes, Buffer.from(' ')]));
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /has been altered/);
    });
  });
  describe('when the config blob in the content store was edited (another entrypoint)', () => {
    it('refuses naming the signed config digest, and mounts nothing', async () => {
      const f = await fixture();
      f.blobs.set(`/cs/blobs/sha256/${f.configDigest.slice(7)}`, Buffer.from(JSON.stringify({ config: { Entrypoint: ['/bin/sh', '-c', 'evil'] } })));
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, new RegExp(`config .* is not the signed one: blob ${f.configDigest} .* has been altered`));
      assert.equal(mountsOf(f).length, 0);
    });
  });
  describe('when the name was re-pointed between CreateContainer and the start (another config over the same layers)', () => {
    it('refuses: the container runs what CRI created it from, not what the name points to at start', async () => {
      const other = `sha256:${'e'.repeat(64)}`;
      const f = await fixture({ createdFromConfig: other });
      const d = await gateCreate(f.bundle, 'c1', f.config, f.deps);
      assert.equal(d.action, 'refuse', d.reason);
      assert.match(d.reason, new RegExp(`created from image ${other}, not from the verified`));
      assert.ok(!f.calls.some((c) => c[0] === 'busybox' && c.includes('mount')), 'nothing was mounted for it');
    });
    it('allows the same container when CRI created it from the verified config', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, 'c1', f.config, f.deps);
      assert.equal(d.action, 'allow', d.reason);
      assert.ok(f.calls.some((c) => c.join(' ') === 'ctr -n k8s.io containers info c1'), 'the gate asked containerd which image CRI used');
    });
  });

  describe('when the config blob cannot be read', () => {
    it('refuses', async () => {
      const f = await fixture();
      f.blobs.delete(`/cs/blobs/sha256/${f.configDigest.slice(7)}`);
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /cannot read blob/);
    });
  });
  describe('when a layer file no longer matches its signed root hash', () => {
    it('refuses naming the layer and both hashes, and mounts nothing', async () => {
      const f = await fixture({ tamperLayer: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /layer 1 .* has dm-verity root hash [0-9a-f]{64}, the signed manifest says [0-9a-f]{64}/);
      assert.equal(mountsOf(f).length, 0);
    });
  });
  describe('when the rootfs is not an overlay of layers', () => {
    it('refuses', async () => {
      const f = await fixture({ mountType: 'tmpfs' });
      assert.match((await gate(f)).reason, /expected an overlay of EROFS layers/);
    });
  });
  describe('when the standard layer does not match its pin', () => {
    it('refuses', async () => {
      const f = await fixture();
      const d = await gate(f, { ...f.config, standardLayer: { ...f.config.standardLayer, rootHash: 'f'.repeat(64) } });
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /standard layer .* signed manifest says f{64}/);
    });
  });
  describe('when the trusted roots are read against pins (the gate daemon)', () => {
    const pinned = (f: Fixture) => pinFiles([{ path: f.config.trustedRootsFile, content: readFileSync(f.config.trustedRootsFile) }], clock());
    it('allows the signed image while the roots are the pinned bytes', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, readDefence: pinnedReader(pinned(f)) });
      assert.equal(d.action, 'allow', d.reason);
    });
    it('refuses, naming the file and both digests, once a CA is appended to the roots, and mounts nothing', async () => {
      const f = await fixture();
      const pins = pinned(f);
      const added = Buffer.concat([readFileSync(f.config.trustedRootsFile), Buffer.from('\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')]);
      const read = pinnedReader(pins, (p) => (p === f.config.trustedRootsFile ? added : readFileSync(p)));
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, readDefence: read });
      assert.equal(d.action, 'refuse');
      assert.ok(d.reason.startsWith(`${f.config.trustedRootsFile} changed since the lab pinned it`), d.reason);
      assert.match(d.reason, new RegExp(`${pins.files[f.config.trustedRootsFile]} → [0-9a-f]{64}`));
      assert.equal(mountsOf(f).length, 0);
    });
    it('without pins (the reader of the gate before pinning) the same edit is believed and the image allowed', async () => {
      const f = await fixture();
      const added = Buffer.concat([readFileSync(f.config.trustedRootsFile), Buffer.from('\n')]);
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, readDefence: (p) => (p === f.config.trustedRootsFile ? added : readFileSync(p)) });
      assert.equal(d.action, 'allow', d.reason);
    });
  });
  describe('when the image is another signed image, or an older signed release, under this name', () => {
    it('refuses an image signed for another repository, and mounts nothing', async () => {
      const f = await fixture({ binding: { repository: 'system/other-agent', version: 1 } });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /IMAGE_REPOSITORY_MISMATCH/);
      assert.equal(mountsOf(f).length, 0);
    });
    it('refuses an older release than the node admitted, and notes an allowed newer one', async () => {
      const files = new Map<string, string>([['/record.json', JSON.stringify({ 'system/agent': { version: 5_000, digest: 'sha256:newer', name: 'x' } })]]);
      const versions = versionRecord('/record.json', { read: (p) => files.get(p), write: (p, t) => void files.set(p, t) });
      const older = await fixture({ binding: { repository: 'system/agent', version: 4_000 } });
      const d = await gateCreate(older.bundle, ID, older.config, { ...older.deps, versions });
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /IMAGE_ROLLBACK: .*release 4000 .*older than release 5000/);
      const newer = await fixture({ binding: { repository: 'system/agent', version: 6_000 } });
      assert.equal((await gateCreate(newer.bundle, ID, newer.config, { ...newer.deps, versions })).action, 'allow');
      assert.equal(JSON.parse(files.get('/record.json')!)['system/agent'].version, 6_000);
    });
  });
  describe('when the OCI runtime the gate hands over to is checked against its pin (the gate daemon)', () => {
    const RUNC = '/usr/bin/runc';
    const runcOf = (content: string) => ({ read: () => Buffer.from(content), identity: () => `ino:${content}` });
    it('allows the signed image while runc is the pinned binary', async () => {
      const f = await fixture();
      const runtime = runtimeChecker(pinRuntime(RUNC, clock(), runcOf('genuine').read), runcOf('genuine'));
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtime });
      assert.equal(d.action, 'allow', d.reason);
    });
    it('refuses a signed, intact image once runc was replaced, naming the runtime, and mounts nothing', async () => {
      const f = await fixture();
      const runtime = runtimeChecker(pinRuntime(RUNC, clock(), runcOf('genuine').read), runcOf('#!/bin/sh attacker'));
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtime });
      assert.equal(d.action, 'refuse');
      assert.ok(d.reason.startsWith(`the OCI runtime ${RUNC} changed since the gate pinned it`), d.reason);
      assert.equal(mountsOf(f).length, 0);
    });
    it('does not check it for an unprotected namespace (the gate decides nothing there)', async () => {
      const f = await fixture({ namespace: 'default' });
      const runtime = runtimeChecker(pinRuntime(RUNC, clock(), runcOf('genuine').read), runcOf('#!/bin/sh attacker'));
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtime });
      assert.equal(d.action, 'pass', d.reason);
    });
  });
  describe("when the runtime wrapper reports loader variables in runc's environment (the gate daemon)", () => {
    it('refuses a signed, intact image, naming each variable, and mounts nothing', async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtimeLoaderVariables: ['LD_PRELOAD=/var/lib/attacker/lib.so', 'LD_LIBRARY_PATH=/opt/containerd/lib:', 'GCONV_PATH=/tmp/g'] });
      assert.equal(d.action, 'refuse');
      assert.ok(d.reason.startsWith(`the OCI runtime was started with the dynamic loader's variables "LD_PRELOAD=/var/lib/attacker/lib.so", "GCONV_PATH=/tmp/g" in its environment`), d.reason);
      assert.equal(d.internalError, undefined, 'a finding, not the gate failing');
      assert.equal(mountsOf(f).length, 0);
    });
    it("allows it when the wrapper found none but containerd's own library path (its opt plugin sets it for every shim)", async () => {
      const f = await fixture();
      assert.equal((await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtimeLoaderVariables: [] })).action, 'allow');
      const g = await fixture();
      assert.equal((await gateCreate(g.bundle, ID, g.config, { ...g.deps, runtimeLoaderVariables: ['LD_LIBRARY_PATH=/opt/containerd/lib:'] })).action, 'allow');
    });
    it("refuses a library path root put in front of or after containerd's", async () => {
      const f = await fixture();
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtimeLoaderVariables: ['LD_LIBRARY_PATH=/opt/containerd/lib:/var/lib/attacker'] });
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /"LD_LIBRARY_PATH=\/opt\/containerd\/lib:\/var\/lib\/attacker"/);
    });
    it('does not refuse for an unprotected namespace (runc runs without them either way)', async () => {
      const f = await fixture({ namespace: 'default' });
      assert.equal((await gateCreate(f.bundle, ID, f.config, { ...f.deps, runtimeLoaderVariables: ['LD_PRELOAD=/x.so'] })).action, 'pass');
    });
  });
  describe("when the layer-bind helper is checked against the host's pin (the gate daemon)", () => {
    const PROGRAM = '/proc/4242/fd/17';
    it('runs every helper step from the program the check returned, never the path', async () => {
      const f = await fixture();
      const used: string[] = [];
      // The fixture answers the helper by its path: hand it PROGRAM's calls under that name.
      const exec: Exec = { run: (argv, o) => (argv[0] === PROGRAM ? (used.push(argv[1]!), f.deps.exec.run([LAYER_BIND, ...argv.slice(1)], o)) : f.deps.exec.run(argv, o)) };
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, exec, layerBind: () => PROGRAM });
      assert.equal(d.action, 'allow', d.reason);
      assert.deepEqual(used, ['bind'], 'one helper process binds every layer and mounts the overlay');
    });
    it("marks a refusal the helper's unexpected failure caused as the gate's internal error, not a finding", async () => {
      const f = await fixture();
      // Exit 5: every layer was bound, then the overlay could not be mounted.
      const exec: Exec = {
        run: async (argv, o) => {
          const r = await f.deps.exec.run(argv, o);
          return argv[0] === LAYER_BIND && argv[1] === 'bind' ? { ...r, exitCode: 5, stderr: 'layer-bind: cannot mount the read-only overlay on rootfs: Invalid argument' } : r;
        },
      };
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, exec });
      assert.equal(d.action, 'refuse');
      assert.equal(d.internalError, true);
      assert.match(d.reason, /^internal error, refusing: .*exit code 5/);
      assert.deepEqual(f.calls.filter((c) => c[0] === 'umount').map((c) => c[1]), [...f.mounted].reverse(), 'the layers it had mounted are released');
      assert.deepEqual(f.calls.at(-1), [LAYER_BIND, 'release', ID], "then the helper releases whatever else is in the container's directory");
      const hashMismatch = await gate(await fixture({ tamperLayer: true }));
      assert.equal(hashMismatch.action, 'refuse');
      assert.equal(hashMismatch.internalError, undefined, 'a check that found something is not an internal error');
    });
    it('refuses a signed, intact image once the helper was replaced, naming it, and runs no helper step', async () => {
      const f = await fixture();
      const helper = join(work, 'layer-bind-replaced');
      await writeFile(helper, '#!/bin/sh\n# the attacker\'s layer-bind\n', { mode: 0o755 });
      const layerBind = pinnedProgram(helper, pinFiles([{ path: helper, content: 'ELF genuine layer-bind' }], clock()), "the start gate's layer-bind helper");
      const d = await gateCreate(f.bundle, ID, f.config, { ...f.deps, layerBind });
      assert.equal(d.action, 'refuse');
      assert.ok(d.reason.startsWith(`the start gate's layer-bind helper ${helper} changed since the gate pinned it`), d.reason);
      assert.equal(f.calls.filter((c) => c[0] === LAYER_BIND).length, 0);
    });
  });
  describe("when a forged EROFS mount sits on a snapshot's mount point", () => {
    it('never uses it: the overlay is built from the gate-owned mounts of the hashed files', async () => {
      const f = await fixture();
      const d = await gate(f);
      assert.equal(d.action, 'allow', d.reason);
      const options = bindOf(f)![3]!;
      assert.equal(options, `${GATE_LAYER_ROOT}/${ID}/standard:${GATE_LAYER_ROOT}/${ID}/1:${GATE_LAYER_ROOT}/${ID}/0`);
      assert.ok(!options.includes('/s1/fs') && !options.includes('/s2/fs'), 'no lowerdir of the shim is reused');
    });
  });
  describe('when the loop device reads another inode than the gate hashed (a swap between hash and attach)', () => {
    it('refuses and detaches the devices', async () => {
      const f = await fixture({ loopReadsOtherInode: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /loop device \/dev\/loop0 reads inode .*, but the gate verified/);
      assert.equal(mountsOf(f).length, 0);
      assert.equal(bindOf(f)!.length, 4 + 3 * 3, 'the helper was told which inode each layer must read');
    });
  });
  describe('when no loop device can be set up', () => {
    it('refuses (fails closed)', async () => {
      const f = await fixture({ noLoopDevice: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /cannot set up a loop device for .*s1\/layer\.erofs \(exit 1\): layer-bind: no free loop device for /);
    });
  });
  describe("when the gate's mount point is already occupied", () => {
    it('refuses (fails closed) and mounts nothing', async () => {
      const f = await fixture();
      f.extraMounts.push(`30 1 0:77 / ${GATE_LAYER_ROOT}/${ID}/0 ro - erofs /var/lib/containerd/x/layer.erofs ro`);
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /mount point .*\/0 is already occupied/);
      assert.equal(mountsOf(f).length, 0);
    });
  });
  describe("when the kernel reports another device at the gate's mount point", () => {
    it('refuses and unmounts', async () => {
      const f = await fixture({ forgedGateMount: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /is not the verified device \/dev\/loop0 \(7:0\)/);
      assert.ok(f.calls.some((c) => c[0] === 'umount' && c[1] === `${GATE_LAYER_ROOT}/${ID}/0`));
    });
  });
  describe('when the rootfs the kernel shows afterwards is not the read-only overlay of the verified layers', () => {
    it('refuses from mountinfo, whatever the helper said, and releases the layers', async () => {
      const f = await fixture({ writableOverlay: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.equal(d.internalError, undefined, 'a check that found something');
      assert.match(d.reason, /rootfs .* is not the read-only overlay of the verified layers .*upperdir=/);
      assert.deepEqual(f.calls.filter((c) => c[0] === 'umount').map((c) => c[1]), [...f.mounted].reverse());
    });
  });
  describe('when everything verifies', () => {
    it('remounts the rootfs read-only from the standard layer and the verified layers, with no upperdir, bound by device', async () => {
      const f = await fixture();
      const d = await gate(f);
      assert.equal(d.action, 'allow', d.reason);
      assert.equal(d.configDigest, f.configDigest);
      assert.deepEqual(d.layers!.map((l) => l.majmin), ['7:0', '7:1', '7:2']);
      const bind = bindOf(f)!;
      const triples = bind.slice(4);
      const files = triples.filter((_, i) => i % 3 === 0);
      assert.ok(files.every((a) => new RegExp(`^/proc/${process.pid}/fd/\\d+$`).test(a)), `loop devices are bound to the gate's hashed descriptors, not to paths: ${bind.join(' ')}`);
      assert.deepEqual(d.layers!.map((l) => l.backing), [...f.layerFiles, f.config.standardLayer.path].map((p) => { const st = statSync(p, { bigint: true }); return `${majminOf(st.dev)}:${st.ino}`; }));
      assert.deepEqual(triples.filter((_, i) => i % 3 === 1), d.layers!.map((l) => l.backing), 'each device must read the inode the gate hashed');
      assert.ok(!bind[3]!.includes('upperdir'), 'the helper mounts no upperdir');
      const spec = JSON.parse(f.deps.readFile(join(f.bundle, 'config.json')));
      assert.equal(spec.root.readonly, true);
      const tmp = spec.mounts.find((m: { destination: string; type: string }) => m.destination === '/tmp' && m.type === 'tmpfs');
      assert.ok(tmp.options.includes('noexec'), 'nothing copied into the gate tmpfs can be run');
      const options = (dest: string) => spec.mounts.find((m: { destination: string }) => m.destination === dest).options as string[];
      for (const writable of ['/dev', '/dev/shm', '/scratch', '/etc/hosts']) assert.ok(options(writable).includes('noexec'), `${writable} is writable: noexec`);
      assert.ok(!options('/scratch').includes('exec'), 'an exec option would undo noexec');
      assert.deepEqual(options('/data'), ['rbind', 'rprivate', 'ro'], 'a read-only volume keeps its options');
    });
  });
  describe('when the node has kernel dm-verity (not available on the lab host)', () => {
    it('opens a verity device over each verified loop device with the signed root hash and mounts EROFS from it', async () => {
      const f = await fixture({ kernel: true });
      const d = await gate(f);
      assert.equal(d.action, 'allow', d.reason);
      assert.equal(d.verityMode, 'kernel');
      const opens = f.calls.filter((c) => c[0] === 'veritysetup' && c[1] === 'open');
      assert.equal(opens.length, 3);
      assert.deepEqual(opens.map((c) => c[2]), ['/dev/loop0', '/dev/loop1', '/dev/loop2']);
      assert.deepEqual(opens.map((c) => c[5]), d.layers!.map((l) => l.signed));
      assert.deepEqual(d.layers!.map((l) => l.device), [`/dev/mapper/integrity-${ID}-0`, `/dev/mapper/integrity-${ID}-1`, `/dev/mapper/integrity-${ID}-standard`]);
      assert.deepEqual(d.layers!.map((l) => l.majmin), ['253:0', '253:1', '253:9'], "the device numbers are the kernel's, from the table read back");
      assert.equal(f.calls.filter((c) => c[0] === LAYER_BIND && c[1] === 'dm-table').length, 3);
    });
    it('refuses when the device veritysetup opened is not the verity target it was asked for, and mounts nothing', async () => {
      const f = await fixture({ kernel: true, kernelMapsOtherFile: true });
      const d = await gate(f);
      assert.equal(d.action, 'refuse');
      assert.match(d.reason, /device-mapper device integrity-c0ffee-0 \(253:0\) is not the verity device the gate asked for: its target is "linear", not "verity"/);
      assert.equal(mountsOf(f).length, 0);
      assert.ok(f.calls.some((c) => c[0] === 'veritysetup' && c[1] === 'close'), 'the verity devices are closed again');
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
  describe('when a start needs a layer the daemon is still hashing', () => {
    it('waits for that hash instead of computing it a second time', async () => {
      const f = join(work, 'bg.erofs');
      await writeFile(f, randomBytes(3 * 4096));
      let calls = 0;
      const cache = new RootHashCache(join(work, 'c3.json'), (path, params, options) => {
        calls++;
        return computeRootHash(path, params, options);
      });
      const [background, start] = await Promise.all([cache.rootHash(f), cache.rootHash(f)]);
      assert.equal(calls, 1);
      assert.equal(start.hex, background.hex);
      assert.equal(start.hex, (await computeRootHash(f, DELIVERY_KIT_PARAMS)).toString('hex'));
      assert.equal((await cache.rootHash(f)).cached, true);
    });
    it('hashes a replaced file again even while the old one is being hashed', async () => {
      const f = join(work, 'bg2.erofs');
      await writeFile(f, randomBytes(4096));
      let calls = 0;
      const cache = new RootHashCache(join(work, 'c4.json'), (path, params, options) => {
        calls++;
        return computeRootHash(path, params, options);
      });
      const first = cache.rootHash(f);
      await writeFile(join(work, 'bg2.tmp'), randomBytes(4096));
      await rename(join(work, 'bg2.tmp'), f);
      const [a, b] = await Promise.all([first, cache.rootHash(f)]);
      assert.equal(calls, 2);
      assert.notEqual(a.hex, b.hex);
    });
  });
});
