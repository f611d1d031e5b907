import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { I386_SYSCALLS } from '../syscalls.ts';
import { join } from 'node:path';
import { isLabError } from '../../errors.ts';
import { BUILTIN_RULES_PATH } from '../builtin.ts';
import { AuditEngine } from '../engine.ts';
import {
  DEFAULT_SENSITIVE_PATHS,
  parseAuditStatus,
  containerKey,
  containerRules,
  labKey,
  labRules,
  parseKey,
  parseRuleList,
  rootfsAuditDev,
  rootfsMountPoint,
  rulesOfLab,
  staleLabs,
} from './kernel-rules.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/node');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const CID = '4b0a212671a3b76b422021464250771c8162785a33112cb3cda2eeb7700f95c5';

describe('labKey', () => {
  describe('when lab ids are Docker-name-safe', () => {
    it('is never a prefix of another lab\'s key, so auditctl -D -k (a prefix match) removes one lab only', () => {
      const ids = ['x', 'x.y', 'x-1', 'x_1', 'mwrvrvmt-17f105', 'mwrvrvmt-17f1050', 'mwrvrvmt-17f10'];
      for (const a of ids) {
        for (const b of ids) {
          if (a === b) continue;
          for (const k of [labKey(b), containerKey(b, CID)]) assert.ok(!k.startsWith(labKey(a)), `${labKey(a)} is a prefix of ${k}`);
        }
      }
    });
  });
  describe('when a lab id could break the prefix rule or the key length', () => {
    for (const bad of ['a:b', '', '-x', 'a b', 'x'.repeat(250)]) {
      it(`refuses ${JSON.stringify(bad.slice(0, 20))} with AUDIT_CONFIG`, () => {
        assert.throws(() => labKey(bad), (e) => isLabError(e, 'AUDIT_CONFIG'));
      });
    }
  });
});

describe('parseKey', () => {
  describe('when a SYSCALL record names one of the lab keys', () => {
    it('gives the lab and, for a container rule, the 12-digit container id', () => {
      assert.deepEqual(parseKey('il:mwrvrvmt-17f105:'), { labId: 'mwrvrvmt-17f105' });
      assert.deepEqual(parseKey(containerKey('mwrvrvmt-17f105', CID)), { labId: 'mwrvrvmt-17f105', containerId: CID.slice(0, 12) });
    });
  });
  describe('when the key is someone else\'s or malformed', () => {
    for (const k of [undefined, 'il-test', 'exec', 'il:', 'il::', 'il:x:zz', 'il:x:4b0a2126']) {
      it(`gives undefined for ${JSON.stringify(k)}`, () => assert.equal(parseKey(k), undefined));
    }
  });
});

describe('containerRules', () => {
  const rules = containerRules('lab1', CID, { hostPid: 24159, rootfsInNode: `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${CID}/rootfs` });
  describe('when a container starts', () => {
    it('sets the exec tree from the node\'s mount namespace, on the rootfs the node mounted', () => {
      const exec = rules[0]!;
      assert.equal(exec.inNodeMountNamespace, true);
      assert.deepEqual(exec.args, ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'execve,execveat', '-F', `dir=/run/containerd/io.containerd.runtime.v2.task/k8s.io/${CID}/rootfs`, '-k', `il:lab1:${CID.slice(0, 12)}`]);
    });
    it('watches each sensitive file through /proc/<pid>/root, and each sensitive tree through the rootfs', () => {
      const watches = rules.slice(1);
      assert.equal(watches.length, DEFAULT_SENSITIVE_PATHS.length);
      const shadow = watches.find((r) => r.args.includes('path=/proc/24159/root/etc/shadow'));
      assert.ok(shadow && !shadow.inNodeMountNamespace && shadow.args.includes('perm=r'));
      const sudoers = watches.find((r) => r.args.some((a) => a.endsWith('/rootfs/etc/sudoers.d')));
      assert.ok(sudoers?.inNodeMountNamespace && sudoers.args.some((a) => a.startsWith('dir=')));
    });
  });
  describe('when the target is wrong', () => {
    it('refuses the node\'s init or a relative rootfs with AUDIT_CONFIG', () => {
      assert.throws(() => containerRules('lab1', CID, { hostPid: 1, rootfsInNode: '/r' }), (e) => isLabError(e, 'AUDIT_CONFIG'));
      assert.throws(() => containerRules('lab1', CID, { hostPid: 5, rootfsInNode: 'r' }), (e) => isLabError(e, 'AUDIT_CONFIG'));
      assert.throws(() => containerRules('lab1', CID, { hostPid: 5, rootfsInNode: '/r' }, [{ path: '/etc/../x' }]), (e) => isLabError(e, 'AUDIT_CONFIG'));
    });
  });
});

describe('DEFAULT_SENSITIVE_PATHS', () => {
  describe('when a watched file is read', () => {
    it('each one makes the built-in "Read of a sensitive file" fire, so no watch is wasted', () => {
      const e = new AuditEngine({ hostname: 'n', clock: () => new Date(0) });
      e.load([{ name: 'builtin', content: readFileSync(BUILTIN_RULES_PATH, 'utf8') }]);
      for (const s of DEFAULT_SENSITIVE_PATHS) {
        const file = s.tree ? `${s.path}/${s.path.includes('serviceaccount') ? 'token' : 'lab'}` : s.path;
        const alerts = e.evaluate({ 'evt.type': 'openat', 'evt.is_open_read': true, 'fd.name': file, 'fd.directory': file.slice(0, file.lastIndexOf('/')), 'proc.name': 'cat', 'container.id': 'abc' });
        assert.deepEqual(alerts.map((a) => a.rule), ['Read of a sensitive file'], file);
      }
    });
  });
});

describe('labRules', () => {
  it('records namespace joins, mounts, and memory-file execution, keyed by the lab', () => {
    assert.deepEqual(labRules('lab1'), [
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'setns,mount,move_mount,mount_setattr', '-k', 'il:lab1:'],
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'memfd_create,execveat', '-k', 'il:lab1:'],
      ['-a', 'always,exit', '-F', 'arch=b64', '-S', 'io_uring_setup', '-k', 'il:lab1:'],
      ['-a', 'always,exit', '-F', 'arch=b32', '-S', 'execve,execveat,open,openat,openat2,memfd_create,setns,mount,move_mount,mount_setattr,io_uring_setup', '-k', 'il:lab1:'],
    ]);
  });
  it('never records the 64-bit execve lab-wide: it is the frequent exec call, scoped per container', () => {
    assert.ok(labRules('lab1').filter((r) => r.includes('arch=b64')).every((r) => !r[r.indexOf('-S') + 1]!.split(',').includes('execve')));
  });
  it('records in their 32-bit form every call it records in the 64-bit form, and each has an i386 number the parser names', () => {
    const calls = (arch: string) => [...labRules('lab1'), ...containerRules('lab1', 'a'.repeat(64), { hostPid: 42, rootfsInNode: '/r' }).map((r) => r.args)].filter((r) => r.includes(`arch=${arch}`)).flatMap((r) => r[r.indexOf('-S') + 1]!.split(','));
    const b32 = new Set(calls('b32'));
    for (const call of new Set(calls('b64'))) assert.ok(b32.has(call), `${call} is recorded for arch=b64 only`);
    for (const call of b32) assert.ok(Object.values(I386_SYSCALLS).includes(call), `${call} has no i386 number in syscalls.ts`);
  });
});

describe('rootfsAuditDev', () => {
  describe('when the node mounts the container\'s rootfs', () => {
    it('gives its device as audit PATH records print it, the last mount winning', () => {
      const info = fixture('node-mountinfo.txt');
      assert.equal(rootfsAuditDev(info, CID), '00:3e');
      const regated = `${info}\n900 131 0:412 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/${CID}/rootfs ro,relatime - overlay overlay ro,lowerdir=/a:/b`;
      assert.equal(rootfsAuditDev(regated, CID), '00:19c');
    });
  });
  describe('when it does not', () => {
    it('gives nothing', () => {
      assert.equal(rootfsAuditDev(fixture('node-mountinfo.txt'), 'f'.repeat(64)), undefined);
    });
  });
});

describe('rootfsMountPoint', () => {
  describe('when the node mounted the container', () => {
    it('finds the rootfs mount point in the node\'s mountinfo (captured)', () => {
      assert.equal(rootfsMountPoint(fixture('node-mountinfo.txt'), CID), `/run/containerd/io.containerd.runtime.v2.task/k8s.io/${CID}/rootfs`);
    });
  });
  describe('when it did not', () => {
    it('gives undefined', () => assert.equal(rootfsMountPoint(fixture('node-mountinfo.txt'), CID.replace('4b0a', 'ffff')), undefined));
  });
  it('decodes octal escapes of blanks, as the kernel writes them', () => {
    assert.equal(rootfsMountPoint(`1 2 0:3 / /a\\040b/${CID}/rootfs rw - overlay overlay rw`, CID), `/a b/${CID}/rootfs`);
  });
});

describe('parseRuleList', () => {
  describe('when auditctl -l lists rules (captured while a lab ran)', () => {
    const rules = parseRuleList(fixture('auditctl-l.txt'));
    it('reads every rule and its key', () => {
      assert.ok(rules.length >= 3);
      assert.deepEqual(rules[0]!.keys, ['il:mwrvrvmt-17f105:']);
      assert.ok(rules.every((r) => r.keys.length === 1 && r.keys[0]!.startsWith('il:mwrvrvmt-17f105:')));
    });
    it('rulesOfLab keeps that lab\'s rules only', () => {
      assert.equal(rulesOfLab(rules, 'mwrvrvmt-17f105').length, rules.length);
      assert.equal(rulesOfLab(rules, 'mwrvrvmt-17f10').length, 0);
    });
    it('staleLabs names it once it is no longer live', () => {
      assert.deepEqual(staleLabs(rules, ['other']), ['mwrvrvmt-17f105']);
      assert.deepEqual(staleLabs(rules, ['mwrvrvmt-17f105']), []);
    });
  });
  describe('when rules use the watch syntax or several keys, or there are none', () => {
    it('reads -k and -F key= alike', () => {
      const r = parseRuleList('-w /etc/shadow -p r -k a\n-a always,exit -S setns -F key=b -F key=c\nNo rules\n');
      assert.deepEqual(r.map((x) => x.keys), [['a'], ['b', 'c']]);
      assert.deepEqual(parseRuleList('No rules\n'), []);
    });
  });
});

describe('parseAuditStatus', () => {
  it('reads enabled, backlog_limit and lost from auditctl -s as printed on these machines', () => {
    const text = 'enabled 0\nfailure 1\npid 0\nrate_limit 0\nbacklog_limit 64\nlost 5\nbacklog 0\nbacklog_wait_time 15000\nbacklog_wait_time_actual 2321\nloginuid_immutable 0 unlocked\n';
    assert.deepEqual(parseAuditStatus(text), { enabled: 0, backlogLimit: 64, lost: 5 });
  });

  it('leaves out what is not printed, and does not read backlog_limit from backlog or lost from a longer name', () => {
    assert.deepEqual(parseAuditStatus('enabled 2\nbacklog 3\nlost_records 9\n'), { enabled: 2 });
    assert.deepEqual(parseAuditStatus(''), {});
  });
});
