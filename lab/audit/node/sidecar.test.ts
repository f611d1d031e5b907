import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sidecarName, sidecarRunArgs } from './sidecar.ts';

describe('sidecarRunArgs', () => {
  const args = sidecarRunArgs({
    labId: 'lab1',
    label: { key: 'io.integrity-lab.lab', value: 'lab1' },
    image: 'integrity-lab/node:abc',
    auditDir: '/state/lab1/audit',
    hostStateDir: '/state/.audit-host',
    criDir: '/state/lab1/run',
  });
  const after = (flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
  describe('when the audit sidecar of a lab is started', () => {
    it('carries the lab label, so teardown removes it', () => {
      assert.ok(after('--label').includes('io.integrity-lab.lab=lab1'));
      assert.equal(after('--name')[0], sidecarName('lab1'));
    });
    it('joins the host PID and network namespaces, where the kernel takes rules and multicasts records', () => {
      assert.deepEqual([after('--pid')[0], after('--network')[0]], ['host', 'host']);
    });
    it('drops every capability but the ones it needs, and runs read-only without new privileges', () => {
      assert.deepEqual(after('--cap-drop'), ['ALL']);
      assert.deepEqual(after('--cap-add').sort(), ['AUDIT_CONTROL', 'AUDIT_READ', 'DAC_READ_SEARCH', 'SYS_ADMIN', 'SYS_CHROOT', 'SYS_PTRACE']);
      assert.ok(args.includes('--read-only'));
      assert.deepEqual(after('--security-opt'), ['no-new-privileges']);
      assert.ok(!args.includes('--privileged'));
    });
    it('can run a one-off cleanup with the same privileges when the sidecar is gone', () => {
      const once = sidecarRunArgs({ labId: 'lab1', label: { key: 'io.integrity-lab.lab', value: 'lab1' }, image: 'i', auditDir: '/a', hostStateDir: '/h', criDir: '/c' }, ['cleanup', 'lab1']);
      assert.ok(once.includes('--rm') && !once.includes('--name') && !once.includes('-d'));
      assert.deepEqual(once.slice(-3), ['/lab-audit/bin/audit-daemon.mjs', 'cleanup', 'lab1']);
      assert.ok(once.includes('io.integrity-lab.lab=lab1'));
    });
    it('carries the extra labels it is given (a kind node\'s audit id)', () => {
      const kind = sidecarRunArgs({ labId: 'lab1.worker', label: { key: 'io.integrity-lab.kind-lab', value: 'lab1' }, labels: { 'io.integrity-lab.audit-id': 'lab1.worker' }, image: 'i', auditDir: '/a', hostStateDir: '/h', criDir: '/c' });
      const labels = kind.flatMap((a, i) => (a === '--label' ? [kind[i + 1]] : []));
      assert.ok(labels.includes('io.integrity-lab.kind-lab=lab1') && labels.includes('io.integrity-lab.audit-id=lab1.worker'));
      assert.ok(!labels.some((l) => l?.startsWith('io.integrity-lab.lab=')), 'a kind sidecar is not a single-node lab');
      assert.equal(kind[kind.indexOf('--name') + 1], 'integrity-lab-lab1.worker-audit');
    });
    it('uses the node image it is given (never pulled) and runs the bundled daemon', () => {
      assert.ok(args.includes('integrity-lab/node:abc'));
      assert.deepEqual(args.slice(-3), ['/lab-audit/bin/audit-daemon.mjs', 'run', '/lab-audit/config.json']);
    });
  });
});
