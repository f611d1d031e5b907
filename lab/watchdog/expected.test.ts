import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyLowerdir, deriveExpectation, deriveMounts, deriveRootfs, type OciSpec } from './expected.ts';
import { parseMountinfo } from './mountinfo.ts';
import { blockDevices, TASK_DIR, sample, sampleText } from './test-samples.ts';

describe('deriveRootfs', () => {
  describe('when the start gate rewired a protected container (integrity node)', () => {
    const { expectation } = sample('integrity', 'system-agent');
    it('finds the standard layer on top of the image layers, read-only, without an upperdir', () => {
      const r = expectation.rootfs;
      assert.equal(r.gated, true);
      assert.equal(r.readOnly, true);
      assert.equal(r.upperdir, undefined);
      assert.deepEqual(r.layers.map((l) => l.kind), ['standard', 'snapshot', 'snapshot']);
      assert.deepEqual(r.problems, []);
    });
    it('names the device the gate mounted behind each lowerdir (what is mounted, not a path)', () => {
      assert.deepEqual(expectation.rootfs.layers.map((l) => l.layerFile), ['/dev/loop2', '/dev/loop1', '/dev/loop0']);
      assert.deepEqual(expectation.rootfs.layers.map((l) => l.mount?.majmin), ['7:2', '7:1', '7:0']);
    });
  });

  describe('when the container runs on vanilla containerd', () => {
    const { expectation } = sample('vanilla', 'system-agent');
    it('accepts the snapshotter upperdir and finds only image layers', () => {
      assert.equal(expectation.rootfs.gated, false);
      assert.ok(expectation.rootfs.upperdir?.includes('io.containerd.snapshotter.v1.erofs/snapshots/'));
      assert.deepEqual(expectation.rootfs.layers.map((l) => l.kind), ['snapshot', 'snapshot']);
      assert.deepEqual(expectation.rootfs.problems, []);
    });
  });

  describe('when the bundle rootfs is not mounted on the node', () => {
    it('says so as a problem', () => {
      const r = deriveRootfs({ root: { path: 'rootfs' } }, { bundleDir: `${TASK_DIR}/gone`, nodeMounts: parseMountinfo(sampleText('integrity', 'node.mountinfo')) });
      assert.match(r.problems[0]!, /is not mounted on the node/);
    });
  });

  describe('when a lowerdir is not a read-only EROFS mount of its layer.erofs', () => {
    const node = parseMountinfo(sampleText('integrity', 'node.mountinfo'));
    it('flags a lowerdir that is a plain directory', () => {
      const l = classifyLowerdir('/var/lib/integrity-lab', { bundleDir: '', nodeMounts: node });
      assert.equal(l.kind, 'unknown');
      assert.match(l.problem!, /not a read-only EROFS mount/);
    });
  });

  describe("when a lowerdir is one of the start gate's layer mounts", () => {
    const s = sample('integrity', 'system-agent');
    const ctx = { bundleDir: `${TASK_DIR}/${s.id}`, nodeMounts: s.node, blockDevice: blockDevices('integrity') };
    const own = (name: string) => `/run/integrity-lab/layers/${s.id}/${name}`;
    it('accepts a read-only EROFS mount of a loop device, whatever its source string says', () => {
      const l = classifyLowerdir(own('standard'), ctx);
      assert.deepEqual([l.kind, l.layerFile, l.problem], ['standard', '/dev/loop2', undefined]);
    });
    it('flags a forged mount on the same mount point that is not a block device (a file-backed EROFS naming the genuine file)', () => {
      const forged = parseMountinfo(`${sampleText('integrity', 'node.mountinfo')}\n999 1 0:250 / ${own('0')} ro,relatime - erofs /dev/loop0 ro`);
      const l = classifyLowerdir(own('0'), { ...ctx, nodeMounts: forged });
      assert.match(l.problem!, /on device 0:250, which is not a loop or dm-verity device/);
      assert.equal(l.layerFile, undefined, 'nothing to re-verify on trust');
    });
    it("flags another container's gate mount", () => {
      const l = classifyLowerdir(own('0'), { ...ctx, bundleDir: `${TASK_DIR}/other` });
      assert.match(l.problem!, /start-gate layer of another container/);
    });
  });
});

describe('deriveMounts', () => {
  describe('when the spec binds sandbox files (hosts, hostname, resolv.conf, shm)', () => {
    it('expects each at the st_dev and root the node gives its source', () => {
      const { expectation } = sample('integrity', 'system-agent');
      const hosts = expectation.mounts.find((m) => m.mountPoint === '/etc/hosts')!;
      assert.equal(hosts.majmin, '254:0');
      assert.match(hosts.root!, /_data\/io\.containerd\.grpc\.v1\.cri\/sandboxes\/09b96b7d.*\/hosts$/);
      const shm = expectation.mounts.find((m) => m.mountPoint === '/dev/shm')!;
      assert.deepEqual([shm.majmin, shm.root], ['0:46', '/']);
    });
  });

  describe('when the spec declares hostPath volumes from a node tmpfs', () => {
    it('expects the read-only file and the scratch directory as binds of that tmpfs', () => {
      const { expectation } = sample('integrity-volumes', 'volume-agent');
      const blob = expectation.mounts.find((m) => m.mountPoint === '/data/blob')!;
      const scratch = expectation.mounts.find((m) => m.mountPoint === '/scratch')!;
      assert.equal(blob.readOnly, true);
      assert.equal(blob.root, '/blob');
      assert.equal(scratch.root, '/scratch');
      assert.equal(blob.majmin, scratch.majmin);
    });
  });

  describe('when the spec has a v1 cgroup mount', () => {
    it('expects a tmpfs at /sys/fs/cgroup and allows cgroup controllers below it', () => {
      const { expectation } = sample('integrity', 'system-agent');
      const cg = expectation.mounts.filter((m) => m.mountPoint === '/sys/fs/cgroup');
      assert.deepEqual(cg.map((m) => [m.under ?? false, m.fstypes]), [[false, ['cgroup2', 'tmpfs']], [true, ['cgroup']]]);
    });
  });

  describe('when the spec has masked and read-only paths (a sandbox)', () => {
    const { expectation } = sample('integrity', 'system-agent-sandbox');
    it('allows /dev/null over a masked file or a read-only tmpfs over a masked directory, both optional', () => {
      const keys = expectation.mounts.filter((m) => m.mountPoint === '/proc/keys');
      assert.deepEqual(keys.map((k) => [k.root, k.fstypes, k.optional]), [['/null', undefined, true], ['/', ['tmpfs'], true]]);
    });
    it('expects a read-only path bound onto itself within its filesystem', () => {
      const sys = expectation.mounts.find((m) => m.mountPoint === '/proc/sys')!;
      assert.deepEqual([sys.fstypes, sys.root, sys.readOnly], [['proc'], '/sys', true]);
    });
  });

  describe('when a bind source cannot be found on the node', () => {
    it('still expects a mount at the destination, saying why it is weaker', () => {
      const spec: OciSpec = { mounts: [{ destination: '/x', type: 'bind', source: '/nowhere', options: ['rbind'] }] };
      const [m] = deriveMounts(spec, { bundleDir: '', nodeMounts: [] });
      assert.match(m!.why, /source not found on the node/);
      assert.equal(m!.majmin, undefined);
    });
  });

  describe('when an rbind source has submounts on the node', () => {
    it('expects each submount under the destination, optional', () => {
      const node = parseMountinfo(sampleText('integrity', 'node.mountinfo'));
      const spec: OciSpec = { mounts: [{ destination: '/host-containerd', type: 'bind', source: '/var/lib/containerd', options: ['rbind'] }] };
      const out = deriveMounts(spec, { bundleDir: '', nodeMounts: node });
      const layer = out.find((m) => m.mountPoint === '/host-containerd/io.containerd.snapshotter.v1.erofs/snapshots/1/fs')!;
      assert.equal(layer.optional, true);
      assert.equal(layer.majmin, node.find((n) => n.mountPoint === '/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/1/fs')!.majmin);
    });
  });
});

describe('deriveExpectation', () => {
  describe('when the spec comes from a captured bundle', () => {
    it('derives one expectation per spec mount plus runtime extras', () => {
      const s = sample('integrity', 'system-agent');
      const e = deriveExpectation(s.spec, { bundleDir: `${TASK_DIR}/${s.id}`, nodeMounts: s.node, blockDevice: blockDevices('integrity') });
      // 11 spec mounts, the cgroup one doubled (tmpfs + controllers below).
      assert.equal(e.mounts.length, (s.spec.mounts?.length ?? 0) + 1);
    });
  });
});
