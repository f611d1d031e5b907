import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command } from './cli.ts';
import { BUILTIN_RULES_PATH } from './builtin.ts';
import { parseAlertLine } from './alerts.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const fixture = (p: string) => fileURLToPath(new URL(`./fixtures/${p}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('integrity-lab audit', () => {
  describe('when checking rule files that load', () => {
    it('prints one line per file and exits 0', async () => {
      const c = capture();
      const code = await command.run(['check', fixture('override/base.yaml'), fixture('override/local.yaml'), BUILTIN_RULES_PATH], c.io);
      assert.equal(code, 0, c.err.join('\n'));
      assert.deepEqual(c.out, [
        `${fixture('override/base.yaml')}: 4 rules, 2 macros, 2 lists`,
        `${fixture('override/local.yaml')}: 4 rules, 1 macros, 2 lists`,
        `${BUILTIN_RULES_PATH}: 7 rules, 4 macros, 7 lists`,
      ]);
      assert.ok(c.err.some((l) => l.startsWith("warning: ") && l.includes("'append: true' is deprecated")));
    });
  });

  describe('when a rule file does not load', () => {
    it('names file, rule and position and exits 1', async () => {
      const c = capture();
      const code = await command.run(['check', fixture('bad/bad-operator.yaml')], c.io);
      assert.equal(code, 1);
      assert.deepEqual(c.out, []);
      assert.equal(c.err.length, 1);
      assert.match(c.err[0]!, /^error: .*bad-operator.yaml:3:14: rule "Misspelt operator": condition at 1:33 \(offset 32\): expected an operator .* got 'equals' \[Falco refuses this too: LOAD_ERR_COMPILE_CONDITION\] \[BAD_OPERATOR\]$/);
    });

    it('fails the whole set when a later file appends to nothing', async () => {
      const c = capture();
      assert.equal(await command.run(['check', BUILTIN_RULES_PATH, fixture('bad/no-previous.yaml')], c.io), 1);
      assert.match(c.err[0]!, /NO_PREVIOUS/);
    });

    it('reports a missing file', async () => {
      const c = capture();
      assert.equal(await command.run(['check', join(dir, 'nope.yaml')], c.io), 1);
      assert.match(c.err[0]!, /nope.yaml: cannot read rules file: .*ENOENT.* \[RULES_READ\]/);
    });
  });

  describe('when reading an alerts file', () => {
    const alerts = join(dir, 'alerts.jsonl');
    const lines = [
      { output: 'a', priority: 'Warning', rule: 'Shell spawned in a container', time: '2024-01-01T00:00:00.000000000Z', output_fields: {}, source: 'syscall', tags: ['x'], hostname: 'n1' },
      { output: 'b', priority: 'Debug', rule: 'Other', time: '2024-01-01T00:00:01.000000000Z', output_fields: {}, source: 'syscall', tags: [], hostname: 'n1' },
    ];
    writeFileSync(alerts, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n\n`);

    it('prints every alert as a JSON line', async () => {
      const c = capture();
      assert.equal(await command.run(['events', '--file', alerts], c.io), 0);
      assert.deepEqual(c.out.map((l) => parseAlertLine(l)), lines);
    });

    it('filters by priority and rule', async () => {
      const c = capture();
      assert.equal(await command.run(['events', '--file', alerts, '--min-priority', 'notice'], c.io), 0);
      assert.deepEqual(c.out.map((l) => parseAlertLine(l).rule), ['Shell spawned in a container']);
      const d = capture();
      assert.equal(await command.run(['events', '--file', alerts, '--rule', 'Other'], d.io), 0);
      assert.deepEqual(d.out.map((l) => parseAlertLine(l).rule), ['Other']);
    });

    it('rejects a line that is not an alert, with its line number', async () => {
      const bad = join(dir, 'bad.jsonl');
      writeFileSync(bad, `${JSON.stringify(lines[0])}\n{"output":"x","priority":"Loud","rule":"r","time":"t"}\n`);
      const c = capture();
      assert.equal(await command.run(['events', '--file', bad], c.io), 1);
      assert.match(c.err[0]!, /alert at line 2: 'priority' should be one of .* got 'Loud' \[ALERT_FORMAT\]/);
    });
  });

  describe('when reading the alerts of a lab', () => {
    it('reads <state>/<lab>/audit/alerts.jsonl', async () => {
      const state = join(dir, 'state');
      mkdirSync(join(state, 'lab-1', 'audit'), { recursive: true });
      const alert = { output: 'x', priority: 'Critical', rule: 'Privileged container started', time: '2024-01-01T00:00:00.000000000Z', output_fields: {}, source: 'syscall', tags: [], hostname: 'lab' };
      writeFileSync(join(state, 'lab-1', 'audit', 'alerts.jsonl'), `${JSON.stringify(alert)}\n`);
      process.env.INTEGRITY_LAB_STATE = state;
      try {
        const c = capture();
        assert.equal(await command.run(['events', '--lab', 'lab-1'], c.io), 0, c.err.join('\n'));
        assert.deepEqual(c.out.map((l) => parseAlertLine(l)), [alert]);
        const d = capture();
        assert.equal(await command.run(['events', '--lab', 'lab-2'], d.io), 1);
        assert.match(d.err[0]!, /lab lab-2 has no audit alert log at .*lab-2\/audit\/alerts.jsonl.*\[AUDIT_CONFIG\]/);
      } finally {
        delete process.env.INTEGRITY_LAB_STATE;
      }
    });
    it('reads a kind node\'s log by its audit id <lab>.<node>, and only that node\'s', async () => {
      const state = join(dir, 'state-kind');
      const alert = (hostname: string) => ({ output: 'x', priority: 'Notice', rule: 'Shell spawned in a container', time: '2024-01-01T00:00:00.000000000Z', output_fields: {}, source: 'syscall', tags: [], hostname });
      for (const node of ['control-plane', 'worker']) {
        mkdirSync(join(state, 'k-1', 'audit', 'nodes', node), { recursive: true });
        writeFileSync(join(state, 'k-1', 'audit', 'nodes', node, 'alerts.jsonl'), `${JSON.stringify(alert(node))}\n`);
      }
      process.env.INTEGRITY_LAB_STATE = state;
      try {
        const c = capture();
        assert.equal(await command.run(['events', '--lab', 'k-1.worker'], c.io), 0, c.err.join('\n'));
        assert.deepEqual(c.out.map((l) => parseAlertLine(l)), [alert('worker')]);
        const d = capture();
        assert.equal(await command.run(['events', '--lab', 'k-1'], d.io), 1);
        assert.match(d.err[0]!, /--lab k-1\.control-plane/);
      } finally {
        delete process.env.INTEGRITY_LAB_STATE;
      }
    });
  });

  describe('when evaluating events', () => {
    it('reads an auditd log and prints the alerts the rules raise', async () => {
      const c = capture();
      const code = await command.run(['eval', '--rules', BUILTIN_RULES_PATH, '--audit-log', fixture('audit.log'), '--hostname', 'node-7'], c.io);
      assert.equal(code, 0, c.err.join('\n'));
      const rules = c.out.map((l) => parseAlertLine(l));
      assert.deepEqual(rules.map((a) => `${a.rule}@${a.hostname}`), ['Read of a sensitive file@node-7']);
      assert.equal(rules[0]!.time, '2023-11-14T22:13:20.130000000Z');
    });

    it('reads JSON-lines events', async () => {
      const events = join(dir, 'events.jsonl');
      writeFileSync(events, `${JSON.stringify({ 'evt.type': 'execve', 'proc.name': 'bash', 'container.id': 'abc' })}\n`);
      const c = capture();
      assert.equal(await command.run(['eval', '--rules', BUILTIN_RULES_PATH, '--events', events], c.io), 0);
      assert.deepEqual(c.out.map((l) => parseAlertLine(l).rule), ['Shell spawned in a container']);
    });

    it('reads Kubernetes audit events (log backend lines, or an EventList)', async () => {
      const event = {
        kind: 'Event', apiVersion: 'audit.k8s.io/v1', auditID: 'a1', stage: 'ResponseComplete', verb: 'create',
        requestURI: '/api/v1/namespaces/default/pods', user: { username: 'kubernetes-admin' },
        objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' }, responseStatus: { code: 201 },
        requestObject: { kind: 'Pod', spec: { hostPID: true, containers: [{ name: 'c', image: 'busybox:1.36' }] } },
        stageTimestamp: '2026-12-05T12:00:00.5Z',
      };
      const rules = fixture('k8saudit/k8s_audit_rules.yaml');
      const lines = join(dir, 'audit.log');
      writeFileSync(lines, `${JSON.stringify(event)}\n${JSON.stringify({ ...event, auditID: 'a2', requestObject: { kind: 'Pod', spec: { containers: [] } } })}\n`);
      const c = capture();
      assert.equal(await command.run(['eval', '--rules', rules, '--k8s-audit', lines], c.io), 0, c.err.join('\n'));
      assert.deepEqual(c.out.map((l) => parseAlertLine(l).rule), ['Create HostPid Pod']);
      const list = join(dir, 'eventlist.json');
      writeFileSync(list, JSON.stringify({ kind: 'EventList', apiVersion: 'audit.k8s.io/v1', items: [event] }, null, 2));
      const d = capture();
      assert.equal(await command.run(['eval', '--rules', rules, '--k8s-audit', list], d.io), 0, d.err.join('\n'));
      assert.deepEqual(d.out.map((l) => parseAlertLine(l).rule), ['Create HostPid Pod']);
    });
  });

  describe('when asked to explain a rule', () => {
    it('says a rule on produced fields can fire', async () => {
      const c = capture();
      assert.equal(await command.run(['check', '-q', '--explain', 'Shell spawned in a container', BUILTIN_RULES_PATH], c.io), 0, c.err.join('\n'));
      assert.ok(c.out.some((l) => l.startsWith('event types: evt.type in (execve, execveat)')), c.out.join('\n'));
      assert.equal(c.out.at(-1), 'verdict: can fire on events the lab produces');
    });
    it('says why a rule on fields the lab does not produce cannot fire', async () => {
      const rules = join(dir, 'net.yaml');
      writeFileSync(rules, '- rule: Outbound to a bad port\n  desc: d\n  condition: evt.type = connect and fd.sport = 4444\n  output: o\n  priority: WARNING\n');
      const c = capture();
      assert.equal(await command.run(['check', '-q', '--explain', 'Outbound to a bad port', rules], c.io), 0, c.err.join('\n'));
      assert.ok(c.out.includes('field fd.sport (in the condition): a Falco field the lab does not produce: checks on it are false, their negation true'), c.out.join('\n'));
      assert.equal(c.out.at(-1), "verdict: cannot fire with the lab's sources: the condition is constantly false: it needs fd.sport, which the lab does not produce");
    });
    it('says so when the lab records none of the rule\'s event types', async () => {
      const rules = join(dir, 'ptrace.yaml');
      writeFileSync(rules, '- rule: Ptrace by a shell\n  desc: d\n  condition: evt.type = ptrace and proc.name = bash\n  output: o\n  priority: WARNING\n');
      const c = capture();
      assert.equal(await command.run(['check', '-q', '--explain', 'Ptrace by a shell', rules], c.io), 0, c.err.join('\n'));
      assert.match(c.out.at(-1)!, /^verdict: cannot fire with the lab's sources: the lab records none of its event types \(it records container, execve, .*setns\)$/);
    });
    it('exits 1 for a rule the files do not define', async () => {
      const c = capture();
      assert.equal(await command.run(['check', '-q', '--explain', 'Shell spawned', BUILTIN_RULES_PATH], c.io), 1);
      assert.match(c.err[0]!, /no rule named "Shell spawned".*did you mean "Shell spawned in a container"/);
    });
  });

  describe('when used wrongly', () => {
    it('exits 2 with usage for no subcommand, an unknown one, a bad option or missing files', async () => {
      for (const argv of [[], ['nope'], ['check'], ['check', '--bogus', 'x'], ['eval', '--rules', 'r'], ['events', '--min-priority', 'loud'], ['events', '--lab', 'a', '--file', 'b']]) {
        const c = capture();
        assert.equal(await command.run(argv, c.io), 2, argv.join(' '));
      }
    });

    it('prints help with exit 0', async () => {
      const c = capture();
      assert.equal(await command.run(['--help'], c.io), 0);
      assert.match(c.out.join('\n'), /check .*\n.*integrity-lab audit check/);
      const d = capture();
      assert.equal(await command.run(['fields'], d.io), 0);
      assert.ok(d.out.some((l) => l.startsWith('proc.aname[N]\tlist\t')));
    });
  });
});
