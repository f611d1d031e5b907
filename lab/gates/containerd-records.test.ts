import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Exec } from '../exec.ts';
import { apiRecords, CONTAINERD_API, ctrRecords, type ContainerdRecords } from './containerd-records.ts';
import { Refusal } from './refusal.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

/** What containerd holds, in namespace k8s.io: image names → target digests, container ids → their CRI metadata extension bytes (absent: no extension), and the OCI spec of some (its JSON bytes). */
interface State {
  images: Record<string, string>;
  containers: Record<string, Buffer | undefined>;
  specs: Record<string, Buffer>;
}
const SPEC = { ociVersion: '1.2.0', root: { path: 'rootfs' }, annotations: { 'io.kubernetes.cri.sandbox-namespace': 'kube-system' } };
const metadata = (m: unknown) => Buffer.from(JSON.stringify(m));
const STATE: State = {
  images: { 'registry.lab/app:1.0': digest('a') },
  containers: {
    created: metadata({ Version: 'v1', Metadata: { ID: 'created', ImageRef: digest('c') } }),
    'no-extension': undefined,
    'no-image-id': metadata({ Metadata: { ID: 'no-image-id' } }),
    'image-by-name': metadata({ Metadata: { ImageRef: 'nginx:latest' } }),
    'not-json': Buffer.from('garbage'),
  },
  specs: { created: Buffer.from(JSON.stringify(SPEC)), 'no-extension': Buffer.from('[1, 2]') },
};

/** `ctr` as it prints that state. */
function fakeCtr(state: State): Exec {
  return {
    async run(argv) {
      const ok = (stdout: string) => ({ exitCode: 0, stdout: Buffer.from(stdout), stderr: '' });
      const ns = argv[argv.indexOf('-n') + 1];
      if (argv.includes('images') && argv.includes('ls')) {
        const name = argv.at(-1)!.replace(/^name==/, '');
        const target = ns === 'k8s.io' ? state.images[name] : undefined;
        return ok(`REF TYPE DIGEST SIZE PLATFORMS LABELS\n${target ? `${name} application/vnd.oci.image.manifest.v1+json ${target} 1.0 KiB linux/amd64 -\n` : ''}`);
      }
      if (argv.includes('containers') && argv.includes('info')) {
        const id = argv.at(-1)!;
        if (ns !== 'k8s.io' || !(id in state.containers)) return { exitCode: 1, stdout: Buffer.alloc(0), stderr: `ctr: container "${id}" in namespace "${ns}": not found` };
        const ext = state.containers[id];
        // ctr prints the spec decoded (typeurl), as a JSON object.
        const spec = state.specs[id] ? { Spec: JSON.parse(state.specs[id].toString()) as unknown } : {};
        return ok(JSON.stringify({ ID: id, ...spec, Extensions: ext ? { 'io.cri-containerd.container.metadata': { type_url: 'github.com/containerd/cri/pkg/store/container/Metadata', value: ext.toString('base64') } } : {} }));
      }
      return { exitCode: 127, stdout: Buffer.alloc(0), stderr: `unexpected ${argv.join(' ')}` };
    },
  };
}

/** containerd's API serving that state on a unix socket, answering only in the namespace the client names, as containerd does. */
async function fakeContainerd(state: State, socket: string): Promise<grpc.Server> {
  const api = grpc.loadPackageDefinition(CONTAINERD_API) as unknown as {
    containerd: { services: { images: { v1: { Images: grpc.ServiceClientConstructor } }; containers: { v1: { Containers: grpc.ServiceClientConstructor } } } };
  };
  const notFound = (what: string) => ({ code: grpc.status.NOT_FOUND, details: `${what}: not found` });
  const server = new grpc.Server();
  server.addService(api.containerd.services.images.v1.Images.service, {
    Get(call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const ns = call.metadata.get('containerd-namespace')[0];
      const target = ns === 'k8s.io' ? state.images[call.request.name] : undefined;
      if (!target) return cb(notFound(`image "${call.request.name}"`));
      cb(null, { image: { name: call.request.name, target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: target } } });
    },
  });
  server.addService(api.containerd.services.containers.v1.Containers.service, {
    Get(call: grpc.ServerUnaryCall<{ id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const ns = call.metadata.get('containerd-namespace')[0];
      const { id } = call.request;
      if (ns !== 'k8s.io' || !(id in state.containers)) return cb(notFound(`container "${id}" in namespace "${ns}"`));
      const ext = state.containers[id];
      const spec = state.specs[id] ? { spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: state.specs[id] } } : {};
      cb(null, { container: { id, ...spec, extensions: ext ? { 'io.cri-containerd.container.metadata': { typeUrl: 'github.com/containerd/cri/pkg/store/container/Metadata', value: ext } } : {} } });
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}

const refusedWith = (pattern: RegExp) => (e: Error) => e instanceof Refusal && pattern.test(e.message);

const dir = mkdtempSync(join(tmpdir(), 'il-containerd-'));
const socket = join(dir, 'containerd.sock');
let server: grpc.Server;
let api: ReturnType<typeof apiRecords>;
before(async () => {
  server = await fakeContainerd(STATE, socket);
  api = apiRecords({ address: socket, namespace: 'k8s.io' });
});
after(() => {
  api.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

const ways: [string, () => ContainerdRecords][] = [
  ['ctr', () => ctrRecords(fakeCtr(STATE), { namespace: 'k8s.io' })],
  ["containerd's API", () => api],
];
for (const [way, records] of ways) {
  describe(`containerd records through ${way}`, () => {
    it("gives an image name's target digest", async () => {
      assert.equal(await records().imageTarget('registry.lab/app:1.0'), digest('a'));
    });
    it('refuses an image containerd does not have', async () => {
      await assert.rejects(records().imageTarget('registry.lab/app:2.0'), refusedWith(/^image registry.lab\/app:2.0 is not in containerd's image store \(namespace k8s.io\)$/));
    });
    it("reads the image ID CRI recorded at CreateContainer from the container's metadata extension", async () => {
      assert.equal(await records().criImageId('created'), digest('c'));
    });
    it('refuses a container containerd has no record of', async () => {
      await assert.rejects(records().criImageId('gone'), refusedWith(/^container gone has no containerd record to say which image CRI created it from: .*not found/));
    });
    it('refuses a container not created through CRI (no metadata extension, no image ID, or a name instead of one)', async () => {
      for (const id of ['no-extension', 'no-image-id', 'image-by-name']) {
        await assert.rejects(records().criImageId(id), refusedWith(/not created through CRI/), id);
      }
    });
    it('refuses a metadata extension that is not JSON', async () => {
      await assert.rejects(records().criImageId('not-json'), refusedWith(/^container not-json: containerd's record of it cannot be read/));
    });
    it("reads the OCI spec containerd recorded for a container (what its bundle's config.json is written from)", async () => {
      assert.deepEqual(await records().recordedSpec('created'), SPEC);
    });
    it('refuses a record with no spec, or one that is not an OCI spec object', async () => {
      await assert.rejects(records().recordedSpec('no-image-id'), refusedWith(/^container no-image-id: containerd's record of it holds no OCI spec$/));
      await assert.rejects(records().recordedSpec('no-extension'), refusedWith(/^container no-extension: containerd's record of it holds no OCI spec$/));
      await assert.rejects(records().recordedSpec('gone'), refusedWith(/^container gone has no containerd record to hold the spec its bundle was written from: .*not found/));
    });
    it('gives the spec and the image ID from one read of the record, each with its own refusal', async () => {
      const created = await records().container('created');
      assert.deepEqual(created.spec(), SPEC);
      assert.equal(created.criImageId(), digest('c'));
      const bare = await records().container('no-extension');
      assert.throws(() => bare.spec(), refusedWith(/holds no OCI spec$/));
      assert.throws(() => bare.criImageId(), refusedWith(/not created through CRI/));
      const gone = await records().container('gone');
      assert.throws(() => gone.spec(), refusedWith(/^container gone has no containerd record to hold the spec/));
      assert.throws(() => gone.criImageId(), refusedWith(/^container gone has no containerd record to say which image/));
    });
  });
}

describe("containerd's API", () => {
  it('warms up (its codecs, and a question about an image and a container nobody has) without failing', async () => {
    await api.warmUp();
    assert.equal(await api.imageTarget('registry.lab/app:1.0'), digest('a'), 'and answers as before');
  });
  describe('when the namespace is another one', () => {
    it('finds nothing there, as containerd scopes every record by namespace', async () => {
      const other = apiRecords({ address: socket, namespace: 'default' });
      try {
        await assert.rejects(other.imageTarget('registry.lab/app:1.0'), refusedWith(/not in containerd's image store \(namespace default\)/));
      } finally {
        other.close();
      }
    });
  });
  describe('when containerd cannot be reached', () => {
    it('refuses, naming the socket, within its timeout', async () => {
      const missing = join(dir, 'no-such.sock');
      const unreachable = apiRecords({ address: missing, namespace: 'k8s.io' }, 1000);
      const started = Date.now();
      try {
        await assert.rejects(unreachable.imageTarget('registry.lab/app:1.0'), refusedWith(new RegExp(`^cannot ask containerd at ${missing} for image registry.lab/app:1.0: `)));
        await assert.rejects(unreachable.criImageId('created'), refusedWith(new RegExp(`^cannot ask containerd at ${missing} for container created: `)));
      } finally {
        unreachable.close();
      }
      assert.ok(Date.now() - started < 10_000);
    });
  });
  describe('when containerd comes back after a refusal', () => {
    it('answers again on the next question, without waiting out a long reconnect backoff', async () => {
      const later = join(dir, 'later.sock');
      // Its deadline (1.5 s) is longer than the longest reconnect backoff (1 s), far shorter than gRPC's default (120 s).
      const records = apiRecords({ address: later, namespace: 'k8s.io' }, 1500);
      let restarted: grpc.Server | undefined;
      try {
        // Down for 6 s: long enough for gRPC's default backoff to grow past the deadline.
        for (let i = 0; i < 4; i++) await assert.rejects(records.imageTarget('registry.lab/app:1.0'), refusedWith(/^cannot ask containerd at /));
        restarted = await fakeContainerd(STATE, later);
        const again = apiRecords({ address: later, namespace: 'k8s.io' }, 5000);
        try {
          // The first client, whose channel saw the failure, recovers too.
          assert.equal(await records.imageTarget('registry.lab/app:1.0'), digest('a'));
          assert.equal(await again.imageTarget('registry.lab/app:1.0'), digest('a'));
        } finally {
          again.close();
        }
      } finally {
        records.close();
        restarted?.forceShutdown();
      }
    });
  });
});
