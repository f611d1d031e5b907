import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Exec, ExecResult } from '../exec.ts';
import type { ActivityRecord, WatchdogAlert } from './alerts.ts';
import { createWatchdogCommand, parseSince, type WatchdogCommandDeps } from './cli.ts';
import { ACTIVITY_LOG, ALERT_LOG, STATUS_FILE } from './config.ts';

const NOW = new Date('2026-11-22T13:00:00Z');

function alert(at: string, mountPoint: string): WatchdogAlert {
  return {
    time: at,
    component: 'watchdog',
    kind: 'mount',
    container: 'c'.repeat(64),
    containerName: 'system-agent',
    pod: 'system-agent',
    namespace: 'kube-system',
    mode: 'detect',
    action: 'alert',
    reasons: ['overmount-file'],
    reason: `an overmount of ${mountPoint}`,
    notify: 'fanotify-mnt',
    trigger: 'fanotify',
    detectedAt: Date.parse(at),
    watchdog: { pid: 100, startedAt: '2026-11-22T12:00:00Z' },
  };
}

/** An engine that knows these labs (each as its node and its audit sidecar) and serves files from their nodes. */
function fakeDocker(labs: string[], files: Record<string, string>): Omit<WatchdogCommandDeps, 'now'> & { calls: string[][] } {
  const calls: string[][] = [];
  const ok = (stdout: string): ExecResult => ({ exitCode: 0, stdout: Buffer.from(stdout), stderr: '' });
  return {
    calls,
    labs: async () => labs.flatMap((l) => [l, l]),
    nodeExec: (labId): Exec => ({
      async run(argv) {
        calls.push([labId, ...argv]);
        if (argv[0] === 'cat') {
          const f = files[argv[1]!];
          return f === undefined ? { exitCode: 1, stdout: Buffer.alloc(0), stderr: 'No such file' } : ok(f);
        }
        return { exitCode: 127, stdout: Buffer.alloc(0), stderr: `unexpected ${argv.join(' ')}` };
      },
    }),
  };
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const a1 = alert('2026-11-22T12:50:00.000Z', '/opt/agent/run.sh');
const a2 = alert('2026-11-22T12:59:30.000Z', '/etc');
const act: ActivityRecord = { time: '2026-11-22T12:55:00.000Z', kind: 'enforced', container: 'c'.repeat(64), message: 'stopped' };
const files = { [ALERT_LOG]: `${JSON.stringify(a1)}\n${JSON.stringify(a2)}\n`, [ACTIVITY_LOG]: `${JSON.stringify(act)}\n`, [STATUS_FILE]: JSON.stringify({ pid: 100, notify: 'fanotify-mnt' }) };

describe('watchdog command', () => {
  describe('when one lab runs and no LAB_ID is given', () => {
    it('prints every alert of its node as a JSON line, exactly as logged', async () => {
      const fake = fakeDocker(['lab1'], files);
      const c = capture();
      assert.equal(await createWatchdogCommand({ ...fake, now: () => NOW }).run(['events'], c.io), 0);
      assert.deepEqual(c.out.map((l) => JSON.parse(l)), [a1, a2]);
      assert.ok(fake.calls.some((a) => a.join(' ') === `lab1 cat ${ALERT_LOG}`));
    });
  });

  describe('when --since is a duration', () => {
    it('prints only the alerts detected since then', async () => {
      const c = capture();
      assert.equal(await createWatchdogCommand({ ...fakeDocker(['lab1'], files), now: () => NOW }).run(['events', 'lab1', '--since', '5m'], c.io), 0);
      assert.deepEqual(c.out.map((l) => JSON.parse(l).reason), ['an overmount of /etc']);
    });
  });

  describe('when --activity is given', () => {
    it('merges activity records in time order, each line marked', async () => {
      const c = capture();
      await createWatchdogCommand({ ...fakeDocker(['lab1'], files), now: () => NOW }).run(['events', '--activity'], c.io);
      assert.deepEqual(c.out.map((l) => JSON.parse(l).record), ['alert', 'activity', 'alert']);
    });
  });

  describe('when the node has no alert log yet', () => {
    it('prints nothing and succeeds', async () => {
      const c = capture();
      assert.equal(await createWatchdogCommand({ ...fakeDocker(['lab1'], {}), now: () => NOW }).run(['events'], c.io), 0);
      assert.deepEqual(c.out, []);
    });
  });

  describe('when asked for the status', () => {
    it('prints the status file as one JSON line', async () => {
      const c = capture();
      assert.equal(await createWatchdogCommand({ ...fakeDocker(['lab1'], files), now: () => NOW }).run(['status'], c.io), 0);
      assert.equal(JSON.parse(c.out[0]!).notify, 'fanotify-mnt');
    });
    it('fails with exit 1 on a lab without a watchdog', async () => {
      const c = capture();
      assert.equal(await createWatchdogCommand({ ...fakeDocker(['lab1'], {}), now: () => NOW }).run(['status'], c.io), 1);
      assert.match(c.err[0]!, /has no watchdog status/);
    });
  });

  describe('when the lab cannot be chosen', () => {
    it('names the labs when several run', async () => {
      await assert.rejects(createWatchdogCommand({ ...fakeDocker(['a', 'b'], files), now: () => NOW }).run(['events'], capture().io), { code: 'WATCHDOG_LAB_NOT_FOUND', message: /several labs run; name one: a, b/ });
    });
    it('names the labs when the given one does not exist', async () => {
      await assert.rejects(createWatchdogCommand({ ...fakeDocker(['a'], files), now: () => NOW }).run(['events', 'zz'], capture().io), { code: 'WATCHDOG_LAB_NOT_FOUND', message: /no lab "zz"; labs: a/ });
    });
  });

  describe('when the arguments are wrong', () => {
    it('prints the usage and exits 2', async () => {
      for (const argv of [[], ['follow'], ['events', 'a', 'b'], ['events', '--bogus']]) {
        const c = capture();
        assert.equal(await createWatchdogCommand({ ...fakeDocker(['a'], files), now: () => NOW }).run(argv, c.io), 2, argv.join(' '));
        assert.match(c.err.join('\n'), /integrity-lab watchdog events/);
      }
    });
  });
});

describe('parseSince', () => {
  describe('when given a duration or a time', () => {
    it('goes back from now, or takes the time as is', () => {
      assert.equal(parseSince('30s', NOW).toISOString(), '2026-11-22T12:59:30.000Z');
      assert.equal(parseSince('2h', NOW).toISOString(), '2026-11-22T11:00:00.000Z');
      assert.equal(parseSince('2026-11-22T10:00:00Z', NOW).toISOString(), '2026-11-22T10:00:00.000Z');
    });
  });
  describe('when given something else', () => {
    it('throws WATCHDOG_CONFIG_INVALID naming the value', () => {
      assert.throws(() => parseSince('yesterday', NOW), { code: 'WATCHDOG_CONFIG_INVALID', message: /got "yesterday"/ });
    });
  });
});
