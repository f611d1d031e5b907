import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { judgeAttack, namesTarget, rootLowerdirs, type AttackObservation, type Detection } from './index.ts';

const APP_ID = 'a'.repeat(64);
const OTHER_ID = 'b'.repeat(64);
const target = { pods: ['apps/app'], containerIds: [APP_ID], subjects: ['127.0.0.1:5000/apps/app:1.0'] };
const at = '2026-01-01T00:00:00Z';
const integrity = { caughtBy: ['start-gate', 'watchdog'] as const, installed: ['pull-gate', 'start-gate', 'watchdog', 'audit'] };

function observe(effect: boolean, detections: Detection[], extra: Partial<AttackObservation> = {}): AttackObservation {
  return { effect, detections, reason: 'r', target, ...extra };
}

describe('judgeAttack', () => {
  describe('when the change took effect', () => {
    it('is detected when a caughtBy component reports the attacked container', () => {
      const alert = { component: 'watchdog', message: 'layer changed', time: at, data: { action: 'alert', container: APP_ID } };
      const j = judgeAttack(observe(true, [alert]), integrity);
      assert.equal(j.verdict, 'detected');
      assert.equal(j.earnedBy, 'watchdog');
    });
    it('is succeeded when only the harness\'s own evidence shell was reported (audit is not in caughtBy)', () => {
      // The false `detected` of the review: audit saw the shell the harness ran in the target to read evidence.
      const shell = { component: 'audit', message: 'Shell spawned in a container', time: at, data: { output_fields: { 'container.id': APP_ID.slice(0, 12) } } };
      const j = judgeAttack(observe(true, [shell]), integrity);
      assert.equal(j.verdict, 'succeeded');
      assert.match(j.ignored[0]!.why, /audit is not in caughtBy/);
    });
    it('is succeeded when a caughtBy component reports another container', () => {
      const other = { component: 'watchdog', message: 'overmount', time: at, data: { action: 'alert', container: OTHER_ID, namespace: 'kube-system', pod: 'system-agent' } };
      const j = judgeAttack(observe(true, [other]), integrity);
      assert.equal(j.verdict, 'succeeded');
      assert.match(j.ignored[0]!.why, /does not name the attacked/);
    });
  });

  describe("with the harness's own commands", () => {
    const audited = { caughtBy: ['audit'] as const, installed: ['audit'] };
    // The check ran `cat /etc/shadow` inside the target from .100 to .200.
    const check = { name: 'check', in: 'container', argv: ['cat', '/etc/shadow'], from: '2026-01-01T00:00:00.100Z', to: '2026-01-01T00:00:00.200Z' };
    const read = (time: string, cmdline?: string) => ({
      component: 'audit',
      message: 'Read of a sensitive file',
      time,
      data: { rule: 'Read of a sensitive file', output_fields: { 'container.id': APP_ID.slice(0, 12), ...(cmdline ? { 'proc.cmdline': cmdline } : {}) } },
    });
    it('does not count an alert about the check\'s process: raised while it ran, with its arguments', () => {
      const j = judgeAttack(observe(true, [read('2026-01-01T00:00:00.150000000Z', 'cat /etc/shadow')], { harnessCommands: [check] }), audited);
      assert.equal(j.verdict, 'succeeded');
      assert.match(j.ignored[0]!.why, /harness's own check command \(cat \/etc\/shadow\)/);
      assert.deepEqual(j.counted, []);
    });
    it('counts the same command run by the attack step before the check', () => {
      const j = judgeAttack(observe(true, [read('2026-01-01T00:00:00.020Z', 'cat /etc/shadow')], { harnessCommands: [check] }), audited);
      assert.equal(j.verdict, 'detected');
      assert.equal(j.counted.length, 1);
    });
    it('counts another process raised while the check ran', () => {
      const j = judgeAttack(observe(true, [read('2026-01-01T00:00:00.150Z', 'cat /etc/passwd /etc/shadow')], { harnessCommands: [check] }), audited);
      assert.equal(j.verdict, 'detected');
    });
    it('counts a report that names no process (a watchdog or gate record) whenever it came', () => {
      const j = judgeAttack(observe(true, [read('2026-01-01T00:00:00.150Z')], { harnessCommands: [check] }), audited);
      assert.equal(j.verdict, 'detected');
    });
  });

  describe('when the change took no effect', () => {
    it('is blocked with the refusal record of a caughtBy component naming the pod', () => {
      const refusal = { component: 'start-gate', message: 'layer hash mismatch', time: at, data: { action: 'refuse', namespace: 'apps', pod: 'app' } };
      const j = judgeAttack(observe(false, [refusal]), integrity);
      assert.equal(j.verdict, 'blocked');
      assert.equal(j.earnedBy, 'start-gate');
      assert.equal(j.evidence, 'layer hash mismatch');
    });
    it('is blocked when the watchdog stopped the attacked container', () => {
      const stop = { component: 'watchdog', message: 'stopped', time: at, data: { action: 'stop', container: APP_ID } };
      assert.equal(judgeAttack(observe(false, [stop]), integrity).verdict, 'blocked');
    });
    it('is an error, never blocked, when the attack step failed and nothing refused it', () => {
      // The false `blocked` of the review: the attacker's write failed for its own reasons.
      const j = judgeAttack(observe(false, [], { reason: 'sh: can\'t create /opt/agent/config: No such file or directory' }), integrity);
      assert.equal(j.verdict, 'error');
      assert.equal(j.earnedBy, undefined);
      assert.match(j.reason, /no defence in caughtBy \[start-gate, watchdog\] left evidence/);
    });
    it('is an error when a caughtBy component only alerted', () => {
      const alert = { component: 'watchdog', message: 'x', time: at, data: { action: 'alert', container: APP_ID } };
      assert.match(judgeAttack(observe(false, [alert]), integrity).reason, /1 alert\(s\) named the target without refusing/);
    });
    it("is an error, never blocked, when the only refusal is the gate's own internal error (a broken attack tool inside it)", () => {
      const failure = { component: 'start-gate', message: 'internal error, refusing: command failed with exit code 32: /opt/integrity-lab/layer-bind rootfs …', time: at, data: { action: 'refuse', namespace: 'apps', pod: 'app', internalError: true } };
      const j = judgeAttack(observe(false, [failure]), integrity);
      assert.equal(j.verdict, 'error');
      assert.match(j.ignored[0]!.why, /start-gate refused because of its own internal error/);
    });
    it('is an error when every deny of an admission record is a policy that could not be evaluated', () => {
      const admission = { caughtBy: ['admission'] as const, installed: ['admission'] };
      const violations = [{ policy: 'p', mode: 'deny', message: '[p] internal error while evaluating the policy, refusing: x', internalError: true }];
      const denied = { component: 'admission', message: 'denied apps/app', time: at, data: { outcome: 'denied', namespace: 'apps', name: 'app', violations } };
      assert.equal(judgeAttack(observe(false, [denied]), admission).verdict, 'error');
      const withFinding = { ...denied, data: { ...denied.data, violations: [...violations, { policy: 'q', mode: 'deny', message: '[q] privileged' }] } };
      assert.equal(judgeAttack(observe(false, [withFinding]), admission).verdict, 'blocked');
    });
    it('is an error when the refusal is another pod\'s', () => {
      const refusal = { component: 'start-gate', message: 'x', time: at, data: { action: 'refuse', namespace: 'apps', pod: 'app-2' } };
      assert.equal(judgeAttack(observe(false, [refusal]), integrity).verdict, 'error');
    });
    it('is blocked on the technique\'s evidence of an installed caughtBy defence', () => {
      const blockedBy = [{ component: 'start-gate' as const, evidence: 'the write got EROFS on a root overlay with no upperdir' }];
      const j = judgeAttack(observe(false, [], { blockedBy }), integrity);
      assert.equal(j.verdict, 'blocked');
      assert.equal(j.earnedBy, 'start-gate');
    });
    it('is an error when that defence is not installed (the vanilla control)', () => {
      const blockedBy = [{ component: 'start-gate' as const, evidence: 'EROFS' }];
      const j = judgeAttack(observe(false, [], { blockedBy }), { caughtBy: ['start-gate'], installed: [] });
      assert.equal(j.verdict, 'error');
      assert.match(j.reason, /start-gate \(not installed\)/);
    });
  });
});

describe('namesTarget', () => {
  const d = (data: unknown, message = 'm'): Detection => ({ component: 'audit', message, time: at, data });
  it('matches Falco\'s 12-character container id', () => {
    assert.ok(namesTarget(d({ output_fields: { 'container.id': APP_ID.slice(0, 12) } }), target));
  });
  it('matches an admission record by namespace and name', () => {
    assert.ok(namesTarget(d({ namespace: 'apps', name: 'app', outcome: 'denied' }), target));
  });
  it('matches a pull-gate record by the attacked image', () => {
    assert.ok(namesTarget(d({ action: 'refuse', image: '127.0.0.1:5000/apps/app:1.0' }), target));
  });
  it('compares fields whole: pod app-2 and a longer image are not the target', () => {
    assert.ok(!namesTarget(d({ namespace: 'apps', pod: 'app-2' }, 'refused apps/app-2'), target));
    assert.ok(!namesTarget(d({ image: '127.0.0.1:5000/apps/app:1.0-evil' }), target));
  });
});

describe('rootLowerdirs', () => {
  it('reads the lowerdirs of the root overlay, top first', () => {
    const mi = [
      '1 0 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/s/2/fs:/s/1/fs,upperdir=/s/4/fs,workdir=/s/4/work,uuid=on',
      '2 1 0:41 / /proc rw - proc proc rw',
    ].join('\n');
    assert.deepEqual(rootLowerdirs(mi), ['/s/2/fs', '/s/1/fs']);
  });
  describe('when the root is not an overlay', () => {
    it('finds none', () => {
      assert.deepEqual(rootLowerdirs('1 0 0:40 / / rw - ext4 /dev/vda rw'), []);
    });
  });
});
