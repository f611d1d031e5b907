import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Exec } from '../exec.ts';
import type { ActivityRecord, WatchdogAlert } from './alerts.ts';
import { resolveConfig } from './config.ts';
import { CONFIRM_MS, parseTaskList, WatchdogDaemon, type DaemonDeps } from './daemon.ts';
import { takePins, defenceFiles } from './defences.ts';
import type { OciSpec } from './expected.ts';
import { gatedSpec } from '../gates/bundle-spec.ts';
import type { RecordedSpec } from '../gates/containerd-records.ts';
import type { HelperLine, NotifyHandlers } from './notify.ts';
import type { NodeView } from './proc.ts';
import { blockDevices, TASK_DIR, sampleText } from './test-samples.ts';

const AGENT = sampleText('integrity', 'system-agent.id').trim();
const SANDBOX = sampleText('integrity', 'system-agent-sandbox.id').trim();
const APP = sampleText('integrity', 'app.id').trim();

interface Proc {
  pid: number;
  startTime: string;
  ns: string;
  mountinfo?: string;
  /** Its PID namespace; by default one of its own (each lab container has one). */
  pidNs?: string;
}

const NODE_PID_NS = 'pid:[4026531836]';

/** The integrity node the samples were captured on, as a NodeView whose processes the test controls. */
class FakeNode implements NodeView {
  tasks = new Map<string, { spec: OciSpec; pid?: number }>([
    [AGENT, { spec: JSON.parse(sampleText('integrity', 'system-agent.config.json')) as OciSpec, pid: 274 }],
    [SANDBOX, { spec: JSON.parse(sampleText('integrity', 'system-agent-sandbox.config.json')) as OciSpec, pid: 194 }],
    [APP, { spec: JSON.parse(sampleText('integrity', 'app.config.json')) as OciSpec, pid: 394 }],
  ]);
  procs = new Map<number, Proc>([
    [274, { pid: 274, startTime: '1000', ns: 'mnt:[4026532329]', mountinfo: sampleText('integrity', 'system-agent.mountinfo') }],
    [194, { pid: 194, startTime: '900', ns: 'mnt:[4026532200]', mountinfo: sampleText('integrity', 'system-agent-sandbox.mountinfo') }],
    [394, { pid: 394, startTime: '1100', ns: 'mnt:[4026532400]', mountinfo: sampleText('integrity', 'app.mountinfo') }],
  ]);
  /** Unique namespace ids by mnt:[N] link, as NS_MNT_GET_INFO gives them. */
  nsIds = new Map([
    ['mnt:[4026532329]', '307'],
    ['mnt:[4026532200]', '306'],
    ['mnt:[4026532400]', '4380'],
  ]);
  released = false;
  kinds: Record<string, 'file' | 'directory'> = { '/opt/agent/run.sh': 'file', '/opt/agent/config': 'file', '/opt/agent': 'directory' };
  /** Called after each mountinfo read: lets a test make a process exit mid-scan. */
  afterRead?: (pid: number) => void;
  taskIds() {
    return [...this.tasks.keys()];
  }
  task(_dir: string, id: string) {
    const t = this.tasks.get(id);
    return t && { id, bundleDir: `${TASK_DIR}/${id}`, spec: t.spec, pid: t.pid };
  }
  /** The node's own table; a test may rewrite it (an ungated container). */
  nodeMountinfo = sampleText('integrity', 'node.mountinfo');
  mountinfo(pid: number | 'self') {
    if (pid === 'self') return this.nodeMountinfo;
    const text = this.procs.get(pid)?.mountinfo;
    this.afterRead?.(pid);
    return text;
  }
  mntNs(pid: number) {
    return this.procs.get(pid)?.ns;
  }
  pidNs(pid: number) {
    if (pid === 1) return NODE_PID_NS;
    const p = this.procs.get(pid);
    return p && (p.pidNs ?? `pid:[9${pid}]`);
  }
  startTime(pid: number) {
    return this.procs.get(pid)?.startTime;
  }
  pathKind(_pid: number, path: string) {
    return this.kinds[path];
  }
  pids() {
    return [...this.procs.keys()];
  }
  fdNamespaces() {
    return new Map<string, string>();
  }
  realpath(p: string) {
    return p;
  }
  blockDevice(majmin: string) {
    return blockDevices('integrity')(majmin);
  }
  /** Files by path; the watchdog's own helpers are there, as the component installs them. */
  files = new Map<string, string>([
    ['/opt/integrity-lab/watchdog-mntnotify', 'the fanotify helper'],
    ['/opt/integrity-lab/watchdog-release-mounts', 'the release-mounts helper'],
    ['/usr/bin/ctr', 'containerd client'],
  ]);
  readBytes(path: string) {
    const t = this.files.get(path) ?? this.readText(path);
    return t === undefined ? undefined : Buffer.from(t);
  }
  readText(path: string) {
    if (this.files.has(path)) return this.files.get(path);
    if (path === '/etc/integrity-lab/gates.json') return sampleText('integrity', 'gates.json');
    if (path.endsWith('trusted-roots.pem')) return '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n';
    return undefined;
  }
}

function harness(mode: 'detect' | 'enforce' = 'detect', node = new FakeNode(), notifier?: DaemonDeps['startNotifier'], records?: DaemonDeps['records'], cri?: DaemonDeps['cri']) {
  const lines = new Map<string, string[]>();
  const commands: string[][] = [];
  const errors: string[] = [];
  const exec: Exec = {
    async run(argv) {
      commands.push([...argv]);
      if (argv[0] === '/usr/bin/ctr' && argv.slice(-2).join(' ') === 'tasks ls') {
        // A ctr root replaced leaves the agent out, as a wrapper filtering its output would.
        const hides = node.readBytes('/usr/bin/ctr')?.toString() === HIDING_CTR;
        const rows = [...node.tasks].filter(([id, t]) => t.pid !== undefined && !(hides && id === AGENT)).map(([id, t]) => `${id}    ${t.pid}    ${node.procs.has(t.pid!) ? 'RUNNING' : 'STOPPED'}`);
        return { exitCode: 0, stdout: Buffer.from(['TASK    PID    STATUS', ...rows].join('\n') + '\n'), stderr: '' };
      }
      if (argv[0]?.endsWith('release-mounts')) {
        // The namespace behind /proc/<pid>/ns/mnt, by its unique id.
        const pid = Number(/^\/proc\/(\d+)\//.exec(argv[2] ?? '')?.[1]);
        const id = node.nsIds.get(node.procs.get(pid)?.ns ?? '');
        if (argv[1] === 'nsid') return id ? { exitCode: 0, stdout: Buffer.from(`${id}\n`), stderr: '' } : { exitCode: 1, stdout: Buffer.alloc(0), stderr: 'gone' };
        if (argv[3] === '--ns-id' && argv[4] !== id) return { exitCode: 4, stdout: Buffer.alloc(0), stderr: 'reused' };
        if (argv[1] === 'mountinfo') return { exitCode: 0, stdout: Buffer.from(node.released ? '' : sampleText('integrity', 'system-agent.mountinfo')), stderr: '' };
        if (argv[1] === 'umount') {
          node.released = true;
          return { exitCode: 0, stdout: Buffer.from(argv.slice(5).map((m) => JSON.stringify({ mountPoint: m, released: true })).join('\n') + '\n'), stderr: '' };
        }
      }
      return { exitCode: 1, stdout: Buffer.alloc(0), stderr: 'not in this test' };
    },
  };
  const config = resolveConfig({ namespaces: [{ match: 'kube-system', mode }], notify: notifier ? 'auto' : 'poll' });
  // The lab's pins of what the node has now, as the component takes them before the daemon starts.
  if (!node.files.has(config.pinsFile)) node.files.set(config.pinsFile, JSON.stringify(takePins((p) => node.readBytes(p), '/etc/integrity-lab/gates.json', new Date('2026-11-22T12:00:00Z'))));
  let now = Date.parse('2026-11-22T13:00:00Z');
  const deps: DaemonDeps = {
    view: node,
    exec,
    now: () => (now += 1),
    appendLine: (path, line) => lines.set(path, [...(lines.get(path) ?? []), line]),
    writeFile: () => {},
    startNotifier: notifier ?? (async () => ({ ok: false, reason: 'not in this test' })),
    kill: (pid) => commands.push(['kill', String(pid)]),
    hash: async () => ({ hex: '', bytes: 0 }),
    fileIdentity: () => '1:1',
    stderr: (l) => errors.push(l),
    cpuUsage: () => ({ user: 0, system: 0 }),
    notifierRestartMs: 20,
    ...(records ? { records } : {}),
    ...(cri ? { cri } : {}),
    // As pinned-program.ts does on a real node, over the fake node's files; the program is the path itself.
    programHolder: (path, pinned) => () => {
      const bytes = node.readBytes(path);
      if (bytes === undefined) return { ok: false, reason: 'cannot be opened (ENOENT)' };
      const actual = createHash('sha256').update(bytes).digest('hex');
      return actual === pinned ? { ok: true, program: { execPath: path, identity: actual, close: () => {} } } : { ok: false, reason: `has sha256 ${actual}, pinned ${pinned}`, actual };
    },
  };
  const daemon = new WatchdogDaemon(config, deps);
  return {
    node,
    daemon,
    commands,
    errors,
    alerts: () => (lines.get(config.alertLog) ?? []).map((l) => JSON.parse(l) as WatchdogAlert),
    activity: () => (lines.get(config.activityLog) ?? []).map((l) => JSON.parse(l) as ActivityRecord),
  };
}

/** A replaced containerd client that leaves the agent out of `tasks ls`. */
const HIDING_CTR = '#!/bin/sh\n/usr/bin/ctr.real "$@" | grep -v system-agent\n';

/** The agent is watched, then its init is gone while a debug session (pid 777) is still in its namespace. */
async function stopAgentLeavingAHolder(h: ReturnType<typeof harness>): Promise<void> {
  await h.daemon.discover();
  await new Promise((r) => setTimeout(r, 10));
  h.node.procs.delete(274);
  h.node.procs.set(777, { pid: 777, startTime: '3000', ns: 'mnt:[4026532329]' });
  await h.daemon.discover();
  await new Promise((r) => setTimeout(r, 10));
}

describe('WatchdogDaemon', () => {
  describe('when a protected container did not pass the start gate (its root has the shim\'s writable upperdir)', () => {
    // As if gates.json had lost kube-system after the watchdog started: the
    // node table shows the agent's root as containerd made it.
    const ungated = (node: FakeNode) => {
      node.nodeMountinfo = node.nodeMountinfo.replace(
        new RegExp(`(/k8s\\.io/${AGENT}/rootfs .*?lowerdir=)[^,]+`),
        '$1/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/2/fs:/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/1/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/9/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/9/work',
      );
    };
    it('alerts naming the container, from the mount table, not from the gate configuration', async () => {
      const h = harness();
      ungated(h.node);
      h.node.files.set('/etc/integrity-lab/gates.json', '{"protectedNamespaces":[]}');
      await h.daemon.discover();
      const gate = h.alerts().filter((a) => a.kind === 'gate');
      assert.equal(gate.length, 1);
      assert.equal(gate[0]!.container, AGENT);
      assert.deepEqual(gate[0]!.reasons, ['ungated', 'writable-upperdir']);
      assert.match(gate[0]!.reason, /did not pass the start gate: .*writable upperdir .*snapshots\/9\/fs/);
      h.daemon.stop();
    });
    it('stops it in enforce mode', async () => {
      const h = harness('enforce');
      ungated(h.node);
      await h.daemon.discover();
      await new Promise((r) => setImmediate(r));
      assert.ok(h.commands.some((c) => c.join(' ').includes(`tasks kill --signal SIGKILL ${AGENT}`)));
      h.daemon.stop();
    });
    it('does not alert on a gated one', async () => {
      const h = harness();
      await h.daemon.discover();
      assert.deepEqual(h.alerts().filter((a) => a.kind === 'gate'), []);
      h.daemon.stop();
    });
  });

  describe("when root rewrites a pod's resolv.conf on the node", () => {
    it('alerts once per new content, naming the file inside and on the node', async () => {
      const h = harness();
      const spec = h.node.tasks.get(AGENT)!.spec as { mounts: { destination: string; source: string }[] };
      const source = spec.mounts.find((m) => m.destination === '/etc/resolv.conf')!.source;
      h.node.files.set(source, 'nameserver 10.96.0.10\n');
      await h.daemon.discover();
      h.daemon.checkSandboxFiles();
      assert.deepEqual(h.alerts().filter((a) => a.reasons.includes('sandbox-file-changed')), []);
      h.node.files.set(source, 'nameserver 203.0.113.53\n');
      h.daemon.checkSandboxFiles();
      h.daemon.scanAll('poll');
      h.daemon.checkSandboxFiles();
      // Once for each container of the pod that binds the file.
      const all = h.alerts().filter((x) => x.reasons.includes('sandbox-file-changed'));
      assert.ok(all.every((x) => x.container === AGENT || x.container === SANDBOX), 'only the pod that binds the file');
      const a = all.filter((x) => x.container === AGENT);
      assert.equal(a.length, 1);
      assert.match(a[0]!.reason, new RegExp(`/etc/resolv.conf changed on the node .*${source.replace(/[.]/g, '\\.')}`));
      h.daemon.stop();
    });
  });

  describe('when a file the node gates are made of changes after the watchdog started', () => {
    it('alerts once per new content, naming the file and both hashes', async () => {
      const node = new FakeNode();
      node.files.set('/etc/integrity-lab/trusted-roots.pem', 'root A');
      const h = harness('detect', node);
      await h.daemon.start();
      h.daemon.checkDefences();
      const changed = () => h.alerts().filter((a) => a.reasons.includes('defence-changed'));
      assert.deepEqual(changed(), []);
      h.node.files.set('/etc/integrity-lab/trusted-roots.pem', 'root A + attacker CA');
      h.daemon.checkDefences();
      h.daemon.checkDefences();
      const d = changed();
      assert.equal(d.length, 1);
      assert.match(d[0]!.reason, /trusted signing roots \(\/etc\/integrity-lab\/trusted-roots.pem\) changed since the lab pinned it at 2026-11-22T12:00:00\.000Z: sha256 [0-9a-f]{64} → [0-9a-f]{64}/);
      h.node.files.delete('/usr/bin/runc');
      h.node.files.set('/etc/containerd/config.toml', 'no wrapper');
      h.daemon.checkDefences();
      assert.equal(changed().length, 2);
      h.daemon.stop();
    });
  });

  describe('when a Localhost seccomp profile the lab pinned is loosened on the node', () => {
    it('alerts naming the profile file, which any tier of container may name', async () => {
      const profile = '/var/lib/kubelet/seccomp/integrity-lab/strict.json';
      const node = new FakeNode();
      node.files.set(profile, '{"defaultAction":"SCMP_ACT_ERRNO"}');
      const pinsFile = resolveConfig({ namespaces: [{ match: 'kube-system', mode: 'detect' }] }).pinsFile;
      node.files.set(pinsFile, JSON.stringify(takePins((p) => node.readBytes(p), '/etc/integrity-lab/gates.json', new Date('2026-11-22T12:00:00Z'), defenceFiles([profile]))));
      const h = harness('detect', node);
      await h.daemon.start();
      h.daemon.checkDefences();
      const changed = () => h.alerts().filter((a) => a.reasons.includes('defence-changed'));
      assert.deepEqual(changed(), []);
      h.node.files.set(profile, '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ALLOW"}]}');
      h.daemon.checkDefences();
      assert.deepEqual(changed().map((a) => a.defence?.file), [profile]);
      assert.match(changed()[0]!.reason, /a Localhost seccomp profile .*of any tier\) \(\/var\/lib\/kubelet\/seccomp\/integrity-lab\/strict\.json\) changed since the lab pinned it/);
      h.daemon.stop();
    });
  });

  describe('when root tampers with the gates while the watchdog is down, then starts it again', () => {
    // The agent's root as containerd makes it when the start gate is bypassed.
    const tamper = (node: FakeNode) => {
      node.nodeMountinfo = node.nodeMountinfo.replace(
        new RegExp(`(/k8s\\.io/${AGENT}/rootfs .*?lowerdir=)[^,]+`),
        '$1/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/2/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/9/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots/9/work',
      );
      const gates = JSON.parse(node.readText('/etc/integrity-lab/gates.json')!) as { protectedNamespaces: string[] };
      node.files.set('/etc/integrity-lab/gates.json', JSON.stringify({ ...gates, protectedNamespaces: gates.protectedNamespaces.filter((n) => n !== 'kube-system') }));
      node.files.set('/usr/local/bin/integrity-runc', '#!/bin/sh\nexec /usr/bin/runc "$@"\n');
    };
    const PINS = resolveConfig({ namespaces: [{ match: 'kube-system', mode: 'detect' }] }).pinsFile;

    describe('with the pins taken at lab start', () => {
      it('reports each changed file against the pins, and the ungated container from the pinned namespaces', async () => {
        const node = new FakeNode();
        node.files.set('/usr/local/bin/integrity-runc', 'the gate wrapper');
        node.files.set(PINS, JSON.stringify(takePins((p) => node.readBytes(p), '/etc/integrity-lab/gates.json', new Date('2026-11-22T12:00:00Z'))));
        tamper(node);
        const h = harness('detect', node);
        await h.daemon.start();
        const changed = h.alerts().filter((a) => a.reasons.includes('defence-changed'));
        assert.deepEqual(changed.map((a) => a.defence?.file).sort(), ['/etc/integrity-lab/gates.json', '/usr/local/bin/integrity-runc']);
        assert.ok(changed.every((a) => a.reason.includes('changed since the lab pinned it at 2026-11-22T12:00:00.000Z')), changed.map((a) => a.reason).join('\n'));
        const gate = h.alerts().filter((a) => a.kind === 'gate');
        assert.deepEqual(gate.map((a) => [a.container, a.reasons]), [[AGENT, ['ungated', 'writable-upperdir']]]);
        h.daemon.stop();
      });
    });
    describe('without them (the pin file deleted)', () => {
      it('says so in an alert, and the laundered state goes unseen: no change, no ungated container', async () => {
        const node = new FakeNode();
        tamper(node);
        const h = harness('detect', node);
        h.node.files.delete(PINS);
        await h.daemon.start();
        const missing = h.alerts().filter((a) => a.reasons.includes('pins-missing'));
        assert.equal(missing.length, 1);
        assert.equal(missing[0]!.defence?.file, PINS);
        assert.deepEqual(h.alerts().filter((a) => a.reasons.includes('defence-changed') || a.kind === 'gate'), []);
        h.daemon.stop();
      });
    });
  });

  describe('when it discovers the containers of a node', () => {
    it('watches those in watched namespaces (container and sandbox) and ignores the rest', async () => {
      const h = harness();
      await h.daemon.discover();
      assert.deepEqual([...h.daemon.containers.keys()].sort(), [AGENT, SANDBOX].sort());
      assert.equal(h.daemon.containers.get(AGENT)!.mode, 'detect');
      assert.deepEqual(h.alerts(), []);
    });
    it('waits for containers whose runc create has not finished (no init pid yet)', async () => {
      const h = harness();
      h.node.tasks.get(AGENT)!.pid = undefined;
      await h.daemon.discover();
      assert.equal(h.daemon.containers.has(AGENT), false);
      h.daemon.stop();
    });
  });

  describe("when root edited a task's bundle before the watchdog read it (its namespace annotation)", () => {
    const NS = 'io.kubernetes.cri.sandbox-namespace';
    /**
     * containerd's record of each task is its sample spec; the agent's bundle
     * holds what the start gate wrote from it (its root is gated in the
     * samples; the sandbox's and the app's are not), then forged to name
     * `default` when `forge` is set.
     */
    const recordedNode = (forge: boolean) => {
      const node = new FakeNode();
      const records = new Map([...node.tasks].map(([id, t]) => [id, structuredClone(t.spec)]));
      // The sample was captured after the gate's rewrite: the record has no /tmp of the gate's.
      const agent = records.get(AGENT)!;
      agent.mounts = agent.mounts!.filter((m) => m.destination !== '/tmp');
      node.tasks.get(AGENT)!.spec = gatedSpec(structuredClone(agent));
      if (forge) node.tasks.get(AGENT)!.spec.annotations![NS] = 'default';
      return { node, records: { recordedSpec: async (id: string) => structuredClone(records.get(id)!) as RecordedSpec } };
    };
    it("watches the container as containerd recorded it, and alerts naming the edit", async () => {
      const { node, records } = recordedNode(true);
      const h = harness('detect', node, undefined, records);
      await h.daemon.discover();
      assert.equal(h.daemon.containers.get(AGENT)?.namespace, 'kube-system');
      const alert = h.alerts().find((a) => a.reasons.includes('bundle-edited'));
      assert.ok(alert, JSON.stringify(h.alerts()));
      assert.equal(alert.container, AGENT);
      assert.equal(alert.namespace, 'kube-system');
      assert.equal(alert.kind, 'gate');
      assert.match(alert.reason, /annotations\["io\.kubernetes\.cri\.sandbox-namespace"\]: "default" in the bundle, "kube-system" in containerd's record/);
      h.daemon.stop();
    });
    it("raises no such alert for a bundle that is containerd's record", async () => {
      const { node, records } = recordedNode(false);
      const h = harness('detect', node, undefined, records);
      await h.daemon.discover();
      assert.deepEqual(h.alerts().filter((a) => a.reasons.includes('bundle-edited')), []);
      assert.equal(h.daemon.containers.has(AGENT), true);
      h.daemon.stop();
    });
    describe("and CRI's memory of the container (the record itself rewritten through containerd's API, the bundle to match)", () => {
      const cri = (namespace = 'kube-system'): NonNullable<DaemonDeps['cri']> => ({
        ofContainer: async (id) => (id === AGENT ? { namespace, pod: 'system-agent', container: 'system-agent', sandboxId: SANDBOX } : undefined),
        requestOf: async (id) => (id === AGENT ? { command: [], args: [], mounts: [] } : undefined),
      });
      const harnessWith = (node: FakeNode, records: NonNullable<DaemonDeps['records']>, c: NonNullable<DaemonDeps['cri']>) => harness('detect', node, undefined, records, c);
      it('raises no alert for a record that follows from the request', async () => {
        const { node, records } = recordedNode(false);
        const h = harnessWith(node, records, cri());
        await h.daemon.discover();
        assert.deepEqual(h.alerts().filter((a) => a.kind === 'gate'), []);
        h.daemon.stop();
      });
      it('alerts, naming the mount, when record and bundle both declare a bind the request never asked for', async () => {
        const { node, records } = recordedNode(false);
        const declared = { destination: '/opt/agent/run.sh', type: 'bind', source: '/run/attacker/run.sh', options: ['rbind', 'ro'] };
        const forged = await records.recordedSpec(AGENT);
        (forged as OciSpec).mounts!.push(declared);
        node.tasks.get(AGENT)!.spec = gatedSpec(structuredClone(forged) as OciSpec);
        const h = harnessWith(node, { recordedSpec: async (id) => (id === AGENT ? structuredClone(forged) : records.recordedSpec(id)) }, cri());
        await h.daemon.discover();
        const alert = h.alerts().find((a) => a.reasons.includes('record-changed'));
        assert.ok(alert, JSON.stringify(h.alerts()));
        assert.equal(alert.container, AGENT);
        assert.match(alert.reason, /mount \{"destination":"\/opt\/agent\/run\.sh".*which no mount of the request CRI holds asked for/);
        assert.deepEqual(h.alerts().filter((a) => a.reasons.includes('bundle-edited')), [], 'the bundle matches the record');
        assert.ok(!h.daemon.containers.get(AGENT)!.expectation.mounts.some((m) => m.mountPoint === '/opt/agent/run.sh'), 'the declared mount is not expected: made, it is an overmount');
        h.daemon.stop();
      });
      it("watches the container in CRI's namespace when the record names another, and says so", async () => {
        const { node, records } = recordedNode(false);
        const forged = await records.recordedSpec(AGENT);
        forged.annotations![NS] = 'default';
        node.tasks.get(AGENT)!.spec = gatedSpec(structuredClone(forged) as OciSpec);
        const h = harnessWith(node, { recordedSpec: async (id) => (id === AGENT ? structuredClone(forged) : records.recordedSpec(id)) }, cri());
        await h.daemon.discover();
        assert.equal(h.daemon.containers.get(AGENT)?.namespace, 'kube-system');
        const alert = h.alerts().find((a) => a.reasons.includes('record-changed'));
        assert.match(alert?.reason ?? '', /namespace "default" in containerd's record, "kube-system" in CRI's own state/);
        h.daemon.stop();
      });
    });
    it("takes the bundle's word, and says so once, when containerd's record cannot be read", async () => {
      const { node } = recordedNode(true);
      const h = harness('detect', node, undefined, { recordedSpec: async () => Promise.reject(new Error('cannot ask containerd at /run/integrity-lab/containerd.sock')) });
      await h.daemon.discover();
      assert.equal(h.daemon.containers.has(AGENT), false, 'the forged bundle names an unwatched namespace');
      assert.equal(h.errors.filter((e) => /containerd's record of .* cannot be read/.test(e)).length, 1, h.errors.join('\n'));
      h.daemon.stop();
    });
  });

  describe('when a watched namespace gets an overmount', () => {
    it('writes one alert naming the container, its pod and namespace, the mount line, the time and the reasons', async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.get(274)!.mountinfo = sampleText('integrity', 'system-agent.attacked.mountinfo');
      h.daemon.scan(h.daemon.containers.get(AGENT)!, 'poll');
      const alerts = h.alerts();
      assert.equal(alerts.length, 5);
      const a = alerts.find((x) => x.mount?.mountPoint === '/opt/agent/run.sh')!;
      assert.deepEqual([a.container, a.pod, a.namespace, a.containerName, a.mode, a.action, a.trigger, a.notify], [AGENT, 'system-agent', 'kube-system', 'system-agent', 'detect', 'alert', 'poll', 'poll']);
      assert.equal(a.mount!.line, '292 140 0:71 /p /opt/agent/run.sh rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=65536k');
      assert.deepEqual(a.reasons, ['overmount-file', 'unverified-source']);
      assert.ok(!Number.isNaN(Date.parse(a.time)));
    });
    it('does not repeat an alert while the overmount stays', async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.get(274)!.mountinfo = sampleText('integrity', 'system-agent.attacked.mountinfo');
      const w = h.daemon.containers.get(AGENT)!;
      h.daemon.scan(w, 'poll');
      h.daemon.scan(w, 'full-scan');
      w.lastText = undefined;
      h.daemon.scan(w, 'full-scan');
      assert.equal(h.alerts().length, 5);
    });
  });

  describe('when a process of the container mounts in a mount namespace of its own', () => {
    // unshare -m in the container (or nsenter from the node, then unshare -m): the init's table is untouched.
    const second = (h: ReturnType<typeof harness>, pid = 901, ns = 'mnt:[4026539999]') =>
      h.node.procs.set(pid, { pid, startTime: '2000', ns, pidNs: 'pid:[9274]', mountinfo: sampleText('integrity', 'system-agent.attacked.mountinfo') });
    it("is invisible in the init's mountinfo", async () => {
      const h = harness();
      await h.daemon.discover();
      second(h);
      h.daemon.scan(h.daemon.containers.get(AGENT)!, 'full-scan');
      assert.equal(h.alerts().length, 0);
    });
    it('is found by the full scan, naming the process and its namespace', async () => {
      const h = harness();
      await h.daemon.discover();
      second(h);
      h.daemon.scanAll('full-scan');
      const a = h.alerts().find((x) => x.mount?.mountPoint === '/opt/agent/run.sh')!;
      assert.equal(a.container, AGENT);
      assert.deepEqual(a.reasons, ['overmount-file', 'unverified-source', 'second-mount-namespace']);
      assert.match(a.reason, /second mount namespace \(mnt:\[4026539999\]\) of the container's process 901/);
      assert.ok(h.alerts().every((x) => x.reasons.includes('second-mount-namespace') && !x.reasons.includes('missing-mount')));
    });
    it('does not repeat while it stays, and reports it again when a new namespace does it', async () => {
      const h = harness();
      await h.daemon.discover();
      second(h);
      h.daemon.scanAll('full-scan');
      const first = h.alerts().length;
      h.daemon.scanAll('full-scan');
      assert.equal(h.alerts().length, first);
      h.node.procs.delete(901);
      h.daemon.scanAll('full-scan');
      second(h, 902);
      h.daemon.scanAll('full-scan');
      assert.equal(h.alerts().length, 2 * first);
    });
    it("ignores processes of other PID namespaces, and the init's own namespace", async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.set(903, { pid: 903, startTime: '2000', ns: 'mnt:[4026539998]', pidNs: 'pid:[4026539000]', mountinfo: sampleText('integrity', 'system-agent.attacked.mountinfo') });
      h.node.procs.set(904, { pid: 904, startTime: '2000', ns: 'mnt:[4026532329]', pidNs: 'pid:[9274]', mountinfo: sampleText('integrity', 'system-agent.mountinfo') });
      h.daemon.scanAll('full-scan');
      assert.equal(h.alerts().length, 0);
    });
  });

  describe('when the namespace is in enforce mode', () => {
    it('alerts with action stop and kills the task through containerd', async () => {
      const h = harness('enforce');
      await h.daemon.discover();
      h.node.procs.get(274)!.mountinfo = sampleText('integrity', 'system-agent.attacked.mountinfo');
      h.daemon.scan(h.daemon.containers.get(AGENT)!, 'poll');
      await new Promise((r) => setImmediate(r));
      assert.ok(h.alerts().every((a) => a.action === 'stop'));
      const kills = h.commands.filter((c) => c.includes('kill'));
      assert.deepEqual(kills[0]!.slice(-4), ['kill', '--signal', 'SIGKILL', AGENT]);
      // ctr failed in this test: the pid is killed directly.
      assert.deepEqual(kills[1], ['kill', '274']);
      assert.equal(h.activity().filter((a) => a.kind === 'enforced').length, 1);
    });
  });

  describe('when the container exits in the middle of a scan', () => {
    it('reports nothing and logs no error', async () => {
      const h = harness();
      await h.daemon.discover();
      // The mountinfo read still returns the attacked table, then the process is gone.
      h.node.procs.get(274)!.mountinfo = sampleText('integrity', 'system-agent.attacked.mountinfo');
      h.node.afterRead = (pid) => h.node.procs.delete(pid);
      h.daemon.scan(h.daemon.containers.get(AGENT)!, 'poll');
      assert.deepEqual(h.alerts(), []);
      assert.deepEqual(h.errors, []);
      h.daemon.stop();
    });
    it('treats a mountinfo that reads empty as the container going away', async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.get(274)!.mountinfo = '';
      assert.deepEqual(h.daemon.scan(h.daemon.containers.get(AGENT)!, 'poll'), []);
      h.daemon.stop();
    });
    it('does not take a reused pid for the container', async () => {
      const h = harness();
      await h.daemon.discover();
      // Another process got pid 274: it sees the node's own table.
      h.node.procs.set(274, { pid: 274, startTime: '5000', ns: 'mnt:[4026531841]', mountinfo: sampleText('integrity', 'node.mountinfo') });
      h.daemon.scan(h.daemon.containers.get(AGENT)!, 'poll');
      assert.deepEqual(h.alerts(), []);
      h.daemon.stop();
    });
  });

  describe('when the watchdog restarts while an overmount is in place', () => {
    it('reports it again from the node, with nothing kept from the first instance', async () => {
      const node = new FakeNode();
      node.procs.get(274)!.mountinfo = sampleText('integrity', 'system-agent.attacked.mountinfo');
      const first = harness('detect', node);
      await first.daemon.discover();
      first.daemon.stop();
      const second = harness('detect', node);
      await second.daemon.discover();
      assert.equal(first.alerts().length, 5);
      assert.deepEqual(second.alerts().map((a) => a.mount?.mountPoint).sort(), first.alerts().map((a) => a.mount?.mountPoint).sort());
    });
  });

  describe('when a stopped container\'s namespace is still held by a process', () => {
    it('detaches every mount but the namespace root, top mounts first, through the holder', async () => {
      const h = harness();
      await stopAgentLeavingAHolder(h);
      const umount = h.commands.find((c) => c[1] === 'umount')!;
      assert.deepEqual(umount.slice(2, 5), ['/proc/777/ns/mnt', '--ns-id', '307']);
      assert.equal(umount.length - 5, sampleText('integrity', 'system-agent.mountinfo').trim().split('\n').length - 1);
      assert.equal(umount[5], '/tmp');
      assert.equal(h.activity().filter((a) => a.kind === 'leftovers-released').length, 1);
    });
    it('leaves alone a new container whose namespace got the same number', async () => {
      const h = harness();
      await h.daemon.discover();
      await new Promise((r) => setTimeout(r, 10));
      // The agent stops, its namespace is freed, and a new container's namespace reuses mnt:[4026532329].
      h.node.procs.delete(274);
      h.node.nsIds.set('mnt:[4026532329]', '9001');
      h.node.procs.set(888, { pid: 888, startTime: '4000', ns: 'mnt:[4026532329]', mountinfo: sampleText('integrity', 'system-agent.mountinfo') });
      await h.daemon.discover();
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.commands.filter((c) => c[1] === 'umount').length, 0);
      assert.match(h.activity().find((a) => a.kind === 'namespace-freed')!.message, /number was reused/);
    });
    it('does not release when the namespace\'s unique id is unknown', async () => {
      const h = harness();
      h.node.nsIds.clear();
      await h.daemon.discover();
      h.node.procs.delete(274);
      h.node.procs.set(777, { pid: 777, startTime: '3000', ns: 'mnt:[4026532329]' });
      await h.daemon.discover();
      await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.commands.filter((c) => c[1] === 'umount').length, 0);
      assert.equal(h.activity().filter((a) => a.kind === 'namespace-held').length, 1);
    });
    it('records that the kernel freed the namespace when nothing holds it', async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.delete(274);
      await h.daemon.discover();
      await new Promise<void>((r) => setTimeout(r, 10));
      assert.equal(h.commands.filter((c) => c[1] === 'umount').length, 0);
      assert.equal(h.activity().filter((a) => a.kind === 'namespace-freed').length, 1);
    });
  });

  describe('when the kernel reports mount events through the helper', () => {
    function withHelper() {
      let handlers: NotifyHandlers | undefined;
      const watched: string[] = [];
      const starts = { count: 0, refuse: false };
      const h = harness('detect', new FakeNode(), async (_helper, hs) => {
        starts.count++;
        if (starts.refuse) return { ok: false, reason: 'fanotify_init: Operation not permitted' };
        handlers = hs;
        return { ok: true, notifier: { pid: 4242 + starts.count - 1, watch: (key) => watched.push(key), unwatch: () => {}, close: () => {} } };
      });
      return { h, watched, starts, emit: (line: HelperLine) => handlers!.onLine(line), exit: (why: string) => handlers!.onExit(why) };
    }
    it('marks the node namespace and every watched container, and reports fanotify in the status', async () => {
      const { h, watched } = withHelper();
      await h.daemon.start();
      try {
        assert.deepEqual(watched, ['node', ...[...h.daemon.containers.keys()]]);
        assert.equal(h.daemon.status().notify, 'fanotify-mnt');
        assert.equal(h.daemon.status().helperPid, 4242);
      } finally {
        h.daemon.stop();
      }
    });
    it('scans the namespace an event names and alerts with the event time', async () => {
      const { h, emit } = withHelper();
      await h.daemon.start();
      try {
        h.node.procs.get(274)!.mountinfo = sampleText('integrity', 'system-agent.attacked.mountinfo');
        emit({ type: 'mount', event: 'attach', mntId: '2147502891', key: AGENT, time: 1234.5 });
        await new Promise((r) => setTimeout(r, 30));
        // (this node has no lab-start pins: that is one more alert, kind defence)
        const alerts = h.alerts().filter((a) => a.kind === 'mount');
        assert.equal(alerts.length, 5);
        assert.ok(alerts.every((a) => a.trigger === 'fanotify' && a.eventTime === 1234.5 && a.notify === 'fanotify-mnt'));
      } finally {
        h.daemon.stop();
      }
    });
    it('polls a namespace fanotify could not mark', async () => {
      const { h, emit } = withHelper();
      await h.daemon.start();
      try {
        emit({ type: 'watch-failed', key: AGENT, error: 'fanotify_mark: No space left on device' });
        assert.equal(h.daemon.containers.get(AGENT)!.polled, true);
        assert.match(h.activity().find((a) => a.kind === 'error')!.message, /polling it every 750 ms/);
      } finally {
        h.daemon.stop();
      }
    });
    it('falls back to polling when the helper dies, and says so', async () => {
      const { h, exit } = withHelper();
      await h.daemon.start();
      try {
        exit('killed (SIGKILL)');
        assert.equal(h.daemon.status().notify, 'poll');
        assert.match(h.activity().find((a) => a.kind === 'notify')!.message, /the fanotify helper stopped \(killed \(SIGKILL\)\)/);
        // And alerts: root who kills the helper opens a window for transient mounts.
        const stopped = h.alerts().filter((a) => a.reasons.includes('notifier-stopped'));
        assert.equal(stopped.length, 1);
        assert.equal(stopped[0]!.container, 'node');
        assert.match(stopped[0]!.reason, /mount-event helper stopped \(killed \(SIGKILL\)\).*one that comes and goes between two polls is missed/);
      } finally {
        h.daemon.stop();
      }
    });
    it('starts the helper again, marks every namespace anew, and alerts again at each death', async () => {
      const { h, watched, starts, exit } = withHelper();
      await h.daemon.start();
      try {
        watched.length = 0;
        exit('killed (SIGKILL)');
        await new Promise((r) => setTimeout(r, 80));
        assert.equal(starts.count, 2);
        assert.equal(h.daemon.status().notify, 'fanotify-mnt');
        assert.equal(h.daemon.status().helperPid, 4243);
        assert.deepEqual(watched, ['node', ...h.daemon.containers.keys()]);
        assert.match(h.activity().filter((a) => a.kind === 'notify').at(-1)!.message, /started again after it stopped/);
        exit('killed (SIGKILL)');
        assert.equal(h.alerts().filter((a) => a.reasons.includes('notifier-stopped')).length, 2);
      } finally {
        h.daemon.stop();
      }
    });
    it('keeps polling, and tries again later, when the helper cannot be started again', async () => {
      const { h, starts, exit } = withHelper();
      await h.daemon.start();
      try {
        starts.refuse = true;
        exit('exited with code 1');
        await new Promise((r) => setTimeout(r, 100));
        // 20 ms, then 40 ms: two tries in 100 ms, both refused.
        assert.ok(starts.count >= 3, `started ${starts.count} times`);
        assert.equal(h.daemon.status().notify, 'poll');
        assert.match(h.activity().filter((a) => a.kind === 'notify').at(-1)!.message, /could not be started again \(try \d: fanotify_init: Operation not permitted\); polling goes on/);
      } finally {
        h.daemon.stop();
      }
    });
    it('does not start a helper that is not the one pinned', async () => {
      const { h, starts, exit } = withHelper();
      await h.daemon.start();
      try {
        h.node.files.set('/opt/integrity-lab/watchdog-mntnotify', '#!/bin/sh\nsleep infinity\n');
        exit('killed (SIGKILL)');
        await new Promise((r) => setTimeout(r, 80));
        assert.equal(starts.count, 1);
        assert.equal(h.daemon.status().notify, 'poll');
        assert.match(
          h.activity().filter((a) => a.kind === 'notify').at(-1)!.message,
          /^the helper \/opt\/integrity-lab\/watchdog-mntnotify changed since the lab pinned it at 2026-11-22T12:00:00\.000Z \(it has sha256 [0-9a-f]{64}, pinned [0-9a-f]{64}\): not started again, polling goes on$/,
        );
      } finally {
        h.daemon.stop();
      }
    });
  });

  describe("when root replaced one of the watchdog's own helpers before it started", () => {
    const tampered = () => {
      const node = new FakeNode();
      const h = harness('detect', node, async () => {
        starts++;
        return { ok: true, notifier: { pid: 4242, watch: () => {}, unwatch: () => {}, close: () => {} } };
      });
      let starts = 0;
      return { h, starts: () => starts };
    };
    it('does not run a replaced fanotify helper, polls, and says why', async () => {
      const { h, starts } = tampered();
      h.node.files.set('/opt/integrity-lab/watchdog-mntnotify', '#!/bin/sh\necho \'{"type":"ready"}\'; sleep infinity\n');
      await h.daemon.start();
      try {
        assert.equal(starts(), 0);
        assert.equal(h.daemon.status().notify, 'poll');
        assert.match(h.daemon.status().notifyDetail, /fanotify mount events unavailable \(the helper \/opt\/integrity-lab\/watchdog-mntnotify changed since the lab pinned it at 2026-11-22T12:00:00\.000Z \(it has sha256 [0-9a-f]{64}, pinned [0-9a-f]{64}\)\)/);
        // The change itself is the watchdog's defence alert.
        assert.deepEqual(h.alerts().filter((a) => a.reasons.includes('defence-changed')).map((a) => a.defence?.file), ['/opt/integrity-lab/watchdog-mntnotify']);
      } finally {
        h.daemon.stop();
      }
    });
    it('does not ask a replaced release helper about a stopped container\'s namespace, nor let it release anything', async () => {
      const h = harness();
      h.node.files.set('/opt/integrity-lab/watchdog-release-mounts', '#!/bin/sh\necho 307\n');
      await stopAgentLeavingAHolder(h);
      assert.deepEqual(h.commands.filter((c) => c[0]!.endsWith('release-mounts')), []);
      assert.equal(h.activity().filter((a) => a.kind === 'leftovers-released').length, 0);
      assert.match(h.activity().find((a) => a.kind === 'namespace-held')!.message, /not released: the helper \/opt\/integrity-lab\/watchdog-release-mounts changed since the lab pinned it at .* \(it has sha256 /);
      h.daemon.stop();
    });
  });

  describe('when root replaced ctr, the containerd client the watchdog lists and stops containers with', () => {
    it('does not run it, and still watches the container it would have hidden, from the pid files', async () => {
      const h = harness();
      h.node.files.set('/usr/bin/ctr', HIDING_CTR);
      await h.daemon.discover();
      assert.deepEqual(h.commands.filter((c) => c[0] === '/usr/bin/ctr'), []);
      assert.ok(h.daemon.containers.has(AGENT), 'the agent is watched');
      assert.match(h.errors.join('\n'), /the helper \/usr\/bin\/ctr changed since the lab pinned it at .* \(it has sha256 [0-9a-f]{64}, pinned [0-9a-f]{64}\): not run; discovering from the shims' pid files instead/);
      h.daemon.checkDefences();
      assert.deepEqual(h.alerts().filter((a) => a.reasons.includes('defence-changed')).map((a) => a.defence?.file), ['/usr/bin/ctr']);
      h.daemon.stop();
    });
    it('the control: the same ctr, believed, would hide the container', async () => {
      const node = new FakeNode();
      node.files.set('/usr/bin/ctr', HIDING_CTR); // pinned as it is: the watchdog runs it
      const h = harness('detect', node);
      await h.daemon.discover();
      assert.equal(h.daemon.containers.has(AGENT), false);
      h.daemon.stop();
    });
    it('in enforce mode stops a container by its pid instead', async () => {
      const h = harness('enforce');
      await h.daemon.discover();
      h.node.files.set('/usr/bin/ctr', '#!/bin/sh\nexit 0\n');
      await h.daemon.enforce(h.daemon.containers.get(AGENT)!, 'a test');
      assert.deepEqual(h.commands.filter((c) => c[0] === '/usr/bin/ctr' && c.includes('kill')), []);
      assert.ok(h.commands.some((c) => c.join(' ') === 'kill 274'));
      assert.match(h.activity().find((a) => a.kind === 'enforced')!.message, /\/usr\/bin\/ctr changed since .*: not run\); killed pid 274/);
      h.daemon.stop();
    });
  });

  describe('when containerd lists the tasks', () => {
    it('skips a task that already exited before it could be watched', async () => {
      const h = harness();
      h.node.procs.delete(274);
      await h.daemon.discover();
      assert.equal(h.daemon.containers.has(AGENT), false);
      assert.deepEqual(h.alerts(), []);
    });
  });

  describe('when mounts disappear from a namespace', () => {
    const withoutHosts = () => sampleText('integrity', 'system-agent.mountinfo').split('\n').filter((l) => !l.includes(' /etc/hosts ')).join('\n');
    it('does not report them while the container is exiting (the namespace is being torn down)', async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.get(274)!.mountinfo = withoutHosts();
      assert.deepEqual(h.daemon.scan(h.daemon.containers.get(AGENT)!, 'fanotify'), []);
      h.node.procs.delete(274);
      await new Promise((r) => setTimeout(r, CONFIRM_MS + 50));
      assert.deepEqual(h.alerts(), []);
      h.daemon.stop();
    });
    it('reports a mount still missing a moment later, the container still running', async () => {
      const h = harness();
      await h.daemon.discover();
      h.node.procs.get(274)!.mountinfo = withoutHosts();
      h.daemon.scan(h.daemon.containers.get(AGENT)!, 'fanotify');
      assert.deepEqual(h.alerts(), []);
      await new Promise((r) => setTimeout(r, CONFIRM_MS + 50));
      assert.deepEqual(h.alerts().map((a) => [a.reasons[0], a.mount?.mountPoint]), [['missing-mount', '/etc/hosts']]);
      h.daemon.stop();
    });
  });
});

describe('parseTaskList', () => {
  describe('when ctr prints its table', () => {
    it('maps ids to pids and statuses', () => {
      const m = parseTaskList('TASK    PID    STATUS    \nabc    274    RUNNING\ndef    0      STOPPED\n');
      assert.deepEqual([...m], [['abc', { pid: 274, status: 'RUNNING' }], ['def', { pid: 0, status: 'STOPPED' }]]);
    });
  });
});
