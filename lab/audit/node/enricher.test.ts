import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditLogToEvents } from '../auditd.ts';
import type { ContainerInfo } from '../context.ts';
import { fakeProc } from './fake-proc.ts';
import { LabEnricher } from './enricher.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../fixtures/node', name), 'utf8');
const LAB = 'mwrvrvmt-17f105';
const NODE = '89549c42c44bff87024121790431499fa3d564236b70a3305eceeb9757b34ee8';
const APP = '4b0a212671a3b76b422021464250771c8162785a33112cb3cda2eeb7700f95c5';
const LEGACY = 'b3b2793fa6886192c104a66dc3c33048895de9d5f4238da14f3e8d15e1ff33a7';

const containers: Record<string, ContainerInfo> = {
  [APP]: { id: APP, name: 'app', image: '127.0.0.1:5000/lab/app:1.0', k8sNamespace: 'apps', k8sPod: 'app' },
  [LEGACY]: { id: LEGACY, name: 'legacy-app', k8sNamespace: 'apps', k8sPod: 'legacy-app' },
};

function enricher(files: Record<string, string> = {}): LabEnricher {
  return new LabEnricher({
    labId: LAB,
    nodeContainerId: NODE,
    nodePid: 23827,
    proc: fakeProc({ '/proc/23871/cgroup': fixture('cgroup-node.txt'), '/proc/23871/stat': '23871 (containerd) S 23827 1 1 0', ...files }),
    containers: { info: (id) => containers[id], fullId: (p) => Object.keys(containers).find((id) => id.startsWith(p)), hostPid: () => undefined },
  });
}

describe('LabEnricher', () => {
  describe('as the engine\'s Enricher hook, over the lab\'s captured audit.log', () => {
    const events = auditLogToEvents(fixture('audit-sample.log'), enricher());
    it('gives the container and pod of a process that is gone, from the key of its container rule', () => {
      const sh = events.find((e) => e['proc.name'] === 'sh')!;
      assert.equal(sh['container.id'], APP.slice(0, 12));
      assert.equal(sh['k8s.pod.name'], 'app');
      const cat = events.find((e) => e['fd.name'] === '/etc/shadow')!;
      assert.equal(cat['container.name'], 'legacy-app');
    });
    it('calls containerd a process of the node (container.id=host)', () => {
      const setns = events.find((e) => e['proc.pid'] === 23871)!;
      assert.equal(setns['container.id'], 'host');
    });
    it('places the CNI loopback plugin, gone already, by its live parent containerd', () => {
      const loopback = events.find((e) => e['proc.name'] === 'loopback')!;
      assert.equal(loopback['container.id'], 'host');
      assert.equal(loopback['proc.pname'], 'containerd');
    });
  });
  describe('when a process entered a container\'s mount namespace from the node (nsenter) and is still alive', () => {
    it('stays the node\'s, as Falco places it by its cgroup, even when it touched the container\'s files', () => {
      const files = { '/proc/4970/cgroup': fixture('cgroup-node.txt'), '/proc/4970/stat': '4970 (cat) R 1 1 1 0' };
      assert.deepEqual(enricher(files).place(4970, 1, `il:${LAB}:${LEGACY.slice(0, 12)}`), { scope: { scope: 'node' }, by: 'cgroup' });
    });
  });
  describe('when the process has exited but is not reaped (a zombie, its cgroups already left)', () => {
    it('is placed by the key of the container rule instead', () => {
      const files = { '/proc/4968/cgroup': `8:pids:/\n0::/docker/${NODE}\n`, '/proc/4968/stat': '4968 (cat) Z 4954 1 1 0' };
      assert.deepEqual(enricher(files).place(4968, 4954, `il:${LAB}:${LEGACY.slice(0, 12)}`), { scope: { scope: 'container', containerId: LEGACY }, by: 'rule-key' });
    });
  });

  describe('when a process is of another lab or of the host', () => {
    it('returns undefined, so the event gets no container fields', () => {
      const e = enricher({ '/proc/9/cgroup': '0::/system.slice/ssh.service\n', '/proc/9/stat': '9 (sshd) S 1 1 1 0' });
      assert.equal(e.lookup(9, 1), undefined);
      assert.equal(e.lookup(10, undefined, `il:otherlab:${APP.slice(0, 12)}`), undefined);
      assert.equal(e.lookup(12345, 12344), undefined, 'gone, with no key and no parent to go by');
    });
  });
  describe('when asked for a user name', () => {
    it('reads the container\'s /etc/passwd once and calls uid 0 root when it cannot', () => {
      const e = new LabEnricher({
        labId: LAB, nodeContainerId: NODE, nodePid: 23827,
        proc: fakeProc({ '/proc/500/root/etc/passwd': 'root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n' }),
        containers: { info: () => undefined, fullId: () => undefined, hostPid: (id) => (id === APP ? 500 : undefined) },
      });
      assert.equal(e.userName(1000, { scope: 'container', containerId: APP }), 'app');
      assert.equal(e.userName(0, { scope: 'container', containerId: LEGACY }), 'root');
      assert.equal(e.userName(1000, { scope: 'container', containerId: LEGACY }), undefined);
    });
  });
});
