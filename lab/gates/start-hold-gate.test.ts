import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { holdScript } from '../audit/node/start-hold.ts';
import type { GateConfig } from './config.ts';
import { pinFiles, pinNow, pinnedProgramOf, pinnedReader } from './pins.ts';
import { gateStart, nodeStartHoldDeps, observeHold, type StartHoldDeps } from './start-hold-gate.ts';
import { scratchDir } from '../testing/scratch-dir.ts';

const ID = 'c'.repeat(64);

/**
 * A node in a directory: the hold directory with the genuine script (pinned
 * as the host pins it), a task bundle whose annotations name `namespace`,
 * and a copy of the host's dash, pinned as the daemon pins busybox on a
 * node, running the script's bytes.
 */
function node(opts: { namespace?: string; type?: string; armed?: boolean; holdDir?: string } = {}) {
  const root = scratchDir('start-hold-gate');
  const dir = join(root, 'audit-hold');
  mkdirSync(dir);
  const script = join(dir, 'hold');
  const genuine = holdScript(opts.holdDir ?? dir, 1);
  writeFileSync(script, genuine, { mode: 0o755 });
  const bundle = join(root, 'task', 'k8s.io', ID);
  mkdirSync(bundle, { recursive: true });
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
  const deps: StartHoldDeps = {
    ...nodeStartHoldDeps(pinnedReader(pinFiles([{ path: script, content: genuine }], new Date('2026-12-05T10:00:00Z'))), pinnedProgramOf(shellPin, "the start hold's shell")),
    armed: { get: () => armed, set: () => void (armed = true) },
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
  return { root, dir, script, shell, config, deps, argv, answer, isArmed: () => armed };
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
      assert.equal(await gateStart(n.argv, { ...n.config, startHold: undefined }, n.deps), undefined);
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
