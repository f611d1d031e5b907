import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GATE_TMP_MOUNT, gatedSpec, hooksIn, specDifferences } from './bundle-spec.ts';

/** A container's spec as containerd's CRI records it (abridged from a lab node). */
const RECORDED = {
  root: { path: 'rootfs' } as { path: string; readonly?: boolean },
  annotations: { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-namespace': 'kube-system' },
  mounts: [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/etc/hosts', type: 'bind', source: '/var/lib/containerd/sandboxes/s/hosts', options: ['rbind', 'rprivate', 'rw', 'exec'] },
  ],
};

describe('gatedSpec', () => {
  it("is the start gate's rewrite: a read-only root, a noexec tmpfs on /tmp, noexec on every writable mount and no exec", () => {
    const g = gatedSpec(structuredClone(RECORDED));
    assert.equal(g.root?.readonly, true);
    assert.deepEqual(g.mounts?.map((m) => m.destination), ['/proc', '/sys', '/etc/hosts', '/tmp']);
    assert.deepEqual(g.mounts?.[0]?.options, ['nosuid', 'nodev', 'noexec']);
    assert.deepEqual(g.mounts?.[1]?.options, RECORDED.mounts[1]!.options, 'a read-only mount keeps its flags');
    assert.deepEqual(g.mounts?.[2]?.options, ['rbind', 'rprivate', 'rw', 'noexec']);
    assert.equal(g.mounts?.[3]?.type, GATE_TMP_MOUNT.type);
    assert.equal(RECORDED.mounts.length, 3, 'the record is not changed');
  });
  it('keeps a /tmp the spec mounts, made noexec, and adds none', () => {
    const spec = { ...structuredClone(RECORDED), mounts: [{ destination: '/tmp', type: 'bind', source: '/var/tmp/x', options: ['rbind', 'rw'] }] };
    assert.deepEqual(gatedSpec(spec).mounts, [{ destination: '/tmp', type: 'bind', source: '/var/tmp/x', options: ['rbind', 'rw', 'noexec'] }]);
  });
  it('gives the same JSON for the same spec, so that a bundle can be checked against the record at any time', () => {
    assert.equal(JSON.stringify(gatedSpec(structuredClone(RECORDED))), JSON.stringify(gatedSpec(structuredClone(RECORDED))));
  });
});

describe('specDifferences', () => {
  it('finds none between a spec and its copy', () => {
    assert.deepEqual(specDifferences(structuredClone(RECORDED), RECORDED), []);
  });
  it('names a changed annotation by its JSON path, with both values', () => {
    const bundle = structuredClone(RECORDED);
    bundle.annotations['io.kubernetes.cri.sandbox-namespace'] = 'default';
    assert.deepEqual(specDifferences(bundle, RECORDED), ['annotations["io.kubernetes.cri.sandbox-namespace"]: "default" in the bundle, "kube-system" in containerd\'s record']);
  });
  it('names an added mount, not the whole list', () => {
    const bundle = structuredClone(RECORDED);
    bundle.mounts.push({ destination: '/opt/agent/run.sh', type: 'bind', source: '/run/x', options: ['rbind', 'rw'] });
    assert.deepEqual(specDifferences(bundle, RECORDED), [
      'mounts: 4 entries in the bundle, 3 in containerd\'s record: {"destination":"/opt/agent/run.sh","type":"bind","source":"/run/x","options":["rbind","rw"]} in the bundle only',
    ]);
  });
  it('names a changed option and a field that is absent on one side', () => {
    const bundle = structuredClone(RECORDED);
    bundle.mounts[2]!.options = ['rbind', 'rprivate', 'rw', 'noexec'];
    bundle.root.readonly = true;
    assert.deepEqual(specDifferences(bundle, RECORDED), [
      'root.readonly: true in the bundle, absent in containerd\'s record',
      'mounts[2].options[3]: "noexec" in the bundle, "exec" in containerd\'s record',
    ]);
  });
  it('says when the bundle is not a spec at all, and stops at the limit', () => {
    assert.deepEqual(specDifferences(undefined, RECORDED), [`(the whole spec): absent in the bundle, ${JSON.stringify(RECORDED).slice(0, 197)}... in containerd's record`]);
    const many = structuredClone(RECORDED) as unknown as Record<string, unknown>;
    for (const k of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) many[k] = 1;
    assert.equal(specDifferences(many, RECORDED, 3).length, 3);
  });
});

describe('hooksIn', () => {
  it('finds none in a spec without hooks, or with empty stages', () => {
    assert.deepEqual(hooksIn(RECORDED), []);
    assert.deepEqual(hooksIn({ hooks: { prestart: [], poststop: null } }), []);
  });
  it('names every hook by stage, index, program and arguments', () => {
    const hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'id'] }], poststart: [{ path: '/usr/bin/true' }, { path: '/usr/bin/logger', args: ['logger', 'up'] }] };
    assert.deepEqual(hooksIn({ hooks }), [
      'hooks.startContainer[0]: /bin/sh ["sh","-c","id"]',
      'hooks.poststart[0]: /usr/bin/true []',
      'hooks.poststart[1]: /usr/bin/logger ["logger","up"]',
    ]);
  });
  it('names a malformed hooks field rather than passing it over', () => {
    assert.deepEqual(hooksIn({ hooks: 'run-me' }), ['hooks: "run-me"']);
    assert.deepEqual(hooksIn({ hooks: { createRuntime: { path: '/x' } } }), ['hooks.createRuntime: {"path":"/x"}']);
  });
});
