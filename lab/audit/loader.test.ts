import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { AuditEngine, compileRuleSet } from './engine.ts';
import { RulesLoadError, type AuditErrorCode } from './errors.ts';
import type { AuditEvent } from './fields.ts';
import type { RulesSource } from './loader.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);

function fixture(path: string): RulesSource {
  return { name: path, content: readFileSync(new URL(path, FIXTURES), 'utf8') };
}

function loadError(sources: RulesSource[]): RulesLoadError {
  try {
    compileRuleSet(sources);
  } catch (err) {
    assert.ok(err instanceof RulesLoadError, `expected RulesLoadError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the load to fail');
}

const fixedClock = () => new Date('2024-05-06T07:08:09.010Z');

describe('compileRuleSet', () => {
  describe('when a file is bad', () => {
    // One fixture per validation rule: the code, where it points, and words the message must hold.
    const cases: { file: string; code: AuditErrorCode; line?: number; item?: string; cond?: string; message: RegExp }[] = [
      { file: 'bad/yaml-syntax.yaml', code: 'YAML_SYNTAX', line: 3, message: /YAML does not parse/ },
      { file: 'bad/unknown-macro.yaml', code: 'UNKNOWN_MACRO', item: 'rule "Uses an undefined macro"', cond: '1:21 (offset 20)', message: /undefined macro 'shell_procs'/ },
      { file: 'bad/list-cycle.yaml', code: 'LIST_CYCLE', line: 1, item: 'list "a_binaries"', message: /a_binaries → b_binaries → a_binaries/ },
      { file: 'bad/macro-cycle.yaml', code: 'MACRO_CYCLE', item: 'macro "is_shell_exec"', message: /is_exec → is_shell_exec → is_exec/ },
      { file: 'bad/bad-operator.yaml', code: 'BAD_OPERATOR', line: 3, item: 'rule "Misspelt operator"', cond: '1:33 (offset 32)', message: /expected an operator .* got 'equals'/ },
      { file: 'bad/wrong-type.yaml', code: 'RULES_SCHEMA', line: 6, item: 'rule "Enabled is a string"', message: /'enabled' should be true or false, got string "no"/ },
      { file: 'bad/bad-priority.yaml', code: 'RULES_SCHEMA', line: 5, message: /priority should be one of .* got 'SEVERE'/ },
      { file: 'bad/no-previous.yaml', code: 'NO_PREVIOUS', line: 1, message: /cannot append to rule 'Never defined'/ },
      { file: 'bad/unclosed-paren.yaml', code: 'CONDITION_SYNTAX', item: 'rule "Unclosed parenthesis"', cond: '2:1 (offset 58)', message: /expected '\)' to close the '\(' at offset 22/ },
      { file: 'bad/bad-regex.yaml', code: 'BAD_VALUE', cond: '1:37 (offset 36)', message: /invalid regular expression/ },
      { file: 'bad/numeric-word.yaml', code: 'BAD_VALUE', message: /numeric field 'proc.pid' needs a number, got 'one'/ },
      { file: 'bad/output-percent.yaml', code: 'OUTPUT_SYNTAX', item: 'rule "Stray percent sign"', message: /after '%' at offset 3/ },
      { file: 'bad/engine-version.yaml', code: 'ENGINE_VERSION', line: 1, message: /require engine version 0.99.0, but this engine is 0.57.0/ },
      { file: 'bad/exception-length.yaml', code: 'RULES_SCHEMA', item: 'rule "Exception tuple too short"', message: /should have 2 items .* got 1/ },
    ];
    for (const c of cases) {
      it(`rejects ${c.file} with ${c.code}`, () => {
        const err = loadError([fixture(c.file)]);
        assert.equal(err.code, c.code, err.message);
        assert.equal(err.location.file, c.file);
        assert.ok(err.message.startsWith(c.file), err.message);
        if (c.line !== undefined) assert.equal(err.location.line, c.line, err.message);
        if (c.item) assert.ok(err.message.includes(c.item), err.message);
        if (c.cond) assert.ok(err.message.includes(`at ${c.cond}`), err.message);
        assert.match(err.message, c.message);
      });
    }
  });

  describe('when a later file appends to and overrides an earlier one', () => {
    const set = compileRuleSet([fixture('override/base.yaml'), fixture('override/local.yaml')]);
    const engine = new AuditEngine({ hostname: 'h', clock: fixedClock });
    engine.load([fixture('override/base.yaml'), fixture('override/local.yaml')]);
    const fire = (e: AuditEvent) => engine.evaluate(e).map((a) => a.rule);

    it('counts items per file', () => {
      assert.deepEqual(set.files, [
        { file: 'override/base.yaml', rules: 4, macros: 2, lists: 2 },
        { file: 'override/local.yaml', rules: 4, macros: 1, lists: 2 },
      ]);
    });

    it('appends list items (override and legacy append) and macro conditions', () => {
      // cp was appended to watched_programs; openat was or-ed into access_file.
      assert.deepEqual(fire({ 'evt.type': 'openat', 'proc.name': 'cp', 'user.name': 'alice', 'fd.name': '/x' }), ['Watched program opened a file']);
      // emacs was appended to editors with the legacy form.
      assert.deepEqual(fire({ 'evt.type': 'openat', 'proc.name': 'emacs', 'fd.directory': '/tmp', 'fd.name': '/tmp/a' }), ['Editor opened a temp file']);
    });

    it('appends to a rule condition and replaces its output, priority and tags', () => {
      assert.deepEqual(fire({ 'evt.type': 'open', 'proc.name': 'ls', 'user.name': 'root' }), []);
      const [alert] = engine.evaluate({ 'evt.type': 'open', 'proc.name': 'ls', 'user.name': 'alice', 'fd.name': '/etc/hosts' });
      assert.ok(alert);
      assert.equal(alert.output, '07:08:09.010000000: Warning a watched program (ls) opened /etc/hosts');
      assert.equal(alert.priority, 'Warning');
      assert.deepEqual(alert.tags, ['base', 'local']);
    });

    it('merges exception values by name and adds new exceptions', () => {
      const base = { 'evt.type': 'openat', 'fd.directory': '/tmp' };
      assert.deepEqual(fire({ ...base, 'proc.name': 'vi', 'fd.name': '/tmp/vi-1' }), [], 'base exception value');
      assert.deepEqual(fire({ ...base, 'proc.name': 'nano', 'fd.name': '/tmp/nano-1' }), [], 'appended value');
      assert.deepEqual(fire({ ...base, 'proc.name': 'emacs', 'fd.name': '/tmp/emacs/lock' }), [], 'new exception');
      assert.deepEqual(fire({ ...base, 'proc.name': 'vi', 'fd.name': '/tmp/other' }), ['Editor opened a temp file']);
      assert.deepEqual(fire({ ...base, 'proc.name': 'nano', 'fd.name': '/tmp/vi-1' }), ['Editor opened a temp file'], 'tuples pair fields');
    });

    it('switches rules on with override and off with the legacy enabled-only form', () => {
      assert.deepEqual(fire({ 'evt.type': 'unlink', 'proc.name': 'rm' }), ['Disabled by default']);
      assert.deepEqual(fire({ 'evt.type': 'rename', 'proc.name': 'mv' }), []);
      assert.ok(set.warnings.some((w) => w.includes("'append: true' is deprecated")));
      assert.ok(set.warnings.some((w) => w.includes("only 'enabled' is deprecated")));
    });

    it('keeps the highest required engine version and the plugin requirements', () => {
      assert.equal(set.requiredEngineVersion, '0.50.0');
      assert.deepEqual(set.plugins.map((p) => `${p.name}@${p.version}`), ['container@0.4.0']);
    });

    it('behaves differently when only the base file is loaded', () => {
      const baseOnly = new AuditEngine({ hostname: 'h', clock: fixedClock });
      baseOnly.load([fixture('override/base.yaml')]);
      assert.deepEqual(baseOnly.evaluate({ 'evt.type': 'openat', 'proc.name': 'ls' }).map((a) => a.rule), []);
      assert.deepEqual(baseOnly.evaluate({ 'evt.type': 'open', 'proc.name': 'ls', 'user.name': 'root' }).map((a) => a.rule), ['Watched program opened a file']);
      assert.deepEqual(baseOnly.evaluate({ 'evt.type': 'unlink' }).map((a) => a.rule), []);
    });
  });

  describe('when the order of definitions matters', () => {
    const src = (content: string): RulesSource => ({ name: 'inline.yaml', content });

    it('lets a rule use a macro defined after it, but not a macro use a later macro', () => {
      const ok = src('- rule: R\n  desc: d\n  condition: later\n  output: o\n  priority: INFO\n- macro: later\n  condition: evt.type = open\n');
      assert.equal(compileRuleSet([ok]).rules.length, 1);
      const bad = src('- macro: early\n  condition: later\n- macro: later\n  condition: evt.type = open\n');
      const err = loadError([bad]);
      assert.equal(err.code, 'UNKNOWN_MACRO');
      assert.match(err.message, /macro 'later' is used before it is defined \(at inline.yaml:3\)/);
    });

    it('checks macros that no rule uses, as Falco does', () => {
      const err = loadError([src('- macro: unused\n  condition: proc.name =\n')]);
      assert.equal(err.code, 'CONDITION_SYNTAX');
      assert.match(err.message, /macro "unused": condition at 1:12/);
    });

    it('rejects redefining a rule with another source', () => {
      const a = '- rule: R\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: INFO\n  source: k8s_audit\n';
      const b = '- rule: R\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n';
      assert.equal(loadError([src(a), src(b)]).code, 'RULES_SCHEMA');
    });

    it('requires override keys and given keys to match', () => {
      const err = loadError([src('- rule: R\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: INFO\n- rule: R\n  condition: and proc.name=x\n  output: o2\n  override:\n    condition: append\n')]);
      assert.equal(err.code, 'RULES_SCHEMA');
      assert.match(err.message, /key 'output' has no matching entry under 'override'/);
    });

    it('rejects appending to priority, which can only be replaced', () => {
      const err = loadError([src('- rule: R\n  priority: INFO\n  override:\n    priority: append\n')]);
      assert.match(err.message, /key 'priority' cannot be appended to, use 'replace' instead/);
    });
  });
});

describe('AuditEngine.load', () => {
  describe('when a reload fails', () => {
    it('throws a located error and keeps the last good rules running', () => {
      const engine = new AuditEngine({ hostname: 'h', clock: fixedClock });
      engine.load([fixture('override/base.yaml')]);
      const event = { 'evt.type': 'open', 'proc.name': 'cat' };
      assert.equal(engine.evaluate(event).length, 1);
      assert.throws(
        () => engine.load([fixture('override/base.yaml'), fixture('bad/unknown-macro.yaml')]),
        (err: unknown) => err instanceof RulesLoadError && err.code === 'UNKNOWN_MACRO' && err.location.file === 'bad/unknown-macro.yaml',
      );
      assert.equal(engine.evaluate(event).length, 1);
      assert.equal(engine.ruleSet().files.length, 1);
    });
  });
});
