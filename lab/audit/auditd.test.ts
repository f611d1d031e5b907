/**
 * The auditd parser, on fixtures/audit.log: hand-written sample records
 * that follow the format of /var/log/audit/audit.log (they were not
 * captured from a machine). When auditd's own ausearch is available it is
 * used as the peer: its interpreted output must agree with our decoding.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  AuditAssembler,
  auditGroupToEvent,
  auditLogToEvents,
  auditTimeToRfc3339,
  parseAuditLine,
  parseAuditLog,
  ttyToDevice,
} from './auditd.ts';
import type { Enricher } from './context.ts';
import { AuditEngine } from './engine.ts';
import { BUILTIN_RULES_PATH } from './builtin.ts';
import { ERRNO_NAMES, I386_SYSCALLS, OPEN_FLAGS, X86_64_SYSCALLS } from './syscalls.ts';

const LOG_PATH = fileURLToPath(new URL('./fixtures/audit.log', import.meta.url));
const LOG = readFileSync(LOG_PATH, 'utf8');

describe('parseAuditLine', () => {
  describe('when a line follows the format', () => {
    it('reads the header, quoted, unquoted and hex values', () => {
      const r = parseAuditLine(
        'node=w1 type=SYSCALL msg=audit(1700000001.000:458): arch=c000003e syscall=59 comm=6D7920746F6F6C exe="/bin/x" key=(null) tty=(none)',
      );
      assert.ok(r);
      assert.equal(r.type, 'SYSCALL');
      assert.equal(r.time, '1700000001.000');
      assert.equal(r.serial, 458);
      assert.equal(r.node, 'w1');
      assert.equal(r.fields.get('comm'), 'my tool');
      assert.equal(r.fields.get('exe'), '/bin/x');
      assert.equal(r.fields.get('key'), '(null)');
      assert.equal(r.fields.get('arch'), 'c000003e', 'numbers are not hex-decoded');
    });

    it('decodes EXECVE arguments but not SYSCALL registers', () => {
      const execve = parseAuditLine('type=EXECVE msg=audit(1.2:3): argc=2 a0="ls" a1=2D6C61');
      assert.equal(execve?.fields.get('a1'), '-la');
      const syscall = parseAuditLine('type=SYSCALL msg=audit(1.2:3): a1=2D6C61');
      assert.equal(syscall?.fields.get('a1'), '2D6C61');
    });

    it('unpacks the nested msg of user-space records and keeps ENRICHED names apart', () => {
      const user = parseAuditLine(`type=USER_LOGIN msg=audit(1.2:3): pid=9 msg='op=login exe="/usr/sbin/sshd" res=success'`);
      assert.equal(user?.fields.get('op'), 'login');
      assert.equal(user?.fields.get('exe'), '/usr/sbin/sshd');
      const enriched = parseAuditLine('type=SYSCALL msg=audit(1.2:3): uid=1000\x1dUID="alice"');
      assert.equal(enriched?.fields.get('uid'), '1000');
      assert.equal(enriched?.interpreted.get('UID'), 'alice');
    });
  });

  describe('when a line is malformed', () => {
    it('throws AUDIT_RECORD with the line number, and skips blank lines', () => {
      assert.equal(parseAuditLine('   '), undefined);
      assert.throws(() => parseAuditLine('type=SYSCALL msg=audit(oops): x=1', 7), { code: 'AUDIT_RECORD', message: /line 7/ });
      assert.throws(() => parseAuditLine('type=PATH msg=audit(1.2:3): name="/etc', 9), { code: 'AUDIT_RECORD', message: /unterminated " in field 'name'/ });
    });
  });
});

describe('parseAuditLog', () => {
  describe('when records of events interleave', () => {
    const groups = parseAuditLog(LOG);

    it('groups records by time and serial, in order of first record', () => {
      assert.deepEqual(groups.map((g) => g.serial), [456, 457, 458, 459, 460, 461, 462, 463, 464]);
      assert.deepEqual(groups.find((g) => g.serial === 462)?.records.map((r) => r.type), ['SYSCALL', 'PATH', 'PATH', 'PROCTITLE']);
      assert.deepEqual(groups.find((g) => g.serial === 463)?.records.map((r) => r.type), ['SYSCALL', 'PROCTITLE']);
    });
  });

  describe('when streaming', () => {
    it('releases an event at its EOE, and single-record events when too many are open', () => {
      const a = new AuditAssembler({ maxPending: 1 });
      const rec = (line: string) => parseAuditLine(line)!;
      assert.deepEqual(a.push(rec('type=SYSCALL msg=audit(1.0:1): pid=1')), []);
      assert.deepEqual(a.push(rec('type=CWD msg=audit(1.0:1): cwd="/"')), []);
      assert.deepEqual(a.push(rec('type=EOE msg=audit(1.0:1):')).map((g) => g.records.length), [2]);
      assert.deepEqual(a.push(rec('type=CONFIG_CHANGE msg=audit(2.0:2): op=x')), []);
      assert.deepEqual(a.push(rec('type=CONFIG_CHANGE msg=audit(3.0:3): op=y')).map((g) => g.serial), [2]);
      assert.deepEqual(a.flush().map((g) => g.serial), [3]);
    });
  });
});

describe('auditGroupToEvent', () => {
  const events = auditLogToEvents(LOG);
  const bySerialTime = (t: string) => events.find((e) => e['evt.time'] === t)!;

  describe('when the event is an execve', () => {
    it('fills process fields the way Falco names them', () => {
      const e = bySerialTime('2023-11-14T22:13:20.123000000Z');
      assert.deepEqual(
        { ...e },
        {
          source: 'syscall',
          'evt.time': '2023-11-14T22:13:20.123000000Z',
          'evt.dir': '<',
          'evt.type': 'execve',
          'evt.rawarg.syscall': 59,
          'evt.rawres': 0,
          'evt.res': 'SUCCESS',
          'proc.pid': 4187,
          'proc.ppid': 4120,
          'user.uid': 0,
          'group.gid': 0,
          'user.loginuid': 1000,
          'proc.name': 'cat',
          'proc.exepath': '/usr/bin/cat',
          'proc.is_exe_from_memfd': false,
          'proc.tty': 34816,
          'proc.cwd': '/root',
          'proc.exe': 'cat',
          'proc.args': '/etc/shadow',
          'proc.cmdline': 'cat /etc/shadow',
          'evt.arg.path': '/usr/bin/cat',
          'evt.arg.key': 'lab-exec',
        },
      );
    });

    it('decodes hex arguments, hex comm and exe, and an unset login uid', () => {
      const e = bySerialTime('2023-11-14T22:13:21.000000000Z');
      assert.equal(e['proc.name'], 'my tool');
      assert.equal(e['proc.exepath'], '/opt/my tool/bin/run');
      assert.equal(e['proc.exe'], 'sh');
      assert.equal(e['proc.cmdline'], 'my tool -c id; cat /etc/shadow');
      assert.equal(e['proc.args'], '-c id; cat /etc/shadow');
      assert.equal(e['proc.tty'], 0);
      assert.equal(e['user.loginuid'], -1);
      assert.equal(e['evt.arg.key'], undefined);
    });

    it('names an execve made through the 32-bit ABI (int $0x80: arch=i386, syscall 11) as execve', () => {
      const [e] = auditLogToEvents(
        [
          'type=SYSCALL msg=audit(1795356000.194:901): arch=40000003 syscall=11 success=yes exit=0 a0=4c9100 a1=4c8100 a2=4c8500 a3=0 items=2 ppid=5120 pid=5121 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="sh" exe="/bin/busybox" key="il:lab1:"',
          'type=EXECVE msg=audit(1795356000.194:901): argc=3 a0="/bin/sh" a1="-c" a2="id"',
          'type=EOE msg=audit(1795356000.194:901): ',
        ].join('\n'),
      );
      assert.equal(e?.['evt.type'], 'execve');
      assert.equal(e?.['evt.rawarg.syscall'], 11);
      assert.equal(e?.['proc.cmdline'], 'sh -c id');
    });

    it('says when the executable is an anonymous memory file (fexecve of a memfd)', () => {
      const lines = [
        'type=SYSCALL msg=audit(1700000000.000:900): arch=c000003e syscall=322 success=yes exit=0 a0=3 a1=4a1f2b a2=7ffd1 a3=7ffd2 items=0 ppid=4120 pid=4190 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="sh" exe="/memfd:payload (deleted)" key="il:lab:"',
        'type=EXECVE msg=audit(1700000000.000:900): argc=3 a0="sh" a1="-c" a2="id"',
        'type=EOE msg=audit(1700000000.000:900):',
      ];
      const [e] = auditLogToEvents(lines.join('\n'));
      assert.equal(e!['evt.type'], 'execveat');
      assert.equal(e!['proc.exepath'], '/memfd:payload (deleted)');
      assert.equal(e!['proc.is_exe_from_memfd'], true);
      assert.equal(bySerialTime('2023-11-14T22:13:21.000000000Z')['proc.is_exe_from_memfd'], false, 'an exe on a file system is not');
    });

    it('joins chunked long arguments (execveat)', () => {
      const e = bySerialTime('2023-11-14T22:13:21.500000000Z');
      assert.equal(e['evt.type'], 'execveat');
      assert.equal(e['proc.cmdline'], 'python3 print("hello")');
      assert.equal(e['proc.tty'], 34817);
    });
  });

  describe('when the event opens a file', () => {
    it('resolves a relative path against the cwd and decodes the flags', () => {
      const e = bySerialTime('2023-11-14T22:13:20.130000000Z');
      assert.equal(e['evt.type'], 'openat');
      assert.equal(e['fd.name'], '/etc/shadow');
      assert.equal(e['fd.directory'], '/etc');
      assert.equal(e['fd.filename'], 'shadow');
      assert.equal(e['evt.arg.name'], '../shadow');
      assert.equal(e['fd.num'], 3);
      assert.equal(e['fd.typechar'], 'f');
      assert.equal(e['evt.is_open_read'], true);
      assert.equal(e['evt.is_open_write'], false);
      assert.equal(e['evt.arg.flags'], 'O_RDONLY|O_CLOEXEC');
      assert.equal(e['proc.cmdline'], 'cat ../shadow', 'from PROCTITLE');
    });

    it('reports a failed write open with errno name, ENRICHED user names and fd.num -1', () => {
      const e = bySerialTime('2023-11-14T22:13:23.250000000Z');
      assert.equal(e['evt.res'], 'EACCES');
      assert.equal(e['evt.rawres'], -13);
      assert.equal(e['fd.num'], -1);
      assert.equal(e['evt.arg.flags'], 'O_WRONLY|O_CREAT|O_TRUNC');
      assert.equal(e['evt.is_open_write'], true);
      assert.equal(e['user.name'], 'alice');
      assert.equal(e['user.loginname'], 'alice');
      assert.equal(e['proc.cmdline'], 'sh -c : > /var/log/auth.log');
    });
  });

  describe('when the event changes mounts or namespaces', () => {
    it('names the mount target and source from the PATH records', () => {
      const e = bySerialTime('2023-11-14T22:13:24.000000000Z');
      assert.equal(e['evt.type'], 'mount');
      assert.equal(e['evt.arg.dir'], '/usr/bin');
      assert.equal(e['evt.arg.dev'], '/tmp/evil');
      assert.equal(e['evt.rawarg.flags'], 0x1000, 'MS_BIND');
      const s = bySerialTime('2023-11-14T22:13:24.001000000Z');
      assert.equal(s['evt.type'], 'setns');
      assert.equal(s['evt.rawarg.nstype'], 0x20000, 'CLONE_NEWNS');
      assert.equal(s['proc.cmdline'], 'nsenter -t 1234 -m');
    });
  });

  describe('when a group has no SYSCALL record', () => {
    it('gives no event', () => {
      assert.equal(events.length, 7);
      const login = parseAuditLog(LOG).find((g) => g.serial === 460)!;
      assert.equal(auditGroupToEvent(login), undefined);
    });
  });

  describe('when an enricher knows the process', () => {
    it('adds container, pod and ancestry fields, and the built-in rules see them', () => {
      const enricher: Enricher = {
        lookup: (pid) =>
          pid === 4187
            ? {
                container: { id: '3ad7b26ded6d0123', name: 'app', image: 'registry.local/app:1.0', k8sNamespace: 'shop', k8sPod: 'cart-1' },
                ancestors: [{ name: 'bash', exepath: '/usr/bin/bash', cmdline: 'bash' }, { name: 'runc:[1:CHILD]' }],
              }
            : {},
      };
      const all = auditLogToEvents(LOG, enricher);
      const e = all.find((x) => x['proc.pid'] === 4187)!;
      assert.equal(e['container.id'], '3ad7b26ded6d');
      assert.equal(e['container.image.repository'], 'registry.local/app');
      assert.equal(e['container.image.tag'], '1.0');
      assert.equal(e['k8s.pod.name'], 'cart-1');
      assert.equal(e['proc.pname'], 'bash');
      assert.deepEqual(e['proc.aname'], ['cat', 'bash', 'runc:[1:CHILD]']);
      assert.equal(all.find((x) => x['proc.pid'] === 4188)!['container.id'], 'host');

      const engine = new AuditEngine({ hostname: 'h', clock: () => new Date(0) });
      engine.load([{ name: 'builtin', content: readFileSync(BUILTIN_RULES_PATH, 'utf8') }]);
      // The execve of cat is not a shell; the openat of ../shadow on the host reads a sensitive file.
      const fired = all.flatMap((x) => engine.evaluate(x).map((a) => `${a.rule} pid=${String(x['proc.pid'])}`));
      assert.deepEqual(fired, ['Read of a sensitive file pid=4188']);
    });
  });
});

describe('helpers', () => {
  describe('when converting times and terminals', () => {
    it('gives RFC 3339 nanoseconds and Linux device numbers', () => {
      assert.equal(auditTimeToRfc3339('1700000000.123'), '2023-11-14T22:13:20.123000000Z');
      assert.equal(ttyToDevice('pts0'), 34816);
      assert.equal(ttyToDevice('pts300'), (300 & 0xff) | (136 << 8) | ((300 & ~0xff) << 12));
      assert.equal(ttyToDevice('tty1'), 1025);
      assert.equal(ttyToDevice('(none)'), 0);
      assert.equal(ttyToDevice('weird'), undefined);
    });
  });
});

describe('the x86_64 tables', () => {
  const UNISTD = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
  const UNISTD_32 = '/usr/include/x86_64-linux-gnu/asm/unistd_32.h';
  const ERRNO = ['/usr/include/asm-generic/errno-base.h', '/usr/include/asm-generic/errno.h'];
  const FCNTL = '/usr/include/asm-generic/fcntl.h';

  describe('when kernel headers are installed', () => {
    it('numbers syscalls as asm/unistd_64.h does', { skip: existsSync(UNISTD) ? false : `${UNISTD} not installed` }, () => {
      const header = readFileSync(UNISTD, 'utf8');
      for (const [nr, name] of Object.entries(X86_64_SYSCALLS)) {
        const m = new RegExp(`#define __NR_${name}\\s+(\\d+)`).exec(header);
        assert.equal(m?.[1], nr, name);
      }
    });

    it('numbers the i386 calls as asm/unistd_32.h does', { skip: existsSync(UNISTD_32) ? false : `${UNISTD_32} not installed` }, () => {
      const header = readFileSync(UNISTD_32, 'utf8');
      for (const [nr, name] of Object.entries(I386_SYSCALLS)) {
        const m = new RegExp(`#define __NR_${name}\\s+(\\d+)`).exec(header);
        assert.equal(m?.[1], nr, name);
      }
    });

    it('names errno values as asm-generic/errno*.h does', { skip: ERRNO.every(existsSync) ? false : 'errno headers not installed' }, () => {
      const header = ERRNO.map((f) => readFileSync(f, 'utf8')).join('\n');
      for (const [nr, name] of Object.entries(ERRNO_NAMES)) {
        const m = new RegExp(`#define\\s+${name}\\s+(\\d+)`).exec(header);
        assert.equal(m?.[1], nr, name);
      }
    });

    it('uses the open flag bits of asm-generic/fcntl.h', { skip: existsSync(FCNTL) ? false : `${FCNTL} not installed` }, () => {
      const header = readFileSync(FCNTL, 'utf8');
      for (const [bit, name] of OPEN_FLAGS) {
        const expected = name === 'O_TMPFILE' ? Number.parseInt(/#define __O_TMPFILE\s+(0\d+)/.exec(header)![1]!, 8) | Number.parseInt(/#define O_DIRECTORY\s+(0\d+)/.exec(header)![1]!, 8) : Number.parseInt(new RegExp(`#define ${name}\\s+(0\\d+)`).exec(header)?.[1] ?? 'NaN', 8);
        assert.equal(bit, expected, name);
      }
    });
  });
});

describe('ausearch as a peer', () => {
  const ausearch = process.env.INTEGRITY_LAB_AUSEARCH ?? 'ausearch';
  const probe = spawnSync(ausearch, ['--version'], { encoding: 'utf8' });
  const skip = probe.error || probe.status !== 0 ? `ausearch not available (set INTEGRITY_LAB_AUSEARCH to an ausearch binary or wrapper)` : false;

  describe('when it interprets the same log', { skip }, () => {
    it('decodes the same strings, syscalls, flags and errors', () => {
      const r = spawnSync(ausearch, ['--input', LOG_PATH, '--interpret'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const bySerial = new Map<number, string>();
      for (const block of r.stdout.split('----')) {
        const m = /msg=audit\([^)]*:(\d+)\)/.exec(block);
        if (m) bySerial.set(Number(m[1]), block);
      }
      const groups = parseAuditLog(LOG);
      assert.deepEqual([...bySerial.keys()], groups.map((g) => g.serial), 'same grouping');
      let checked = 0;
      for (const g of groups) {
        const text = bySerial.get(g.serial)!;
        const expect = (s: string) => {
          assert.ok(text.includes(s), `serial ${g.serial}: ausearch shows ${s}`);
          checked++;
        };
        for (const rec of g.records) {
          for (const key of ['comm', 'exe', 'cwd', 'name', 'proctitle']) {
            const v = rec.fields.get(key);
            if (v !== undefined && v !== '(null)') expect(`${key}=${key === 'proctitle' ? v.split('\0').join(' ') : v} `);
          }
          if (rec.type === 'EXECVE') for (const [k, v] of rec.fields) if (/^a\d+$/.test(k)) expect(`${k}=${v} `);
        }
        const e = auditGroupToEvent(g);
        if (!e) continue;
        expect(`syscall=${String(e['evt.type'])} `);
        if (typeof e['evt.arg.flags'] === 'string') expect(`a2=${e['evt.arg.flags']} `);
        if (e['evt.res'] !== 'SUCCESS') expect(`exit=${String(e['evt.res'])}(`);
      }
      assert.ok(checked > 30, `compared ${checked} values`);
    });
  });
});
