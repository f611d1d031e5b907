import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConditionError, parseCondition, parseStringItem, positionOf, type Expr } from './condition.ts';

/** A compact rendering of the AST, to compare shapes. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'and':
    case 'or':
      return `(${e.children.map(show).join(` ${e.kind} `)})`;
    case 'not':
      return `not ${show(e.child)}`;
    case 'macro':
      return `@${e.name}`;
    case 'check': {
      const left = e.left.kind === 'field' ? `${e.left.name}${e.left.arg === undefined ? '' : `[${e.left.arg}]`}` : `${e.left.fn}(..)`;
      const r = e.right;
      const right =
        r === undefined ? ''
        : r.kind === 'value' ? ` ${JSON.stringify(r.value)}`
        : r.kind === 'list' ? ` [${r.items.map((i) => JSON.stringify(i.value)).join(',')}]`
        : r.kind === 'listref' ? ` &${r.name}`
        : ' val(..)';
      return `${left} ${e.op}${right}`;
    }
  }
}

function parseError(text: string): ConditionError {
  try {
    parseCondition(text);
  } catch (err) {
    assert.ok(err instanceof ConditionError, `expected ConditionError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected '${text}' to fail`);
}

describe('parseCondition', () => {
  describe('when combining checks with and, or, not and parentheses', () => {
    it('binds and tighter than or', () => {
      assert.equal(show(parseCondition('a.b = 1 or c.d = 2 and e.f = 3')), '(a.b = "1" or (c.d = "2" and e.f = "3"))');
    });

    it('honours parentheses, including directly after and/or', () => {
      assert.equal(show(parseCondition('(a.b=1 or c.d=2) and(e.f=3)')), '((a.b = "1" or c.d = "2") and e.f = "3")');
    });

    it('reads repeated not and not( as in libsinsp', () => {
      assert.equal(show(parseCondition('not not x.y exists')), 'x.y exists');
      assert.equal(show(parseCondition('not(x.y exists)')), 'not x.y exists');
      assert.equal(show(parseCondition('not macro_a')), 'not @macro_a');
    });

    it('takes bare identifiers as macros and dotted names as fields', () => {
      assert.equal(show(parseCondition('spawned_process and container.id != host')), '(@spawned_process and container.id != "host")');
    });

    it('accepts line breaks from folded YAML', () => {
      assert.equal(show(parseCondition('open_read\n  and not\n  proc.name in (a,\n b)')), '(@open_read and not proc.name in ["a","b"])');
    });
  });

  describe('when reading operators', () => {
    const cases: [string, string][] = [
      ['fd.num>=0', 'fd.num >= "0"'],
      ['fd.num<=-1', 'fd.num <= "-1"'],
      ['evt.rawres < 0x10', 'evt.rawres < "0x10"'],
      ['proc.name==bash', 'proc.name == "bash"'],
      ['proc.name!="sshd"', 'proc.name != "sshd"'],
      ['evt.dir=<', 'evt.dir = "<"'],
      ['fd.name contains /.ssh/', 'fd.name contains "/.ssh/"'],
      ['proc.args icontains "BEGIN RSA"', 'proc.args icontains "BEGIN RSA"'],
      ['evt.buffer bcontains cafebabe', 'evt.buffer bcontains "cafebabe"'],
      ['evt.buffer bstartswith 012AB3CC', 'evt.buffer bstartswith "012AB3CC"'],
      ['fd.name startswith /etc', 'fd.name startswith "/etc"'],
      ['proc.exe endswith ssh', 'proc.exe endswith "ssh"'],
      ["fd.name glob '/home/*/.ssh/*'", 'fd.name glob "/home/*/.ssh/*"'],
      ['fd.name iglob /TMP/*', 'fd.name iglob "/TMP/*"'],
      ["fd.name regex '[a-z]*/proc/[0-9]+/cmdline'", 'fd.name regex "[a-z]*/proc/[0-9]+/cmdline"'],
      ['fd.name pmatch (/var/run, /etc)', 'fd.name pmatch ["/var/run","/etc"]'],
      ['proc.args intersects ("-V", "-l")', 'proc.args intersects ["-V","-l"]'],
      ['proc.name in(a,b)', 'proc.name in ["a","b"]'],
      ['proc.name in ()', 'proc.name in []'],
      ['fd.name in sensitive_file_names', 'fd.name in &sensitive_file_names'],
      ['k8s.pod.name exists', 'k8s.pod.name exists'],
    ];
    for (const [text, expected] of cases) {
      it(`parses ${text}`, () => assert.equal(show(parseCondition(text)), expected));
    }
  });

  describe('when a field has an argument or a transformer', () => {
    it('keeps the index or key argument', () => {
      assert.equal(show(parseCondition('proc.aname[2]=qualys-cloud-ag')), 'proc.aname[2] = "qualys-cloud-ag"');
      assert.equal(show(parseCondition('container.mount.source[/var/run/docker.sock] exists')), 'container.mount.source[/var/run/docker.sock] exists');
      assert.equal(show(parseCondition('ka.req.pod.containers.image[0] startswith "x"')), 'ka.req.pod.containers.image[0] startswith "x"');
    });

    it('parses transformers on the left and val() on the right', () => {
      const e = parseCondition('tolower(proc.name) = val(proc.pname)');
      assert.equal(e.kind, 'check');
      if (e.kind !== 'check') return;
      assert.equal(e.left.kind, 'transform');
      assert.equal(e.right?.kind, 'operand');
      assert.equal(show(parseCondition('len(proc.aname) > 3')), 'len(..) > "3"');
      assert.equal(show(parseCondition('toupper(basename(proc.exepath)) = BASH')), 'toupper(..) = "BASH"');
    });
  });

  describe('when values are quoted', () => {
    it('unescapes as libsinsp does', () => {
      const e = parseCondition(String.raw`proc.cmdline = "sh -c node -e \"require('nan')\""`);
      assert.equal(e.kind === 'check' && e.right?.kind === 'value' ? e.right.value : '', `sh -c node -e "require('nan')"`);
      const t = parseCondition(String.raw`fd.name contains "\t\x41\\"`);
      assert.equal(t.kind === 'check' && t.right?.kind === 'value' ? t.right.value : '', '\tA\\');
    });

    it('rejects an escaped quote of the other kind', () => {
      assert.equal(parseError(String.raw`proc.name = 'a\"b'`).code, 'BAD_VALUE');
    });

    it('reads list items with spaces and parentheses when quoted', () => {
      assert.deepEqual(parseStringItem('"(systemd)"'), { value: '(systemd)', quoted: true });
      assert.deepEqual(parseStringItem('sh -c x'), { value: 'sh -c x', quoted: false });
      assert.deepEqual(parseStringItem(`"sh -c node -e \\"require('nan')\\""`), { value: `sh -c node -e "require('nan')"`, quoted: true });
    });
  });

  describe('when the condition is malformed', () => {
    it('reports an unknown operator as BAD_OPERATOR at the operator', () => {
      const err = parseError('evt.type = execve and proc.name equals bash');
      assert.equal(err.code, 'BAD_OPERATOR');
      assert.equal(err.offset, 32);
      assert.match(err.message, /got 'equals'/);
    });

    it('reports an unclosed parenthesis with the offset of the end', () => {
      const text = 'evt.type = execve and (proc.name = bash';
      const err = parseError(text);
      assert.equal(err.code, 'CONDITION_SYNTAX');
      assert.equal(err.offset, text.length);
      assert.match(err.message, /expected '\)' to close the '\(' at offset 22/);
    });

    it('matches keywords by prefix, so a word glued to and fails', () => {
      const err = parseError('proc.name = a andy');
      assert.equal(err.code, 'CONDITION_SYNTAX');
      assert.match(err.message, /after 'and'/);
    });

    it('rejects a field without an operator, an empty condition and a trailing token', () => {
      assert.equal(parseError('proc.name').code, 'BAD_OPERATOR');
      assert.equal(parseError('').code, 'CONDITION_SYNTAX');
      assert.match(parseError('proc.name = a b').message, /expected 'and', 'or' or the end, got 'b'/);
    });

    it('rejects a number operator without a number', () => {
      assert.equal(parseError('fd.num > abc').code, 'BAD_VALUE');
    });

    it('rejects an unterminated string', () => {
      assert.match(parseError('proc.name = "bash').message, /unterminated string opened at offset 12/);
    });
  });
});

describe('positionOf', () => {
  describe('when the offset is on a later line', () => {
    it('counts lines and columns from 1', () => {
      assert.deepEqual(positionOf('ab\ncd\r\nef', 8), { line: 3, column: 2, offset: 8 });
      assert.deepEqual(positionOf('abc', 0), { line: 1, column: 1, offset: 0 });
    });
  });
});
