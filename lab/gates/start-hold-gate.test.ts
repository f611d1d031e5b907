import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { holdScript } from '../audit/node/start-hold.ts';
import type { GateConfig } from './config.ts';
import { pinFiles, pinNow, pinnedProgramOf, pinnedReader } from './pins.ts';
import { gateStart, nodeStartDeps, observeHold, type StartDeps } from './start-hold-gate.ts';
import { CreatedTasks, type CreatedTask } from './created-tasks.ts';
import { gatedSpec } from './bundle-spec.ts';
import { scratchDir } from '../testing/scratch-dir.ts';
import { LabError } from '../errors.ts';
import { compileStatic } from '../node/native.ts';
import { poll } from '../wait.ts';
import type { GateErrorCode } from './config.ts';
import { LAYER_BIND_SOURCE } from './layer-mount.ts';

const ID = 'c'.repeat(64);

/**
 * A node in a directory: the hold directory with the genuine script (pinned
 * as the host pins it), a task bundle whose annotations name `namespace`,
 * and a copy of the host's dash, pinned as the daemon pins busybox on a
 * node, running the script's bytes.
 */
function node(opts: { namespace?: string; type?: string; armed?: boolean; holdDir?: string; memfd?: (pid: string) => Promise<{ code: number; stderr: string }> } = {}) {
  const root = scratchDir('start-hold-gate');
  const dir = join(root, 'audit-hold');
  mkdirSync(dir);
  const script = join(dir, 'hold');
  const genuine = holdScript(opts.holdDir ?? dir, 1);
  writeFileSync(script, genuine, { mode: 0o755 });
  const bundle = join(root, 'task', 'k8s.io', ID);
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'init.pid'), '4242');
  writeFileSync(
    join(bundle, 'config.json'),
    JSON.stringify({
      annotations: {
        'io.kubernetes.cri.container-type': opts.type ?? 'container',
        'io.kubernetes.cri.sandbox-namespace': opts.namespace ?? 'kube-system',
        'io.kubernetes.cri.sandbox-name': 'agent',
        'io.kubernetes.cri.container-name': 'main',
      },
    }),
  );
  const config = {
    protectedNamespaces: ['kube-system', 'd8-*'],
    startHold: { script, stoppedNote: join(dir, 'stopped') },
  } as unknown as GateConfig;
  let armed = opts.armed ?? true;
  const shell = join(root, 'shell');
  copyFileSync('/bin/dash', shell);
  const shellPin = pinNow(shell, "the start hold's shell", new Date('2026-12-05T10:00:00Z'));
  const memfdCalls: string[] = [];
  /** The container's init as /proc shows it: pid 1 of its own namespace, in the container's cgroup. */
  const proc: Record<string, string | undefined> = {
    '/proc/4242/status': 'Name:\tsh\nNSpid:\t4242\t1\n',
    '/proc/4242/cgroup': `0::/kubepods/pod1/${ID}\n`,
  };
  const onNode = nodeStartDeps(
    pinnedReader(pinFiles([{ path: script, content: genuine }], new Date('2026-12-05T10:00:00Z'))),
    pinnedProgramOf(shellPin, "the start hold's shell"),
    () => assert.fail('the tests below answer layer-bind memfd-noexec themselves'),
  );
  const deps: StartDeps = {
    ...onNode,
    armed: { get: () => armed, set: () => void (armed = true) },
    readText: (p) => (p.startsWith('/proc/4242/') ? proc[p] : onNode.readText(p)),
    memfdNoexec: (pid) => {
      memfdCalls.push(pid);
      return (opts.memfd ?? (async () => ({ code: 0, stderr: '' })))(pid);
    },
  };
  const argv = ['--root', '/run/containerd/runc/k8s.io', '--log', join(bundle, 'log.json'), '--log-format', 'json', 'start', ID];
  /** Plays the audit daemon: answers the request once it appears. */
  const answer = () => {
    const t = setInterval(() => {
      if (existsSync(join(dir, `${ID}.req`))) {
        writeFileSync(join(dir, `${ID}.ack`), '{}\n');
        clearInterval(t);
      }
    }, 10);
    setTimeout(() => clearInterval(t), 3000).unref();
  };
  return { root, dir, script, shell, bundle, config, deps, argv, answer, memfdCalls, proc, isArmed: () => armed };
}

describe('gateStart', () => {
  describe('when the genuine hold is in place and the audit daemon answers', () => {
    it('lets the protected container start after the hold, and records how long it held', async () => {
      const n = node();
      n.answer();
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'allow', d?.reason);
      assert.equal(d?.namespace, 'kube-system');
      assert.equal(typeof d?.holdMs, 'number');
      assert.deepEqual(readdirSync(n.dir), ['hold'], 'request and answer are gone');
    });
  });

  describe('when root has deleted the hold script', () => {
    it('refuses the protected start, naming the script and quoting the audit daemon\'s stop note', async () => {
      const n = node();
      rmSync(n.script);
      writeFileSync(join(n.dir, 'stopped'), 'the audit daemon of lab x stopped at T: SIGTERM\n');
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.equal(d?.id, ID);
      assert.match(d!.reason, /audit start hold .*\/hold cannot be read .*ENOENT.*the audit daemon left: the audit daemon of lab x stopped at T: SIGTERM; a protected container does not start/);
    });
    it('lets an unprotected container start (unaudited, as on a node without audit)', async () => {
      const n = node({ namespace: 'default' });
      rmSync(n.script);
      assert.equal(await gateStart(n.argv, n.config, n.deps), undefined);
    });
    it('lets a protected container start before the hold was ever offered (a kind node\'s boot), saying so', async () => {
      const n = node({ armed: false });
      rmSync(n.script);
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'allow');
      assert.match(d!.reason, /has not been offered on this node yet/);
    });
  });

  describe('when root has replaced the script by one that does not hold', () => {
    it('refuses with GATE_DEFENCE_CHANGED and never runs the attacker\'s script', async () => {
      const n = node({ armed: false });
      const marker = join(n.root, 'ran');
      writeFileSync(n.script, `#!/bin/sh\ntouch ${marker}\nexit 0\n`);
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /hold changed since the lab pinned it at 2026-12-05T10:00:00.000Z: sha256 [0-9a-f]{64} → [0-9a-f]{64}/);
      assert.equal(existsSync(marker), false);
    });
    it('refuses an emptied script too', async () => {
      const n = node();
      writeFileSync(n.script, '');
      assert.equal((await gateStart(n.argv, n.config, n.deps))?.action, 'refuse');
    });
  });

  describe("when root has replaced the shell the hold runs in", () => {
    /** The attacker's shell: answers every hold at once, without posting a request. */
    const replaceShell = (n: ReturnType<typeof node>, marker: string) => {
      writeFileSync(`${n.shell}.new`, `#!/bin/dash\ntouch ${marker}\nexit 0\n`, { mode: 0o755 });
      rmSync(n.shell);
      copyFileSync(`${n.shell}.new`, n.shell);
    };
    it('refuses the protected start with GATE_DEFENCE_CHANGED, and never runs that shell', async () => {
      const n = node();
      const marker = join(n.root, 'ran');
      replaceShell(n, marker);
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /the start hold's shell .*\/shell changed since the gate pinned it at 2026-12-05T10:00:00.000Z: sha256 [0-9a-f]{64} → [0-9a-f]{64}; .*a protected container does not start before its audit rules are set/);
      assert.equal(d?.internalError, undefined, 'a finding, not the gate failing');
      assert.equal(existsSync(marker), false);
    });
    it('lets an unprotected container start (unaudited, as when the hold is missing)', async () => {
      const n = node({ namespace: 'default' });
      replaceShell(n, join(n.root, 'ran'));
      assert.equal(await gateStart(n.argv, n.config, n.deps), undefined);
    });
  });

  describe('when the hold cannot post its request (its directory is gone)', () => {
    it('refuses at once with the script\'s reason', async () => {
      const n = node({ holdDir: '/nonexistent/integrity-lab-hold' });
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /exit 1\): [^]*Directory nonexistent[^]*integrity-lab audit: cannot post the start hold's request/);
    });
  });

  describe('when the audit daemon does not answer', () => {
    it('refuses after the script\'s timeout', async () => {
      const n = node();
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /did not set the rules of container c{64} within 1 s/);
    });
  });

  describe('when there is nothing to hold', () => {
    it('passes a pod sandbox, another runc command, and a node without the audit component', async () => {
      const sandbox = node({ type: 'sandbox' });
      assert.equal(await gateStart(sandbox.argv, sandbox.config, sandbox.deps), undefined);
      const n = node();
      assert.equal(await gateStart(n.argv.map((a) => (a === 'start' ? 'kill' : a)), n.config, n.deps), undefined);
      const unprotected = node({ namespace: 'default' });
      assert.equal(await gateStart(unprotected.argv, { ...unprotected.config, startHold: undefined }, unprotected.deps), undefined);
      assert.deepEqual([...sandbox.memfdCalls, ...unprotected.memfdCalls], []);
    });
  });

  describe("a system-tier container's memory files", () => {
    it('are made non-executable in its pid namespace before it starts, from the pid runc wrote, and the decision says so', async () => {
      const n = node();
      n.answer();
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.deepEqual(n.memfdCalls, ['4242']);
      assert.equal(d?.action, 'allow');
      assert.equal(d?.memfdNoexec, 'set');
      assert.equal(d?.initPid, 4242);
      assert.match(d!.reason, /^memory-file execution refused in its pid namespace \(vm.memfd_noexec = 2\); audit rules set/);
    });
    it('are made non-executable on a node without the audit hold too', async () => {
      const n = node();
      const d = await gateStart(n.argv, { ...n.config, startHold: undefined }, n.deps);
      assert.equal(d?.action, 'allow');
      assert.equal(d?.memfdNoexec, 'set');
    });
    it('refuse the start when the namespace cannot be set, naming the helper\'s reason, and never hold', async () => {
      const n = node({ memfd: async () => ({ code: 1, stderr: 'layer-bind: cannot enter /proc/4242/ns/pid: No such process' }) });
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /vm.memfd_noexec could not be set in the pid namespace of its init \(pid 4242; layer-bind exit 1: layer-bind: cannot enter .*No such process\); a system-tier container does not start/);
      assert.equal(d?.holdMs, undefined);
      assert.equal(existsSync(join(n.dir, `${ID}.req`)), false, 'the hold was not run');
    });
    it('refuse the start when runc wrote no init pid', async () => {
      const n = node();
      rmSync(join(n.bundle, 'init.pid'));
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /init pid cannot be read from .*init\.pid \(no such file\)/);
      assert.deepEqual(n.memfdCalls, []);
    });
    it("refuse the start when the pid file names another container's process or a process of the node", async () => {
      const other = node();
      other.proc['/proc/4242/cgroup'] = `0::/kubepods/pod2/${'d'.repeat(64)}\n`;
      const d = await gateStart(other.argv, other.config, other.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /pid 4242 in .*init\.pid is not a process of this container \(its cgroup does not name the container\)/);
      const ofNode = node();
      ofNode.proc['/proc/4242/status'] = 'Name:\tsh\nNSpid:\t4242\n';
      assert.match((await gateStart(ofNode.argv, ofNode.config, ofNode.deps))!.reason, /not in a pid namespace of its own/);
      assert.deepEqual([...other.memfdCalls, ...ofNode.memfdCalls], [], 'the helper was never asked');
    });
    it('refuse the start as a finding when the helper is not the pinned one', async () => {
      const n = node({ memfd: () => Promise.reject(new LabError<GateErrorCode>('GATE_DEFENCE_CHANGED', "the start gate's layer-bind helper changed since the gate pinned it")) });
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /layer-bind helper changed since the gate pinned it; a system-tier container does not start/);
      assert.equal(d?.internalError, undefined);
    });
    it('start unrestricted on a kernel without vm.memfd_noexec, and the decision says so', async () => {
      const n = node({ memfd: async () => ({ code: 4, stderr: 'layer-bind: the kernel has no /proc/sys/vm/memfd_noexec' }) });
      n.answer();
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'allow');
      assert.equal(d?.memfdNoexec, 'unavailable');
      assert.match(d!.reason, /not restricted: the kernel has no vm.memfd_noexec/);
    });
  });

  describe('layer-bind memfd-noexec, the real helper, on this kernel', () => {
    it("sets 2 in the pid namespace of the pid given, and a memory file made there cannot be run", { skip: !existsSync('/proc/sys/vm/memfd_noexec') && 'the kernel has no vm.memfd_noexec' }, async () => {
      const helper = await compileStatic(LAYER_BIND_SOURCE, 'layer-bind');
      const deps = nodeStartDeps(pinnedReader(pinFiles([], new Date())), () => assert.fail('no hold here'), pinnedProgramOf(pinNow(helper, 'layer-bind', new Date()), 'layer-bind'));
      const sleeper = spawn('unshare', ['--pid', '--fork', '--kill-child', 'sleep', '30'], { stdio: 'ignore' });
      try {
        // The sleep, in the new namespace, is unshare's child.
        const children = await poll(async () => readFileSync(`/proc/${sleeper.pid}/task/${sleeper.pid}/children`, 'utf8').trim(), (c) => c !== '', { timeoutMs: 5000, intervalMs: 20, retryOnError: true });
        assert.ok(children.ok, 'unshare started its child');
        const pid = children.value!;
        const before = readFileSync('/proc/sys/vm/memfd_noexec', 'utf8').trim();
        assert.deepEqual(await deps.memfdNoexec(pid), { code: 0, stderr: '' });
        const inside = spawnSync('nsenter', ['--target', pid, '--pid', '--', 'cat', '/proc/sys/vm/memfd_noexec'], { encoding: 'utf8' });
        assert.equal(inside.stdout.trim(), '2');
        assert.equal(readFileSync('/proc/sys/vm/memfd_noexec', 'utf8').trim(), before, 'the namespace this test runs in is left as it was');
        const bad = await deps.memfdNoexec('999999999');
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /cannot open \/proc\/999999999\/ns\/pid/);
      } finally {
        sleeper.kill('SIGKILL');
      }
    });
  });

  describe("a CRI task's identity, from containerd's record", () => {
    const NS = 'io.kubernetes.cri.sandbox-namespace';
    /** containerd's record of the container: the spec CRI built; the bundle holds the start gate's rewrite of it. */
    const recorded = (namespace = 'kube-system') => ({
      root: { path: 'rootfs' },
      annotations: { 'io.kubernetes.cri.container-type': 'container', [NS]: namespace, 'io.kubernetes.cri.sandbox-name': 'agent', 'io.kubernetes.cri.container-name': 'main' },
      mounts: [{ destination: '/etc/hosts', type: 'bind', source: '/var/lib/hosts', options: ['rbind', 'rw'] }],
    });
    const withRecord = (n: ReturnType<typeof node>, record: ReturnType<typeof recorded> | Error, bundle: unknown) => {
      writeFileSync(join(n.bundle, 'config.json'), JSON.stringify(bundle));
      n.deps.records = { recordedSpec: async () => (record instanceof Error ? Promise.reject(record) : record) };
      return n;
    };
    it('starts the protected container whose bundle is what the start gate wrote at create', async () => {
      const n = withRecord(node(), recorded(), gatedSpec(recorded()));
      n.answer();
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'allow', d?.reason);
      assert.equal(d?.namespace, 'kube-system');
      assert.deepEqual(n.memfdCalls, ['4242']);
    });
    it("refuses the start when the bundle was edited since (another namespace), naming the record's namespace, before the memfd policy or the hold", async () => {
      const forged = gatedSpec(recorded());
      forged.annotations[NS] = 'default';
      const n = withRecord(node(), recorded(), forged);
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.equal(d?.namespace, 'kube-system');
      assert.match(d!.reason, /not what the start gate left at create: annotations\["io\.kubernetes\.cri\.sandbox-namespace"\]: "default" in the bundle, "kube-system" in containerd's record; it was edited on the node since/);
      assert.deepEqual(n.memfdCalls, []);
    });
    it('refuses the start when noexec was taken off a writable mount in the bundle', async () => {
      const n = withRecord(node(), recorded(), recorded());
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /root\.readonly: absent in the bundle, true in containerd's record/);
    });
    it("judges an unprotected container as containerd recorded it, whatever its bundle claims (the hold only, no memfd policy)", async () => {
      const forged = recorded('default');
      forged.annotations[NS] = 'kube-system';
      const n = withRecord(node(), recorded('default'), forged);
      n.answer();
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'allow', d?.reason);
      assert.equal(d?.namespace, 'default');
      assert.deepEqual(n.memfdCalls, []);
    });
    it("refuses the start when the record (and the bundle from it) names another namespace than CRI's own state", async () => {
      const n = withRecord(node(), recorded('default'), recorded('default'));
      n.deps.cri = { requestOf: async () => undefined, ofContainer: async () => ({ namespace: 'kube-system', pod: 'agent', container: 'main', sandboxId: 'sb' }) };
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.equal(d?.namespace, 'kube-system');
      assert.match(d!.reason, /namespace "default" in containerd's record, "kube-system" in CRI's own state; the record was changed through containerd's API/);
      assert.deepEqual(n.memfdCalls, []);
    });
    describe('when this daemon saw the create (created-tasks.ts)', () => {
      const seen = (n: ReturnType<typeof node>, task: CreatedTask) => {
        n.deps.created = new CreatedTasks();
        n.deps.created.note(ID, task);
        n.deps.records = { recordedSpec: async () => assert.fail('containerd asked again') };
        n.deps.cri = { requestOf: async () => assert.fail('CRI asked again'), ofContainer: async () => assert.fail('CRI asked again') };
        return n;
      };
      it("takes the record and CRI's pod from the create, asking neither again, and uses them once", async () => {
        const n = seen(withRecord(node(), recorded(), gatedSpec(recorded())), { recorded: recorded(), identity: { namespace: 'kube-system', pod: 'agent', container: 'main', sandboxId: 'sb' } });
        n.answer();
        const d = await gateStart(n.argv, n.config, n.deps);
        assert.equal(d?.action, 'allow', d?.reason);
        assert.equal(d?.namespace, 'kube-system');
        assert.equal(n.deps.created!.take(ID), undefined);
      });
      it('still refuses a bundle edited since the create, against the record the create read', async () => {
        const forged = gatedSpec(recorded());
        forged.annotations[NS] = 'default';
        const n = seen(withRecord(node(), recorded(), forged), { recorded: recorded() });
        const d = await gateStart(n.argv, n.config, n.deps);
        assert.equal(d?.action, 'refuse');
        assert.match(d!.reason, /not what the start gate left at create/);
      });
    });
    it('refuses the start when containerd cannot say whose container it is', async () => {
      const n = withRecord(node(), new Error('cannot ask containerd at /run/containerd/containerd.sock'), gatedSpec(recorded()));
      const d = await gateStart(n.argv, n.config, n.deps);
      assert.equal(d?.action, 'refuse');
      assert.match(d!.reason, /cannot compare the bundle .* with containerd's record of container c+, so it does not start: cannot ask containerd/);
    });
  });

  describe('when the gate configuration is unusable', () => {
    it('refuses the start', async () => {
      const n = node();
      assert.equal((await gateStart(n.argv, new Error('gates.json changed'), n.deps))?.action, 'refuse');
    });
  });
});

describe('observeHold', () => {
  describe('when the pinned script appears', () => {
    it('latches; an altered script does not', () => {
      const n = node({ armed: false });
      writeFileSync(n.script, 'exit 0\n');
      assert.equal(observeHold(n.config.startHold, n.deps), false);
      assert.equal(n.isArmed(), false);
      writeFileSync(n.script, holdScript(n.dir, 1));
      assert.equal(observeHold(n.config.startHold, n.deps), true);
      assert.equal(n.isArmed(), true);
    });
  });
});
