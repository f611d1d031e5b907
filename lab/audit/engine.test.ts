import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuditEngine, compileRuleSet, formatTime, normalizeTime } from './engine.ts';
import type { AuditEvent } from './fields.ts';

const clock = () => new Date('2024-05-06T07:08:09.010Z');

/** An engine with one rule per condition, named by the condition itself. */
function engineFor(conditions: string[], extra = ''): AuditEngine {
  const rules = conditions
    .map((c) => `- rule: ${JSON.stringify(c)}\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: o\n  priority: INFO\n`)
    .join('\n');
  const engine = new AuditEngine({ hostname: 'node-1', clock });
  engine.load([{ name: 'inline.yaml', content: `${extra}\n${rules}` }]);
  return engine;
}

/** Which of the conditions hold for the event. */
function holds(conditions: string[], event: AuditEvent, extra = ''): string[] {
  return engineFor(conditions, extra).evaluate(event).map((a) => a.rule);
}

function holdsOne(condition: string, event: AuditEvent, extra = ''): boolean {
  return holds([condition], event, extra).length === 1;
}

describe('AuditEngine.evaluate', () => {
  describe('when a field has no value in the event', () => {
    const event = { 'evt.type': 'execve', 'proc.name': 'bash' };

    it('makes every comparison false, != included, and exists false', () => {
      for (const c of ['user.name = root', 'user.name != root', 'user.uid < 5', 'user.name in (root)', 'user.name exists', 'user.name contains r']) {
        assert.equal(holdsOne(c, event), false, c);
      }
    });

    it("treats a missing evt.dir as '<', as Falco 0.42 does with the deprecated direction", () => {
      assert.equal(holdsOne('evt.dir = <', event), true);
      assert.equal(holdsOne("evt.dir = '>'", event), false);
    });

    it('makes not of such a comparison true', () => {
      assert.equal(holdsOne('not user.name = root', event), true);
      assert.equal(holdsOne('not user.name exists', event), true);
    });

    it('treats fields the lab never produces the same way, and reports each once', () => {
      const engine = engineFor(['fd.sip = 1.2.3.4 or fd.sip = 5.6.7.8', 'not fd.sip exists and not thread.cap_effective contains x']);
      assert.deepEqual(engine.evaluate(event).map((a) => a.rule), ['not fd.sip exists and not thread.cap_effective contains x']);
      assert.deepEqual(engine.unknownFields(), ['fd.sip', 'thread.cap_effective']);
      assert.equal(engine.ruleSet().warnings.filter((w) => w.includes("'fd.sip'")).length, 1);
    });
  });

  describe('when comparing strings', () => {
    const e = { 'evt.type': 'openat', 'fd.name': '/home/alice/.ssh/id_rsa', 'proc.args': 'BEGIN RSA PRIVATE' };
    const cases: [string, boolean][] = [
      ['fd.name = /home/alice/.ssh/id_rsa', true],
      ['fd.name == /home/alice/.ssh/id_rsa', true],
      ['fd.name != /etc/passwd', true],
      ['fd.name contains /.ssh/', true],
      ['proc.args icontains "begin rsa"', true],
      ['proc.args contains "begin rsa"', false],
      ['fd.name startswith /home/', true],
      ['fd.name endswith id_rsa', true],
      ["fd.name glob '/home/*/.ssh/*'", true],
      ["fd.name glob '/home/*/.ssh'", false],
      ['fd.name iglob /HOME/*', true],
      ["fd.name regex '/home/[a-z]+/\\\\.ssh/id_[a-z]+'", true],
      ["fd.name regex '/home/[a-z]+/[.]ssh/id_[a-z]+'", true],
      ["fd.name regex 'alice'", false],
      ['fd.name pmatch (/home/alice)', true],
      ['fd.name pmatch (/home/ali)', false],
      ['fd.name pmatch (/home/*/.ssh)', true],
      ['fd.name in (/etc/shadow, /home/alice/.ssh/id_rsa)', true],
      ['fd.name intersects (/home/alice/.ssh/id_rsa)', true],
      ['proc.args bcontains 525341', true],
      ['proc.args bstartswith 424547', true],
      ['proc.args bstartswith 525341', false],
    ];
    for (const [c, expected] of cases) it(`${c} is ${expected}`, () => assert.equal(holdsOne(c, e), expected));
  });

  describe('when comparing numbers and booleans', () => {
    const e = { 'evt.type': 'openat', 'fd.num': 3, 'evt.rawres': -2, 'proc.tty': '34816', 'evt.is_open_read': true, 'container.privileged': 'false' };
    const cases: [string, boolean][] = [
      ['fd.num >= 0', true],
      ['fd.num = 3', true],
      ['fd.num != 3', false],
      ['fd.num in (1, 2, 3)', true],
      ['evt.rawres < 0', true],
      ['evt.rawres in (0, 1, 2)', false],
      ['fd.num < 0x10', true],
      ['proc.tty != 0', true],
      ['evt.is_open_read = true', true],
      ['evt.is_open_read = false', false],
      ['container.privileged = false', true],
      ['container.privileged = true', false],
    ];
    for (const [c, expected] of cases) it(`${c} is ${expected}`, () => assert.equal(holdsOne(c, e), expected));

    it('rejects string operators on numeric fields', () => {
      assert.throws(() => engineFor(['fd.num contains 3']), { code: 'BAD_OPERATOR' });
      assert.throws(() => engineFor(['container.privileged startswith t']), { code: 'BAD_OPERATOR' });
    });
  });

  describe('when a field holds a list', () => {
    const pod = {
      source: 'k8s_audit',
      'ka.req.pod.containers.image': ['nginx:1.25', 'busybox:1.36'],
      'ka.req.pod.containers.privileged': ['false', 'true'],
    };
    const ka = (c: string) => holds([c], pod, '').length === 0 ? false : true;
    const k8sRule = (c: string) =>
      `- rule: R\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: o\n  priority: INFO\n  source: k8s_audit\n`;
    const check = (c: string): boolean => {
      const engine = new AuditEngine({ hostname: 'h', clock });
      engine.load([{ name: 'k.yaml', content: k8sRule(c) }]);
      return engine.evaluate(pod).length === 1;
    };

    it('uses all elements for in, any for intersects and for other operators', () => {
      assert.equal(check('ka.req.pod.containers.image in (nginx:1.25, busybox:1.36, redis:7)'), true);
      assert.equal(check('ka.req.pod.containers.image in (nginx:1.25)'), false);
      assert.equal(check('ka.req.pod.containers.image intersects (nginx:1.25)'), true);
      assert.equal(check('ka.req.pod.containers.privileged intersects (true)'), true);
      assert.equal(check('ka.req.pod.containers.image startswith busybox'), true);
      assert.equal(check('ka.req.pod.containers.image[0] startswith busybox'), false);
      assert.equal(check('ka.req.pod.containers.image[1] startswith busybox'), true);
      assert.equal(check('len(ka.req.pod.containers.image) = 2'), true);
    });

    it('refuses k8s_audit fields in syscall rules, as Falco does', () => {
      // Falco: the syscall source has no ka.* fields, so the condition does not compile (LOAD_ERR_COMPILE_CONDITION).
      assert.throws(() => ka('ka.req.pod.containers.image exists'), { code: 'UNKNOWN_FIELD' });
    });
  });

  describe('when a condition walks the process ancestry', () => {
    const e = { 'evt.type': 'execve', 'proc.name': 'sh', 'proc.pname': 'node', 'proc.aname': ['sh', 'node', 'containerd-shim', 'systemd'] };

    it('indexes proc.aname from the process itself', () => {
      assert.equal(holdsOne('proc.aname[0] = sh', e), true);
      assert.equal(holdsOne('proc.aname[1] = node', e), true);
      assert.equal(holdsOne('proc.aname[2] = containerd-shim', e), true);
      assert.equal(holdsOne('proc.aname[9] exists', e), false);
    });

    it('matches any ancestor, not the process itself, without an index', () => {
      assert.equal(holdsOne('proc.aname = systemd', e), true);
      assert.equal(holdsOne('proc.aname in (containerd-shim, nginx)', e), true, 'some ancestor is in the set');
      assert.equal(holdsOne('proc.aname in (nginx)', e), false);
      assert.equal(holdsOne('proc.aname intersects (containerd-shim)', e), true);
      assert.equal(holdsOne('proc.aname = sh', e), false);
    });

    it('falls back to proc.name and proc.pname when the event has no ancestry list', () => {
      const flat = { 'evt.type': 'execve', 'proc.name': 'sh', 'proc.pname': 'node' };
      assert.equal(holdsOne('proc.aname[1] = node', flat), true);
      assert.equal(holdsOne('proc.aname = node', flat), true);
      assert.equal(holdsOne('proc.aname[2] exists', flat), false);
    });
  });

  describe('when a condition looks up mounts by path', () => {
    const e = { 'evt.type': 'container', 'container.mount.source': ['/var/lib/kubelet/pods/x', '/etc'], 'container.mount.dest': ['/data', '/host/etc'] };

    it('maps a destination to its source and back', () => {
      assert.equal(holdsOne('container.mount.source[/host/etc] = /etc', e), true);
      assert.equal(holdsOne('container.mount.dest[/etc] = /host/etc', e), true);
      assert.equal(holdsOne('container.mount.source[1] = /etc', e), true);
      assert.equal(holdsOne('container.mount.source[/nope] exists', e), false);
      assert.equal(holdsOne('container.mount.source pmatch (/etc)', e), true);
    });
  });

  describe('when transformers and val() are used', () => {
    const e = { 'evt.type': 'execve', 'proc.name': 'Bash', 'proc.pname': 'bash', 'proc.exepath': '/usr/bin/bash', 'proc.cmdline': 'YmFzaA==' };
    const cases: [string, boolean][] = [
      ['tolower(proc.name) = bash', true],
      ['toupper(proc.pname) = BASH', true],
      ['basename(proc.exepath) = bash', true],
      ['b64(proc.cmdline) = bash', true],
      ['len(proc.exepath) = 13', true],
      ['proc.name = val(proc.pname)', false],
      ['tolower(proc.name) = tolower(proc.pname)', true],
      ['proc.exepath endswith val(proc.pname)', true],
      ['proc.name = val(user.name)', false],
    ];
    for (const [c, expected] of cases) it(`${c} is ${expected}`, () => assert.equal(holdsOne(c, e), expected));
  });

  describe('when lists and macros are referenced', () => {
    const extra = [
      '- list: shells',
      '  items: [bash, sh]',
      '- list: more_shells',
      '  items: [shells, zsh, "\'quoted shells\'"]',
      '- macro: is_shell',
      '  condition: proc.name in (more_shells)',
    ].join('\n');

    it('expands nested lists, but not quoted names', () => {
      assert.equal(holdsOne('is_shell', { 'proc.name': 'sh' }, extra), true);
      assert.equal(holdsOne('is_shell', { 'proc.name': 'zsh' }, extra), true);
      assert.equal(holdsOne('is_shell', { 'proc.name': 'quoted shells' }, extra), true);
      assert.equal(holdsOne('proc.name in ("shells")', { 'proc.name': 'shells' }, extra), true);
      assert.equal(holdsOne('proc.name in (shells)', { 'proc.name': 'shells' }, extra), false);
      assert.equal(holdsOne('proc.name in more_shells', { 'proc.name': 'bash' }, extra), true);
    });
  });

  describe('when rules are indexed by event type', () => {
    const conditions = [
      'evt.type = open',
      'evt.type in (open, openat) and fd.name startswith /etc',
      'not evt.type = open',
      'evt.type != execve and proc.name = x',
      'not (evt.type = open and proc.name = x)',
      'proc.name = x',
      'evt.type = open or proc.name = x',
      'not (evt.type in (open, execve) or proc.name = y)',
    ];
    const events: AuditEvent[] = [];
    for (const type of ['open', 'openat', 'execve', 'connect', undefined]) {
      for (const name of ['x', 'y', 'z']) {
        for (const fd of ['/etc/passwd', '/tmp/a']) {
          const e: Record<string, string> = { 'proc.name': name, 'fd.name': fd };
          if (type) e['evt.type'] = type;
          events.push(e);
        }
      }
    }

    it('raises exactly the alerts that running every rule raises', () => {
      const rules = conditions
        .map((c, i) => `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: o\n  priority: INFO\n`)
        .join('\n');
      const indexed = new AuditEngine({ hostname: 'h', clock });
      const flat = new AuditEngine({ hostname: 'h', clock, indexByEventType: false });
      indexed.load([{ name: 'i.yaml', content: rules }]);
      flat.load([{ name: 'i.yaml', content: rules }]);
      let total = 0;
      for (const e of events) {
        const a = indexed.evaluate(e).map((x) => x.rule);
        total += a.length;
        assert.deepEqual(a, flat.evaluate(e).map((x) => x.rule), JSON.stringify(e));
      }
      assert.ok(total > 20, `the fixture should raise alerts, raised ${total}`);
    });

    it('computes the type sets the index uses', () => {
      const set = compileRuleSet([{ name: 't.yaml', content: conditions.map((c, i) => `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(c)}\n  output: o\n  priority: INFO\n`).join('\n') }]);
      const shown = set.rules.map((r) => `${r.evttypes.kind}:${[...r.evttypes.types].sort().join(',')}`);
      assert.deepEqual(shown, ['only:open', 'only:open,openat', 'except:open', 'except:execve', 'except:', 'except:', 'except:', 'except:execve,open']);
    });
  });

  describe('when a rule fires', () => {
    const content = [
      '- rule: Shell',
      '  desc: d',
      '  condition: evt.type = execve and proc.name = bash',
      '  output: "Shell %proc.name (%proc.aname[2]) 100%% at %evt.time on %evt.hostname user=%user.name mounts=%container.mount.source %container.info"',
      '  priority: warning',
      '  tags: [zeta, alpha]',
    ].join('\n');

    it('builds Falco JSON output with the event time, substituted fields and sorted tags', () => {
      const engine = new AuditEngine({ hostname: 'node-1', clock });
      engine.load([{ name: 'o.yaml', content }]);
      const [alert] = engine.evaluate({
        'evt.type': 'execve',
        'evt.time': '2024-01-02T03:04:05.123456Z',
        'proc.name': 'bash',
        'proc.aname': ['bash', 'sh', 'sshd'],
        'container.mount.source': ['/a', '/b'],
      });
      assert.deepEqual(alert, {
        output: '03:04:05.123456000: Warning Shell bash (sshd) 100% at 03:04:05.123456000 on node-1 user=<NA> mounts=/a,/b',
        priority: 'Warning',
        rule: 'Shell',
        time: '2024-01-02T03:04:05.123456000Z',
        output_fields: {
          'proc.name': 'bash',
          'proc.aname[2]': 'sshd',
          'evt.time': '2024-01-02T03:04:05.123456000Z',
          'evt.hostname': 'node-1',
          'user.name': null,
          'container.mount.source': ['/a', '/b'],
        },
        source: 'syscall',
        tags: ['alpha', 'zeta'],
        hostname: 'node-1',
      });
    });

    it('uses the injected clock when the event has no time', () => {
      const engine = new AuditEngine({ hostname: 'node-1', clock });
      engine.load([{ name: 'o.yaml', content }]);
      assert.equal(engine.evaluate({ 'evt.type': 'execve', 'proc.name': 'bash' })[0]?.time, '2024-05-06T07:08:09.010000000Z');
    });
  });
});

describe('formatTime', () => {
  describe('when given a date', () => {
    it('writes RFC 3339 with nanoseconds', () => {
      assert.equal(formatTime(new Date(0)), '1970-01-01T00:00:00.000000000Z');
      assert.equal(normalizeTime('2024-01-02T03:04:05Z'), '2024-01-02T03:04:05.000000000Z');
      assert.equal(normalizeTime('yesterday'), undefined);
    });
  });
});
