/**
 * The audit component's tree-rule helper (native/audit-rule.c) against the
 * real peer: the rules the daemon sets in the node's mount namespace, added
 * by the helper and by auditctl 4.2 side by side, in a one-off container of
 * the node image (host PID namespace; AUDIT_CONTROL, and SYS_ADMIN and
 * SYS_CHROOT for setns). Skipped when Docker or the node image is not there.
 * The rules it sets are keyed with a random lab id and removed before it
 * ends.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { localExec } from '../../exec.ts';
import { builtNodeImage } from '../../testing/node-image.ts';
import { compileStatic } from '../../node/native.ts';
import { containerKey, containerRules, labKey, parseRuleList } from './kernel-rules.ts';

const image = await builtNodeImage();
const shq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const ROOTFS = '/w/run/containerd/io.containerd.runtime.v2.task/k8s.io/c/rootfs';

/** Runs `script` in a one-off container of the node image with the helper at /audit-rule; its output. */
async function inContainer(label: string, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const helper = await compileStatic(join(import.meta.dirname, 'native/audit-rule.c'), 'audit-rule');
  const r = await localExec.run(
    ['docker', 'run', '--rm', '--label', `io.integrity-lab.lab=${label}`, '--pid', 'host', '--network', 'none', '--cap-drop', 'ALL',
      '--cap-add', 'AUDIT_CONTROL', '--cap-add', 'SYS_ADMIN', '--cap-add', 'SYS_CHROOT', '-v', `${helper}:/audit-rule:ro`, '--entrypoint', 'sh', image!, '-c', script],
    { timeoutMs: 60_000 },
  );
  return { exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr };
}

describe('audit-rule, the tree rules through the helper', { skip: image ? false : 'no Docker engine or no integrity-lab/node image (set up by any lab run)' }, () => {
  it("sets the daemon's rules in the given process's mount namespace: the exec rule as auditctl lists its own, the read rules on exactly the calls asked", async () => {
    const lab = `unit${randomBytes(3).toString('hex')}`;
    const [helperId, auditctlId] = ['a'.repeat(12), 'b'.repeat(12)];
    const inNode = (id: string) => containerRules(lab, id, { hostPid: 2, rootfsInNode: ROOTFS }).filter((r) => r.inNodeMountNamespace).map((r) => r.args);
    const dirs = inNode(helperId).map((args) => args.find((a) => a.startsWith('dir='))!.slice(4));
    const script = [
      `mkdir -p ${dirs.map(shq).join(' ')}`,
      // $$: this shell, whose mount namespace holds the directories.
      ...inNode(helperId).map((args) => `/audit-rule $$ ${args.map(shq).join(' ')}`),
      ...inNode(auditctlId).map((args) => `auditctl ${args.map(shq).join(' ')} >/dev/null`),
      'echo ===listed', 'auditctl -l',
      `auditctl -D -k ${shq(labKey(lab))} >/dev/null`,
      'echo ===after', 'auditctl -l',
    ].join(' && ');
    const r = await inContainer(lab, script);
    assert.equal(r.exitCode, 0, r.stderr);
    const [, listed = '', after = ''] = r.stdout.split(/===(?:listed|after)\n/);
    const rules = parseRuleList(listed);
    const byHelper = rules.filter((x) => x.keys.includes(containerKey(lab, helperId))).map((x) => x.text.replace(containerKey(lab, helperId), 'KEY'));
    const byAuditctl = rules.filter((x) => x.keys.includes(containerKey(lab, auditctlId))).map((x) => x.text.replace(containerKey(lab, auditctlId), 'KEY'));
    assert.equal(byHelper.length, inNode(helperId).length, listed);
    assert.equal(byHelper[0], `-a always,exit -F arch=b64 -S execve,execveat -F dir=${ROOTFS} -F key=KEY`);
    assert.equal(byHelper[0], byAuditctl[0], 'the exec rule lists as auditctl lists its own');
    // auditctl adds every call of the read class for perm=r (stat, getxattr…); the helper sets the calls the daemon asks for.
    for (const [i, text] of byHelper.slice(1).entries()) assert.equal(text, `-a always,exit -F arch=b64 -S open,openat,openat2 -F dir=${dirs[i + 1]} -F perm=r -F key=KEY`);
    assert.equal(parseRuleList(after).filter((x) => x.keys.some((k) => k.startsWith(labKey(lab)))).length, 0, `left behind:\n${after}`);
  });

  it('exits 1 with the kernel\'s reason for a directory that does not exist, and 2 for what it does not set', async () => {
    const lab = `unit${randomBytes(3).toString('hex')}`;
    const key = containerKey(lab, 'c'.repeat(12));
    const script = [
      `/audit-rule $$ -a always,exit -F arch=b64 -S execve -F dir=/nonexistent/x -k ${key}; echo "missing=$?"`,
      `/audit-rule $$ -a always,exit -F arch=b64 -S execve -F path=/etc/shadow -k ${key}; echo "path=$?"`,
      `/audit-rule $$ -a never,exit -F arch=b64 -S execve -F dir=/ -k ${key}; echo "never=$?"`,
      `/audit-rule 999999999 -a always,exit -F arch=b64 -S execve -F dir=/ -k ${key}; echo "nopid=$?"`,
      `auditctl -D -k ${shq(labKey(lab))} >/dev/null; auditctl -l | grep -c ${shq(labKey(lab))} || true`,
    ].join('; ');
    const r = await inContainer(lab, script);
    assert.match(r.stdout, /missing=1\npath=2\nnever=2\nnopid=3\n0\n/);
    assert.match(r.stderr, /the kernel refused the rule: No such file or directory/);
    assert.match(r.stderr, /-F path=\/etc\/shadow is not in the subset this helper sets/);
    assert.match(r.stderr, /cannot join the mount namespace \/proc\/999999999\/ns\/mnt/);
  });
});
