import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeProc } from './fake-proc.ts';
import { ProcessTable, parseCmdline, parsePasswd, parseStat, pidsOfContainer, readProcess, scopeFromCgroup, type ProcReader } from './procfs.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/node', name), 'utf8');
const NODE = '89549c42c44bff87024121790431499fa3d564236b70a3305eceeb9757b34ee8';
const CID = '4b0a212671a3b76b422021464250771c8162785a33112cb3cda2eeb7700f95c5';

describe('scopeFromCgroup', () => {
  describe('when the process runs in a container of the node (captured, cgroup v1 with a v2 line)', () => {
    it('names the container, for its init and for a process CRI exec started', () => {
      assert.deepEqual(scopeFromCgroup(fixture('cgroup-container-init.txt'), NODE), { scope: 'container', containerId: CID });
      assert.deepEqual(scopeFromCgroup(fixture('cgroup-cri-exec.txt'), NODE), { scope: 'container', containerId: CID });
    });
    it('lets a container line win over the v2 line that still shows only the node, whatever their order', () => {
      const lines = fixture('cgroup-cri-exec.txt').trim().split('\n').reverse().join('\n');
      assert.deepEqual(scopeFromCgroup(lines, NODE), { scope: 'container', containerId: CID });
    });
  });
  describe('when the process belongs to the node itself', () => {
    it('says node', () => assert.deepEqual(scopeFromCgroup(fixture('cgroup-node.txt'), NODE), { scope: 'node' }));
  });
  describe('when it belongs to another node, or the host', () => {
    it('says outside', () => {
      assert.deepEqual(scopeFromCgroup(fixture('cgroup-cri-exec.txt'), NODE.replace('8954', '0000')), { scope: 'outside' });
      assert.deepEqual(scopeFromCgroup('9:name=systemd:/\n0::/init.scope\n', NODE), { scope: 'outside' });
    });
  });
  describe('when the node runs under the systemd cgroup driver', () => {
    it('reads docker-<id>.scope and cri-containerd-<id>.scope', () => {
      const text = `0::/system.slice/docker-${NODE}.scope/kubepods/besteffort/pod1/cri-containerd-${CID}.scope\n`;
      assert.deepEqual(scopeFromCgroup(text, NODE), { scope: 'container', containerId: CID });
    });
  });
});

describe('parseStat', () => {
  it('takes comm between the first ( and the last ), since a process may name itself ") 1 ("', () => {
    assert.deepEqual(parseStat('42 (a) 1 (b) S 7 42 42 0 -1'), { comm: 'a) 1 (b', state: 'S', ppid: 7 });
    assert.equal(parseStat('garbage'), undefined);
  });
  it('reads the flags (field 9), the nice value (19) and the start time (22) of a line that ends before the policy', () => {
    const line = '27573 (cat) R 27570 27570 31402 0 -1 4194308 98 0 0 0 0 0 0 0 20 0 1 0 5987648 3133440 360 18446744073709551615';
    assert.deepEqual(parseStat(line), { comm: 'cat', state: 'R', ppid: 27570, flags: 4194308, nice: 0, startTime: '5987648' });
  });
  it('reads a negative nice value and the scheduling policy (41) of a whole line', () => {
    const line = '9 (w) S 1 9 9 0 -1 4194560 1 0 0 0 0 0 0 0 39 -19 11 0 777 ' + Array(18).fill(0).join(' ') + ' 5 0 0 0 0 0 0 0 0 0 0 0';
    assert.deepEqual(parseStat(line), { comm: 'w', state: 'S', ppid: 1, flags: 4194560, nice: -19, startTime: '777', policy: 5 });
  });
  it('reads this process\'s own line: alive, not exiting', () => {
    const stat = parseStat(readFileSync('/proc/self/stat', 'utf8'))!;
    assert.equal(stat.flags! & 0x4, 0);
    assert.match(stat.startTime!, /^\d+$/);
    assert.equal(stat.policy, 0, 'SCHED_OTHER');
    assert.equal(typeof stat.nice, 'number');
  });
});

describe('parseCmdline', () => {
  it('splits argv on NUL and drops the terminating one', () => {
    assert.deepEqual(parseCmdline('sh\0-c\0id; cat x\0'), ['sh', '-c', 'id; cat x']);
    assert.deepEqual(parseCmdline(''), []);
  });
});

describe('readProcess', () => {
  describe('when the process is alive', () => {
    it('reads name, parent, argv, exe and place', () => {
      const proc = fakeProc({ '/proc/7/cgroup': fixture('cgroup-cri-exec.txt'), '/proc/7/stat': '7 (sh) S 3 7 7 0', '/proc/7/cmdline': 'sh\0-c\0id\0' }, { '/proc/7/exe': '/bin/busybox (deleted)' });
      assert.deepEqual(readProcess(proc, 7, NODE), { pid: 7, ppid: 3, name: 'sh', exepath: '/bin/busybox', exe: 'sh', cmdline: 'sh -c id', scope: { scope: 'container', containerId: CID } });
    });
  });
  describe('when it is gone', () => {
    it('gives undefined', () => assert.equal(readProcess(fakeProc({}), 7, NODE), undefined));
  });
  describe('when it has exited but is not reaped yet (a zombie)', () => {
    it('counts it as gone: its cgroup file no longer says where it ran', () => {
      // What a zombie of a container shows: the v1 hierarchies at the root, the v2 line at the node.
      const proc = fakeProc({ '/proc/7/cgroup': `8:pids:/\n0::/docker/${NODE}\n`, '/proc/7/stat': '7 (cat) Z 3 7 7 0' });
      assert.equal(readProcess(proc, 7, NODE), undefined);
    });
  });
  // The flaky placement: a CRI-exec'd `cat` read while exiting, before it was a zombie.
  const statLine = (state: string, flags: number, start = '5987648') => `7 (cat) ${state} 3 7 7 0 -1 ${flags} 98 0 0 0 0 0 0 0 20 0 1 0 ${start} 3133440 360`;
  describe('when it is exiting but still running (PF_EXITING, state R)', () => {
    it('counts it as gone: its v1 cgroups already read as the root, so it would look like the node\'s', () => {
      const proc = fakeProc({ '/proc/7/cgroup': `8:pids:/\n0::/docker/${NODE}\n`, '/proc/7/stat': statLine('R', 0x400104) });
      assert.equal(readProcess(proc, 7, NODE), undefined);
    });
  });
  describe('when it starts to exit while its cgroup is read', () => {
    it('counts it as gone: the stat read after the cgroup shows the flag', () => {
      const proc = statSequence([statLine('R', 0x400100), statLine('R', 0x400104)], `8:pids:/\n0::/docker/${NODE}\n`);
      assert.equal(readProcess(proc, 7, NODE), undefined);
    });
  });
  describe('when the pid is another process by the second read (it exited and the pid was reused)', () => {
    it('counts it as gone: the start times differ', () => {
      const proc = statSequence([statLine('S', 0x400100, '100'), statLine('S', 0x400100, '200')], fixture('cgroup-cri-exec.txt'));
      assert.equal(readProcess(proc, 7, NODE), undefined);
    });
  });
  describe('when the stat lines before and after agree', () => {
    it('reads the process', () => {
      const proc = statSequence([statLine('S', 0x400100), statLine('S', 0x400100)], fixture('cgroup-cri-exec.txt'));
      assert.deepEqual(readProcess(proc, 7, NODE)?.scope, { scope: 'container', containerId: CID });
    });
  });
});

/** A /proc whose /proc/7/stat answers the given lines in turn (the last one after that). */
function statSequence(lines: string[], cgroup: string): ProcReader {
  let read = 0;
  const base = fakeProc({ '/proc/7/cgroup': cgroup });
  return { ...base, readText: (p) => (p === '/proc/7/stat' ? lines[Math.min(read++, lines.length - 1)] : base.readText(p)) };
}

describe('pidsOfContainer', () => {
  it('finds the container\'s processes, lowest pid first', () => {
    const proc = fakeProc({ '/proc/30/cgroup': fixture('cgroup-cri-exec.txt'), '/proc/12/cgroup': fixture('cgroup-container-init.txt'), '/proc/5/cgroup': fixture('cgroup-node.txt') });
    assert.deepEqual(pidsOfContainer(proc, NODE, CID), [12, 30]);
  });
});

describe('ProcessTable', () => {
  describe('when more processes are remembered than it holds', () => {
    it('forgets the oldest', () => {
      const t = new ProcessTable(2);
      for (const pid of [1, 2, 3]) t.remember({ pid, scope: { scope: 'node' } });
      assert.equal(t.get(1), undefined);
      assert.equal(t.size, 2);
    });
  });
});

describe('parsePasswd', () => {
  it('maps uids to names, first entry wins', () => {
    const m = parsePasswd('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbroken\n');
    assert.equal(m.get(0), 'root');
    assert.equal(m.get(1000), 'app');
  });
});
