import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AUDIT_POLICY, AUDIT_POLICY_PATH, KindCluster, KindLabNode, isBootWaitTimeout, kindNodeNames, nearPrivilegedFlags, renderKindConfig } from './cluster.ts';
import { kindContainerdConfig } from './node-image.ts';
import { getProfile, getWorkload, loadCatalog } from '../spec/loader.ts';
import { versionLdflags } from './k8s-build.ts';
import { alertsFor, evaluateApiServerAudit } from './apiserver-audit.ts';
import { scratchDir } from '../testing/scratch-dir.ts';

describe('renderKindConfig', () => {
  const config = parse(renderKindConfig({
    name: 'il-x',
    image: 'integrity-lab/kind-node:abc',
    auditPolicy: '/state/audit-policy.yaml',
    nodes: [
      { role: 'control-plane', extraMounts: [{ hostPath: '/state/run/cp', containerPath: '/run/integrity-lab' }] },
      { role: 'worker', extraMounts: [{ hostPath: '/state/run/w', containerPath: '/run/integrity-lab' }] },
    ],
  })) as { networking: Record<string, unknown>; nodes: { role: string; image: string; extraMounts: { hostPath: string; containerPath: string }[] }[]; kubeadmConfigPatches: string[] };
  const patches = config.kubeadmConfigPatches.map((p) => parse(p) as Record<string, unknown>);

  it('turns off kind\'s default CNI and kube-proxy: neither has an image here', () => {
    assert.deepEqual(config.networking, { disableDefaultCNI: true, kubeProxyMode: 'none' });
  });
  it('skips kubeadm\'s CoreDNS and kube-proxy phases, so nothing is ever pulled', () => {
    assert.deepEqual(patches.find((p) => p.kind === 'InitConfiguration')?.skipPhases, ['preflight', 'addon/kube-proxy', 'addon/coredns']);
  });
  it('lets the kubelet run on cgroup v1', () => {
    assert.equal(patches.find((p) => p.kind === 'KubeletConfiguration')?.failCgroupV1, false);
  });
  it('gives every node its own CRI directory and only the control plane the audit policy', () => {
    assert.deepEqual(config.nodes.map((n) => n.extraMounts.map((m) => m.containerPath)), [['/run/integrity-lab', AUDIT_POLICY_PATH], ['/run/integrity-lab']]);
    assert.ok(config.nodes.every((n) => n.image === 'integrity-lab/kind-node:abc'));
  });
  it('puts every apiserver flag in one ClusterConfiguration patch (a second would replace the lists)', () => {
    const cluster = patches.filter((p) => p.kind === 'ClusterConfiguration');
    assert.equal(cluster.length, 1);
    const args = (cluster[0]!.apiServer as { extraArgs: { name: string }[] }).extraArgs.map((a) => a.name);
    assert.deepEqual(args, ['enable-aggregator-routing', 'audit-policy-file', 'audit-log-path', 'audit-log-maxsize']);
  });
  it('names the control-plane images under the node registry\'s protected system prefix, never a public registry', () => {
    const cluster = patches.find((p) => p.kind === 'ClusterConfiguration')!;
    assert.equal(cluster.imageRepository, '127.0.0.1:5000/system');
  });
});

describe('isBootWaitTimeout (kind create retried once)', () => {
  it("is kind's own wait for a node's boot log, as runStreamed reports a failed kind create", () => {
    const tail = 'ERROR: failed to create cluster: could not find a log line that matches "Reached target .*Multi-User System.*|detected cgroup v1"';
    assert.equal(isBootWaitTimeout(new Error(`kind create cluster failed: \`kind create cluster --name il-x\` exited with code 1. Last output:\n${tail}`)), true);
  });
  it('is not any other kind failure, which is not retried', () => {
    for (const message of ['ERROR: failed to create cluster: node(s) already exist for a cluster with the name "il-x"', 'failed to init node with kubeadm: exit status 1', 'cannot run kind: ENOENT']) {
      assert.equal(isBootWaitTimeout(new Error(message)), false, message);
    }
  });
});

describe('KindCluster.start after an interrupt', () => {
  it('stops before anything is made, with the interrupt as its error', async () => {
    const catalog = await loadCatalog(join(import.meta.dirname, '../../scenarios'));
    const reason = new Error('SIGINT: stopping');
    await assert.rejects(new KindCluster(getProfile(catalog, 'integrity')).withSignal(AbortSignal.abort(reason)).start(), (err) => err === reason);
  });
});

describe('kindNodeNames', () => {
  it('names nodes as kind does', () => {
    assert.deepEqual(kindNodeNames('il-x', 2), ['il-x-control-plane', 'il-x-worker', 'il-x-worker2']);
  });
});

describe('AUDIT_POLICY', () => {
  it('never logs secret or configmap data (Metadata level, matched before the pod rule)', () => {
    const rules = (parse(AUDIT_POLICY) as { rules: { level: string; resources?: { resources?: string[] }[] }[] }).rules;
    const first = rules.findIndex((r) => r.resources?.some((g) => g.resources?.includes('secrets')));
    assert.equal(rules[first]!.level, 'Metadata');
    assert.ok(rules.slice(0, first).every((r) => !r.resources), 'no earlier rule may match secrets');
  });
});

describe('versionLdflags', () => {
  it('stamps the version kubeadm checks, in both version packages', () => {
    const flags = versionLdflags('v1.36.3');
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      assert.match(flags, new RegExp(`-X ${pkg.replace(/\//g, '\\/')}\\.gitVersion=v1\\.36\\.3`));
      assert.match(flags, new RegExp(`-X ${pkg.replace(/\//g, '\\/')}\\.gitMinor=36`));
    }
  });
});

describe('the docker shim', () => {
  const shim = join(import.meta.dirname, 'docker-shim/docker');
  const dir = scratchDir('il-shim');
  const fake = join(dir, 'docker');
  writeFileSync(fake, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
  chmodSync(fake, 0o755);
  const call = (...args: string[]) =>
    spawnSync(shim, args, { encoding: 'utf8', env: { ...process.env, INTEGRITY_LAB_REAL_DOCKER: fake, INTEGRITY_LAB_PRIVILEGE_FLAGS: nearPrivilegedFlags(['SYS_RESOURCE']).join('\n') } }).stdout.split('\n').filter(Boolean);

  it('replaces --privileged on run with the near-privileged set, keeping every other argument', () => {
    const argv = call('run', '--name', 'n', '--privileged', '--tmpfs', '/tmp', 'image');
    assert.ok(!argv.includes('--privileged'));
    assert.ok(argv.includes('--cap-drop=SYS_RESOURCE') && argv.includes('--device-cgroup-rule=a *:* rwm') && argv.includes('--volume=/dev:/dev'));
    assert.deepEqual(argv.slice(0, 3), ['run', '--name', 'n']);
    assert.deepEqual(argv.slice(-3), ['--tmpfs', '/tmp', 'image']);
  });
  it('drops --privileged on exec and passes other commands through untouched', () => {
    assert.deepEqual(call('exec', '--privileged', '-i', 'n', 'kubeadm', 'init'), ['exec', '-i', 'n', 'kubeadm', 'init']);
    assert.deepEqual(call('ps', '--privileged'), ['ps', '--privileged']);
  });
  it('refuses to run without the real client named', () => {
    const r = spawnSync(shim, ['ps'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /INTEGRITY_LAB_REAL_DOCKER is not set/);
  });
});

describe('evaluateApiServerAudit', () => {
  // Two events as kube-apiserver's log backend writes them (RequestResponse, ResponseComplete).
  const event = (name: string, privileged: boolean) => ({
    kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', auditID: `id-${name}`, stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/apps/pods', verb: 'create', user: { username: 'kubernetes-admin', groups: ['system:masters'] },
    sourceIPs: ['127.0.0.1'], objectRef: { resource: 'pods', namespace: 'apps', name, apiVersion: 'v1' },
    responseStatus: { code: 201 },
    requestObject: { kind: 'Pod', apiVersion: 'v1', metadata: { name, namespace: 'apps' }, spec: { containers: [{ name, image: '127.0.0.1:5000/lab/tool:1.0', securityContext: { privileged } }] } },
    responseObject: { kind: 'Pod', apiVersion: 'v1', metadata: { name, namespace: 'apps' } },
    requestReceivedTimestamp: '2026-12-05T12:00:00.000000Z', stageTimestamp: '2026-12-05T12:00:00.010000Z',
  });
  it('fires Falco\'s "Create Privileged Pod" for the privileged pod only', async () => {
    const log = [event('tool', true), event('app', false)].map((e) => JSON.stringify(e)).join('\n') + '\n';
    const verdict = await evaluateApiServerAudit(log);
    assert.equal(verdict.events, 2);
    assert.equal(alertsFor(verdict.alerts, 'Create Privileged Pod', 'apps', 'tool').length, 1);
    assert.equal(alertsFor(verdict.alerts, 'Create Privileged Pod', 'apps', 'app').length, 0);
  });
});


describe('releaseLeakedLoopDevices', () => {
  it('detaches only non-autoclear devices whose lab layer file is gone', async () => {
    const { releaseLeakedLoopDevices } = await import('../node/loop-devices.ts');
    const detached: string[] = [];
    const listing = [
      '/dev/loop8 0 /lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/5/layer.erofs\\x20(deleted)',
      '/dev/loop9 1 /lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/15/layer.erofs\\x20(deleted)',
      '/dev/loop10 0 /lib/integrity-lab/standard-layer.erofs\\x20(deleted)',
      '/dev/loop11 0 /var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/7/layer.erofs',
      '/dev/loop12 0 /home/user/disk.img\\x20(deleted)',
    ].join('\n');
    const exec = {
      run: async (argv: readonly string[]) => {
        if (argv[1] === '--detach') detached.push(argv[2]!);
        return { exitCode: 0, stdout: Buffer.from(argv[1] === '--list' ? listing : ''), stderr: '' };
      },
    };
    const r = await releaseLeakedLoopDevices(exec as never);
    assert.deepEqual(detached, ['/dev/loop8', '/dev/loop10']);
    assert.deepEqual(r, { released: ['/dev/loop8', '/dev/loop10'], failed: [] });
  });
});

describe('KindLabNode', () => {
  const load = async () => {
    const catalog = await loadCatalog(join(import.meta.dirname, '../../scenarios'));
    const profile = getProfile(catalog, 'integrity');
    const node = new KindLabNode({ name: 'il-t-control-plane', role: 'control-plane', labId: 't', profile, stateDir: scratchDir('il-kind') });
    return { node, profile, workload: getWorkload(catalog, 'system-agent') };
  };

  describe('podSpecOf', () => {
    it('puts a pod started over CRI in a systemd slice, since the node\'s runc refuses a cgroupfs path', async () => {
      const { node, workload } = await load();
      const spec = node.podSpecOf(workload);
      assert.match(spec.cgroupParent ?? '', /^[a-z][a-z-]*\.slice$/);
      assert.notEqual(spec.cgroupParent, 'kubepods.slice', 'the kubelet\'s own slice is left to the kubelet');
      assert.equal(spec.namespace, workload.spec.namespace);
    });
  });

  describe('runCriPod', () => {
    it('stops the kubelet once before the first pod, which it would otherwise kill as an orphan within 2 s', async () => {
      const { node, workload } = await load();
      const calls: string[][] = [];
      Object.defineProperty(node, 'exec', { value: { run: async (argv: readonly string[]) => (calls.push([...argv]), { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' }) } });
      assert.equal(node.kubeletStopped, false);
      // No containerd behind the node's socket here: the CRI call fails, after the kubelet was stopped.
      await assert.rejects(node.runCriPod(node.podSpecOf(workload)));
      await assert.rejects(node.runCriPod(node.podSpecOf(workload)));
      assert.deepEqual(calls, [['systemctl', 'stop', 'kubelet']]);
      assert.equal(node.kubeletStopped, true);
      // A pod through the apiserver needs the kubelet again: started once.
      await node.ensureKubelet();
      await node.ensureKubelet();
      assert.deepEqual(calls, [['systemctl', 'stop', 'kubelet'], ['systemctl', 'start', 'kubelet']]);
      assert.equal(node.kubeletStopped, false);
    });
  });

  describe('sandboxImage', () => {
    it('is the pause image the node\'s containerd configuration starts sandboxes from', async () => {
      const { node, profile } = await load();
      assert.ok(kindContainerdConfig(profile).includes(`sandbox = '${node.sandboxImage}'`), `the kind containerd configuration does not name ${node.sandboxImage} as its sandbox image`);
    });
  });
});
