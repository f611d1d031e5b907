import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffMounts } from './diff.ts';
import { parseMountinfo } from './mountinfo.ts';
import { blockDevices, sample } from './test-samples.ts';
import { deriveExpectation } from './expected.ts';
import { noexecWritableMounts } from '../gates/runtime-gate.ts';

const reasonsAt = (findings: ReturnType<typeof diffMounts>, mountPoint: string) => findings.filter((f) => f.entry?.mountPoint === mountPoint).map((f) => f.reasons);

describe('diffMounts', () => {
  describe('when a namespace is exactly as its spec made it', () => {
    for (const [set, container] of [
      ['integrity', 'system-agent'],
      ['integrity', 'system-agent-sandbox'],
      ['integrity', 'app'],
      ['integrity-volumes', 'volume-agent'],
      ['vanilla', 'system-agent'],
      ['vanilla', 'volume-agent'],
    ] as const) {
      it(`finds nothing in ${set}/${container}`, () => {
        const s = sample(set, container);
        assert.deepEqual(diffMounts(s.expectation, s.mountinfo(), s.diffContext()), []);
      });
    }
  });

  describe('when root on the node overmounted a protected container (captured after five attacks)', () => {
    const s = sample('integrity', 'system-agent');
    const findings = diffMounts(s.expectation, s.mountinfo('attacked'), s.diffContext({ '/opt/agent/run.sh': 'file', '/opt/agent/config': 'file', '/opt/agent': 'directory' }));
    it('reports one finding per extra mount and nothing else', () => {
      assert.equal(findings.length, 5);
      assert.ok(findings.every((f) => f.entry));
    });
    it('classifies an nsenter bind of a container tmpfs file over a script', () => {
      assert.deepEqual(reasonsAt(findings, '/opt/agent/run.sh'), [['overmount-file', 'unverified-source']]);
    });
    it('classifies an open_tree/move_mount clone of a node file as a bind from the host, naming the node path', () => {
      assert.deepEqual(reasonsAt(findings, '/opt/agent/config'), [['overmount-file', 'host-bind', 'unverified-source']]);
      assert.equal(findings.find((f) => f.entry?.mountPoint === '/opt/agent/config')!.hostPath, '/var/lib/integrity-lab/evil');
    });
    it('classifies a tmpfs over /etc', () => {
      assert.deepEqual(reasonsAt(findings, '/etc'), [['tmpfs-over-etc', 'unverified-source']]);
    });
    it('classifies a node directory over a container directory', () => {
      assert.deepEqual(reasonsAt(findings, '/opt/agent'), [['overmount-directory', 'host-bind', 'unverified-source']]);
    });
    it('classifies a mount stacked over the container root', () => {
      assert.deepEqual(reasonsAt(findings, '/'), [['mount-over-root', 'unverified-source']]);
    });
    it('keeps the mount line as the kernel wrote it', () => {
      const f = findings.find((x) => x.entry?.mountPoint === '/opt/agent/run.sh')!;
      assert.equal(f.entry!.line, '292 140 0:71 /p /opt/agent/run.sh rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=65536k');
    });
  });

  describe('when the same attack hits a vanilla container', () => {
    it('finds it the same way (the diff does not depend on the gate)', () => {
      const s = sample('vanilla', 'system-agent');
      const findings = diffMounts(s.expectation, s.mountinfo('attacked'), s.diffContext({ '/opt/agent/run.sh': 'file' }));
      // The source was staged in /dev/shm, the pod's shm tmpfs, which the node mounts too.
      assert.deepEqual(findings.map((f) => f.reasons), [['overmount-file', 'host-bind', 'unverified-source']]);
      assert.match(findings[0]!.hostPath!, /^\/run\/containerd\/io\.containerd\.grpc\.v1\.cri\/sandboxes\/[0-9a-f]{64}\/shm\/p$/);
    });
  });

  describe('when a declared read-only volume is remounted read-write and a declared bind is unmounted', () => {
    const s = sample('integrity-volumes', 'volume-agent');
    const findings = diffMounts(s.expectation, s.mountinfo('changed'), s.diffContext());
    it('reports the read-only volume as changed', () => {
      const changed = findings.filter((f) => f.reasons[0] === 'changed-mount');
      assert.deepEqual(changed.map((f) => f.entry?.mountPoint), ['/data/blob']);
    });
    it('reports /etc/hosts as missing', () => {
      const missing = findings.filter((f) => f.reasons[0] === 'missing-mount');
      assert.deepEqual(missing.map((f) => f.expected?.mountPoint), ['/etc/hosts']);
    });
  });

  describe('when an attacker mounts the same declared source a second time', () => {
    it('reports the duplicate: each expected mount explains one entry only', () => {
      const s = sample('integrity', 'system-agent');
      const entries = s.mountinfo();
      const hosts = entries.find((e) => e.mountPoint === '/etc/hosts')!;
      const dup = parseMountinfo(hosts.line.replace(/^\d+/, '999'))[0]!;
      const findings = diffMounts(s.expectation, [...entries, dup], s.diffContext({ '/etc/hosts': 'file' }));
      assert.equal(findings.length, 1);
      assert.equal(findings[0]!.entry!.mountId, 999);
      assert.ok(findings[0]!.reasons.includes('host-bind'));
    });
  });

  describe('when a verified layer of the container is bound elsewhere in it', () => {
    it('reports the overmount but not an unverified source', () => {
      const s = sample('integrity', 'system-agent');
      const layer = s.expectation.rootfs.layers.find((l) => l.kind === 'snapshot')!.mount!;
      const entries = s.mountinfo();
      const bound = parseMountinfo(`500 140 ${layer.majmin} /opt /srv rw,relatime - erofs ${layer.source} ro`)[0]!;
      const [f] = diffMounts(s.expectation, [...entries, bound], s.diffContext({ '/srv': 'directory' }));
      assert.deepEqual(f!.reasons, ['overmount-directory']);
    });
  });

  describe('when the container root is not the bundle rootfs any more', () => {
    it('reports the root as replaced', () => {
      const s = sample('integrity', 'system-agent');
      const entries = s.mountinfo().map((e) => (e.mountId === 140 ? { ...e, majmin: '0:999' } : e));
      const findings = diffMounts(s.expectation, entries, s.diffContext());
      assert.deepEqual(findings.map((f) => f.reasons[0]), ['rootfs-replaced']);
    });
  });

  describe('when the read-only root is mounted read-write', () => {
    it('reports a changed mount', () => {
      const s = sample('integrity', 'system-agent');
      const entries = s.mountinfo().map((e) => (e.mountId === 140 ? { ...e, mountOptions: ['rw', 'relatime'] } : e));
      assert.deepEqual(diffMounts(s.expectation, entries, s.diffContext()).map((f) => f.reasons), [['changed-mount']]);
    });
  });

  describe("when root takes noexec off a writable mount the start gate made noexec (mount -o remount,exec /tmp)", () => {
    // The spec as the start gate writes it (noexecWritableMounts), and the mount as runc made it.
    const s = sample('integrity', 'system-agent');
    const gated = deriveExpectation(
      { ...s.spec, mounts: noexecWritableMounts(s.spec.mounts ?? []) },
      { bundleDir: s.expectation.rootfs.bundleRootfs.replace(/\/rootfs$/, ''), nodeMounts: s.node, blockDevice: blockDevices('integrity') },
    );
    // The sample was captured before the gate's noexec: runc would have made each such mount noexec.
    const asRuncMadeThem = s.mountinfo().map((e) => (gated.mounts.some((x) => x.noexec && x.mountPoint === e.mountPoint) && !e.mountOptions.includes('noexec') ? { ...e, mountOptions: [...e.mountOptions, 'noexec'] } : e));
    it('finds nothing while the mounts are noexec', () => {
      assert.ok(gated.mounts.some((x) => x.mountPoint === '/tmp' && x.noexec));
      assert.deepEqual(diffMounts(gated, asRuncMadeThem, s.diffContext()), []);
    });
    it('reports the mount that lost noexec as changed', () => {
      const remounted = asRuncMadeThem.map((e) => (e.mountPoint === '/tmp' ? { ...e, mountOptions: e.mountOptions.filter((o) => o !== 'noexec') } : e));
      const findings = diffMounts(gated, remounted, s.diffContext());
      assert.deepEqual(findings.map((f) => [f.entry?.mountPoint, f.reasons, f.key.endsWith(':exec')]), [['/tmp', ['changed-mount'], true]]);
      assert.match(findings[0]!.reason, /\/tmp lets programs run, the spec makes it noexec/);
    });
  });

  describe('when the namespace is going away and its mountinfo reads empty', () => {
    it('reports nothing', () => {
      const s = sample('integrity', 'system-agent');
      assert.deepEqual(diffMounts(s.expectation, [], s.diffContext()), []);
    });
  });

  describe('when the node cannot vouch for a lowerdir', () => {
    it('reports the root as not backed by verified layers', () => {
      const s = sample('integrity', 'system-agent');
      const broken = { ...s.expectation, rootfs: { ...s.expectation.rootfs, problems: ['lowerdir /x is not a read-only EROFS mount of /layer.erofs: not mounted'] } };
      const [f] = diffMounts(broken, s.mountinfo(), s.diffContext());
      assert.deepEqual(f!.reasons, ['unverified-source']);
      assert.match(f!.reason, /not backed by verified layers/);
    });
  });
});
