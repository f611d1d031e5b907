/**
 * The attacker's deletion script (audit-rules-delete.ts) against the real
 * auditctl and kernel, in a one-off container of the node image in the
 * host PID namespace (AUDIT_CONTROL only). Skipped when Docker or the node
 * image is not there. Its rules are keyed with a random lab id and removed
 * before it ends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { localExec } from '../../exec.ts';
import { builtNodeImage } from '../../testing/node-image.ts';
import { deleteRulesScript } from './audit-rules-delete.ts';

const image = await builtNodeImage();

describe('audit-rules-delete, the deletion root runs', { skip: image ? false : 'no Docker engine or no integrity-lab/node image (set up by any lab run)' }, () => {
  it("deletes every rule whose key names the container, syscall and watch rules alike, prints each key once, and leaves other containers' rules", async () => {
    const lab = `unit${randomBytes(3).toString('hex')}`;
    const target = randomBytes(32).toString('hex');
    const other = randomBytes(32).toString('hex');
    const key = (id: string) => `il:${lab}:${id.slice(0, 12)}`;
    const [, , script, , arg] = deleteRulesScript(target);
    const r = await localExec.run(
      ['docker', 'run', '--rm', '--label', `io.integrity-lab.lab=${lab}`, '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'AUDIT_CONTROL', '--entrypoint', 'sh', image!, '-c',
        [
          `auditctl -a always,exit -F arch=b64 -S execve -F key=${key(target)} >/dev/null`,
          `auditctl -w /etc/shadow -p r -k ${key(target)} >/dev/null`,
          `auditctl -a always,exit -F arch=b64 -S execve -F key=${key(other)} >/dev/null`,
          `echo ===deleted; sh -c '${script!.replaceAll("'", "'\\''")}' sh ${arg}`,
          'echo ===left; auditctl -l',
          `auditctl -D -k il:${lab}: >/dev/null`,
        ].join(' && ')],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const [, deleted = '', left = ''] = r.stdout.toString().split(/===(?:deleted|left)\n/);
    assert.deepEqual(deleted.split('\n').filter(Boolean), [key(target)]);
    assert.doesNotMatch(left, new RegExp(key(target)));
    assert.match(left, new RegExp(`key=${key(other)}`));
  });
});
