import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CRI_ROOT, CRI_STATE, departuresFromRequest, expectedArgs } from './cri-request.ts';

describe('expectedArgs (as containerd CRI builds process.args)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default-arg'] };
  it("runs the image's entrypoint and cmd when the request names neither", () => {
    assert.deepEqual(expectedArgs({ command: [], args: [] }, image), ['/entry', 'default-arg']);
  });
  it("keeps the entrypoint but replaces the cmd with the request's args", () => {
    assert.deepEqual(expectedArgs({ command: [], args: ['x'] }, image), ['/entry', 'x']);
  });
  it("replaces both with the request's command, keeping only the request's args", () => {
    assert.deepEqual(expectedArgs({ command: ['/bin/sh', '-c'], args: ['id'] }, image), ['/bin/sh', '-c', 'id']);
    assert.deepEqual(expectedArgs({ command: ['/bin/true'], args: [] }, image), ['/bin/true']);
  });
  it('treats an entrypoint of one empty string as none, and a missing cmd as empty', () => {
    assert.deepEqual(expectedArgs({ command: [], args: [] }, { Entrypoint: [''], Cmd: ['/bin/app'] }), ['/bin/app']);
    assert.deepEqual(expectedArgs({ command: [], args: [] }, { Entrypoint: ['/e'], Cmd: null }), ['/e']);
  });
});

describe('departuresFromRequest', () => {
  const ids = { containerId: 'c1', sandboxId: 's1' };
  const image = { Entrypoint: ['/opt/agent/run.sh'] };
  const request = { command: [], args: [], mounts: [{ containerPath: '/data', hostPath: '/srv/link', image: false }] };
  /** As CRI writes the record for that request (a lab node's system-agent, with one volume whose host path is a symlink). */
  const recorded = () => ({
    process: { args: ['/opt/agent/run.sh'] },
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs' },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' },
      { destination: '/etc/hosts', type: 'bind', source: `${CRI_ROOT}/sandboxes/s1/hosts`, options: ['rbind'] },
      { destination: '/dev/shm', type: 'bind', source: `${CRI_STATE}/sandboxes/s1/shm`, options: ['rbind'] },
      { destination: '/data', type: 'bind', source: '/srv/real', options: ['rbind', 'ro'] },
      { destination: '/var/cache', type: 'bind', source: `${CRI_ROOT}/containers/c1/volumes/abc`, options: ['rbind'] },
    ],
  });
  const realpath = (p: string) => (p === '/srv/link' ? '/srv/real' : p);
  it('finds none in a record that follows from the request (symlinked host path resolved, sandbox files, image volume)', () => {
    assert.deepEqual(departuresFromRequest(recorded(), request, image, ids, realpath), []);
  });
  it('names a changed command', () => {
    const r = { ...recorded(), process: { args: ['/bin/sh', '-c', 'evil'] } };
    assert.deepEqual(departuresFromRequest(r, request, image, ids, realpath), [
      'process.args ["/bin/sh","-c","evil"] in containerd\'s record, ["/opt/agent/run.sh"] from the request CRI holds and the signed image config',
    ]);
  });
  it("names a bind nobody asked for, one from another pod's sandbox, and a mount type the runtime does not make", () => {
    const r = recorded();
    r.mounts.push({ destination: '/opt/agent', type: 'bind', source: '/var/tmp/evil', options: ['rbind', 'ro'] });
    r.mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: `${CRI_ROOT}/sandboxes/other/resolv.conf`, options: ['rbind'] });
    r.mounts.push({ destination: '/opt/agent/bin', type: 'tmpfs', source: 'tmpfs' });
    const out = departuresFromRequest(r, request, image, ids, realpath);
    assert.equal(out.length, 3);
    assert.ok(out.every((d) => /which no mount of the request CRI holds asked for$/.test(d)), out.join('\n'));
  });
  it("takes the node's /dev/shm only for a pod on the node's IPC namespace", () => {
    const r = { ...recorded(), linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }] } };
    r.mounts[4] = { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind'] };
    assert.equal(departuresFromRequest(r, request, image, ids, realpath).length, 1, 'a private IPC namespace gets its own /dev/shm');
    r.linux.namespaces = [{ type: 'pid' }, { type: 'mount' }];
    assert.deepEqual(departuresFromRequest(r, request, image, ids, realpath), []);
  });
  it('names a requested container path bound from another host path', () => {
    const r = recorded();
    r.mounts[5] = { destination: '/data', type: 'bind', source: '/etc', options: ['rbind', 'ro'] };
    assert.equal(departuresFromRequest(r, request, image, ids, realpath).length, 1);
  });
});
