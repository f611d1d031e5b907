/**
 * Cross-check against the real peer: the lab's rule argument lists and key
 * scheme through auditctl 4.2 and the running kernel, in a one-off
 * container of the node image (host PID namespace, AUDIT_CONTROL). Skipped
 * when Docker or the node image is not there. The rules it sets are keyed
 * with a random lab id and removed before it ends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { localExec } from '../../exec.ts';
import { builtNodeImage } from '../../testing/node-image.ts';
import { labKey, labRules, parseRuleList, rulesOfLab } from './kernel-rules.ts';

const image = await builtNodeImage();
const shq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

describe('lab audit keys through the real auditctl', { skip: image ? false : 'no Docker engine or no integrity-lab/node image (set up by any lab run)' }, () => {
  describe('when labs whose ids extend each other hold rules', () => {
    it('auditctl -D -k <labKey> removes exactly one lab\'s rules', async () => {
      const base = `unit${randomBytes(3).toString('hex')}`;
      const ids = [base, `${base}.y`, `${base}-1`];
      const add = ids.flatMap((id) => labRules(id).map((args) => `auditctl ${args.map(shq).join(' ')}`));
      const script = [
        ...add,
        'echo ===before', 'auditctl -l',
        `auditctl -D -k ${shq(labKey(base))} >/dev/null`,
        'echo ===after', 'auditctl -l',
        ...ids.slice(1).map((id) => `auditctl -D -k ${shq(labKey(id))} >/dev/null`),
        'echo ===end', 'auditctl -l',
      ].join(' && ');
      const r = await localExec.run(['docker', 'run', '--rm', '--label', `io.integrity-lab.lab=${base}`, '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'AUDIT_CONTROL', '--entrypoint', 'sh', image!, '-c', script], { timeoutMs: 60_000 });
      assert.equal(r.exitCode, 0, r.stderr);
      const [, before = '', after = '', end = ''] = r.stdout.toString().split(/===(?:before|after|end)\n/);
      for (const id of ids) assert.equal(rulesOfLab(parseRuleList(before), id).length, labRules(id).length, `${id} before:\n${before}`);
      assert.equal(rulesOfLab(parseRuleList(after), base).length, 0, `after:\n${after}`);
      for (const id of ids.slice(1)) assert.equal(rulesOfLab(parseRuleList(after), id).length, labRules(id).length, `${id} after:\n${after}`);
      for (const id of ids) assert.equal(rulesOfLab(parseRuleList(end), id).length, 0, `end:\n${end}`);
      // What the kernel lists is what the lab set.
      const listed = parseRuleList(before).filter((x) => x.keys.includes(labKey(base)));
      assert.deepEqual(listed.map((x) => x.text), [
        `-a always,exit -F arch=b64 -S mount,setns,move_mount,mount_setattr -F key=${labKey(base)}`,
        `-a always,exit -F arch=b64 -S memfd_create,execveat -F key=${labKey(base)}`,
        `-a always,exit -F arch=b64 -S io_uring_setup -F key=${labKey(base)}`,
        `-a always,exit -F arch=b32 -S open,execve,mount,openat,setns,memfd_create,execveat,io_uring_setup,move_mount,openat2,mount_setattr -F key=${labKey(base)}`,
      ]);
    });
  });
});
