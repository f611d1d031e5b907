import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CRI_IDENTITY_API, askedEarly, criIdentities, identityDifferences, type CriIdentitySource } from './identity.ts';

/** CRI's memory: containers → their sandbox and name; sandboxes → their pod's name and namespace. */
const CONTAINERS: Record<string, { podSandboxId: string; name: string }> = { agent: { podSandboxId: 'sb1', name: 'system-agent' }, orphan: { podSandboxId: 'gone', name: 'x' } };
const SANDBOXES: Record<string, { name: string; namespace: string }> = { sb1: { name: 'system-agent', namespace: 'kube-system' } };

async function fakeCri(socket: string): Promise<grpc.Server> {
  const api = grpc.loadPackageDefinition(CRI_IDENTITY_API) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
  const server = new grpc.Server();
  server.addService(api.runtime.v1.RuntimeService.service, {
    // As containerd's CRI: the filter's id picks the container; an unknown one lists nothing.
    ListContainers(call: grpc.ServerUnaryCall<{ filter?: { id?: string } }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const id = call.request.filter?.id ?? '';
      const c = CONTAINERS[id];
      cb(null, { containers: c ? [{ id, podSandboxId: c.podSandboxId, metadata: { name: c.name } }] : [] });
    },
    // Verbose: the runtime's info JSON, whose `config` is the CreateContainer request (Go protobuf JSON names).
    ContainerStatus(call: grpc.ServerUnaryCall<{ containerId: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const id = call.request.containerId;
      if (!CONTAINERS[id]) return cb({ code: grpc.status.NOT_FOUND, details: `an error occurred when try to find container "${id}": not found` });
      if (id === 'orphan') return cb(null, { info: { info: 'not json' } });
      const config = {
        metadata: { name: CONTAINERS[id].name },
        args: ['--verbose'],
        mounts: [{ container_path: '/data', host_path: '/srv/data', readonly: true }, { container_path: '/img', image: { image: 'x' } }],
        envs: [{ key: 'MODE', value: 'prod' }],
        working_dir: '/srv',
        devices: [{ container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rwm' }],
        linux: {
          resources: { cpu_shares: 2, oom_score_adj: 1000 },
          security_context: {
            capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'] },
            run_as_user: {},
            supplemental_groups: [3000, 4000],
            supplemental_groups_policy: 1,
            no_new_privs: true,
            namespace_options: { network: 2, pid: 1, userns_options: { mode: 0 } },
            seccomp: { profile_type: 2, localhost_ref: '/var/lib/kubelet/seccomp/p.json' },
            masked_paths: ['/proc/kcore'],
            readonly_paths: ['/proc/sys'],
          },
        },
      };
      cb(null, { info: { info: JSON.stringify({ sandboxID: CONTAINERS[id].podSandboxId, config }) } });
    },
    PodSandboxStatus(call: grpc.ServerUnaryCall<{ podSandboxId: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const s = SANDBOXES[call.request.podSandboxId];
      if (!s) return cb({ code: grpc.status.NOT_FOUND, details: `an error occurred when try to find sandbox ${call.request.podSandboxId}: not found` });
      cb(null, { status: { id: call.request.podSandboxId, metadata: { name: s.name, uid: 'u', namespace: s.namespace } } });
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}

const dir = mkdtempSync(join(tmpdir(), 'il-cri-identity-'));
const socket = join(dir, 'containerd.sock');
let server: grpc.Server;
let cri: ReturnType<typeof criIdentities>;
before(async () => {
  server = await fakeCri(socket);
  cri = criIdentities(socket);
});
after(() => {
  cri.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

describe('criIdentities', () => {
  it("gives a workload container's pod, namespace and name from CRI's state", async () => {
    assert.deepEqual(await cri.ofContainer('agent'), { namespace: 'kube-system', pod: 'system-agent', container: 'system-agent', sandboxId: 'sb1' });
  });
  it('says nothing of a container CRI does not have (one made through containerd directly)', async () => {
    assert.equal(await cri.ofContainer('made-with-ctr'), undefined);
  });
  it('fails, naming the socket and the sandbox, when CRI cannot say whose a listed container is', async () => {
    await assert.rejects(cri.ofContainer('orphan'), new RegExp(`^Error: cannot ask CRI at ${socket} for the sandbox gone of container orphan: NOT_FOUND`));
  });
  it('gives the CreateContainer request CRI holds: command, args, mounts (an image volume marked) and the process (zero values left out, as Go writes them)', async () => {
    assert.deepEqual(await cri.requestOf('agent'), {
      command: [],
      args: ['--verbose'],
      mounts: [
        { containerPath: '/data', hostPath: '/srv/data', image: false, readonly: true, propagation: 0 },
        { containerPath: '/img', hostPath: '', image: true, readonly: false, propagation: 0 },
      ],
      process: {
        envs: [{ key: 'MODE', value: 'prod' }],
        workingDir: '/srv',
        privileged: false,
        capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
        runAsUser: 0,
        runAsGroup: undefined,
        runAsUsername: '',
        supplementalGroups: [3000, 4000],
        supplementalGroupsStrict: true,
        noNewPrivs: true,
        namespaces: { network: 2, pid: 1, ipc: 0, userns: 0 },
        seccomp: 'localhost',
        seccompLocalhostRef: '/var/lib/kubelet/seccomp/p.json',
        maskedPaths: ['/proc/kcore'],
        readonlyPaths: ['/proc/sys'],
        devices: [{ containerPath: '/dev/fuse', hostPath: '/dev/fuse' }],
        oomScoreAdj: 1000,
        resources: { cpuShares: 2 },
      },
    });
    assert.equal(await cri.requestOf('made-with-ctr'), undefined);
    await assert.rejects(cri.requestOf('orphan'), /gave unreadable verbose info for container orphan/);
  });
  it('fails, naming the socket, when CRI cannot be reached', async () => {
    const missing = criIdentities(join(dir, 'no-such.sock'), 500);
    try {
      await assert.rejects(missing.ofContainer('agent'), /cannot ask CRI at .*no-such\.sock for container agent: /);
    } finally {
      missing.close();
    }
  });
});

describe('askedEarly', () => {
  /** A source that logs each question as it is asked, and answers when told to. */
  const recording = () => {
    const asked: string[] = [];
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const source: CriIdentitySource = {
      ofContainer: async (id) => {
        asked.push(`ofContainer ${id}`);
        await answered;
        return { namespace: 'kube-system', pod: 'p', container: 'c', sandboxId: 's' };
      },
      requestOf: async (id) => {
        asked.push(`requestOf ${id}`);
        await answered;
        if (id === 'broken') throw new Error('cannot ask CRI');
        return { command: [], args: [], mounts: [] };
      },
    };
    return { asked, answer, source };
  };
  it('asks both questions about the container at once, before either is awaited, and each only once', async () => {
    const r = recording();
    const early = askedEarly(r.source, 'agent', { request: true });
    assert.deepEqual(r.asked, ['ofContainer agent', 'requestOf agent']);
    r.answer();
    assert.equal((await early.ofContainer('agent'))?.namespace, 'kube-system');
    assert.deepEqual(await early.requestOf('agent'), { command: [], args: [], mounts: [] });
    assert.equal(r.asked.length, 2);
  });
  it('leaves the request to be asked when wanted, and asks about other containers as the source does', async () => {
    const r = recording();
    const early = askedEarly(r.source, 'agent', { request: false });
    assert.deepEqual(r.asked, ['ofContainer agent']);
    r.answer();
    await early.requestOf('agent');
    await early.ofContainer('other');
    assert.deepEqual(r.asked, ['ofContainer agent', 'requestOf agent', 'ofContainer other']);
  });
  it('keeps a failure for the question that is awaited, with no unhandled rejection meanwhile', async () => {
    const r = recording();
    const early = askedEarly(r.source, 'broken', { request: true });
    r.answer();
    await new Promise((resolve) => setTimeout(resolve, 10));
    await assert.rejects(early.requestOf('broken'), /cannot ask CRI/);
  });
});

describe('identityDifferences', () => {
  const cri = { namespace: 'kube-system', pod: 'system-agent', container: 'system-agent', sandboxId: 'sb1' };
  const annotations = { 'io.kubernetes.cri.sandbox-namespace': 'kube-system', 'io.kubernetes.cri.sandbox-name': 'system-agent', 'io.kubernetes.cri.container-name': 'system-agent' };
  it('finds none when the record names the pod CRI has', () => {
    assert.deepEqual(identityDifferences(cri, annotations), []);
  });
  it('names each field the record changed, with both values', () => {
    assert.deepEqual(identityDifferences(cri, { ...annotations, 'io.kubernetes.cri.sandbox-namespace': 'default' }), ['namespace "default" in containerd\'s record, "kube-system" in CRI\'s own state']);
    assert.deepEqual(identityDifferences(cri, {}).length, 3);
  });
});
