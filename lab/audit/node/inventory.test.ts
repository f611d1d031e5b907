import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_RULES_PATH } from '../builtin.ts';
import { AuditEngine } from '../engine.ts';
import { inventoryEntry, inventoryEvent, nanosToRfc3339, type CriContainerStatus } from './inventory.ts';

/** Captured ContainerStatus(verbose) responses of real lab containers. */
function captured(name: string): { status: CriContainerStatus; info: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/node', `cri-${name}.json`), 'utf8'));
}

function engine(): AuditEngine {
  const e = new AuditEngine({ hostname: 'lab', clock: () => new Date(0) });
  e.load([{ name: 'builtin', content: readFileSync(BUILTIN_RULES_PATH, 'utf8') }]);
  return e;
}

describe('inventoryEntry', () => {
  describe('when the container is an ordinary pod', () => {
    const { status, info } = captured('app');
    const entry = inventoryEntry(status, info);
    it('names it, its image and its pod, and says it is not privileged and shares no host namespace', () => {
      assert.equal(entry.info.name, 'app');
      assert.equal(entry.info.image, '127.0.0.1:5000/lab/app:1.0');
      assert.equal(entry.info.k8sNamespace, 'apps');
      assert.equal(entry.info.k8sPod, 'app');
      assert.equal(entry.info.privileged, false);
      assert.deepEqual([entry.info.hostNetwork, entry.info.hostPid, entry.info.hostIpc], [false, false, false]);
      assert.deepEqual(entry.info.mounts, []);
      assert.equal(entry.cmdline, 'run.sh');
      assert.ok(entry.nodePid > 0);
    });
    it('raises no built-in alert', () => {
      assert.deepEqual(engine().evaluate(inventoryEvent(entry, '2026-01-01T00:00:00Z')), []);
    });
  });
  describe('when the container is privileged (securityContext.privileged in the CRI config)', () => {
    const entry = inventoryEntry(captured('privileged-tool').status, captured('privileged-tool').info);
    it('says so, and "Privileged container started" fires at the container\'s start time', () => {
      assert.equal(entry.info.privileged, true);
      const alerts = engine().evaluate(inventoryEvent(entry, '2026-01-01T00:00:00Z'));
      assert.deepEqual(alerts.map((a) => a.rule), ['Privileged container started']);
      assert.equal(alerts[0]!.time, entry.startedAt);
      assert.equal(alerts[0]!.output_fields['container.image.repository'], '127.0.0.1:5000/lab/tool');
    });
  });
  describe('when the node\'s /etc is mounted in (a hostPath volume)', () => {
    const entry = inventoryEntry(captured('host-etc-reader').status, captured('host-etc-reader').info);
    it('lists the mount as Falco does, and "Sensitive host path mounted into a container" fires', () => {
      assert.deepEqual(entry.info.mounts, [{ source: '/etc', dest: '/host/etc', mode: 'ro', readWrite: false, propagation: 'private' }]);
      assert.deepEqual(engine().evaluate(inventoryEvent(entry, '2026-01-01T00:00:00Z')).map((a) => a.rule), ['Sensitive host path mounted into a container']);
    });
  });
  describe('when host namespaces are shared', () => {
    it('reads NamespaceMode NODE, as a number or a name', () => {
      const verbose = { info: { config: { linux: { security_context: { namespace_options: { network: 2, pid: 'NODE', ipc: 0 } } } } } };
      const e = inventoryEntry({ id: 'a'.repeat(64) }, verbose);
      assert.deepEqual([e.info.hostNetwork, e.info.hostPid, e.info.hostIpc], [true, true, false]);
    });
  });
});

describe('nanosToRfc3339', () => {
  it('keeps all nine digits of a decimal string, and reads numbers', () => {
    assert.equal(nanosToRfc3339('1795354604381382123'), '2026-11-22T13:36:44.381382123Z');
    assert.equal(nanosToRfc3339(1795354604000000000), '2026-11-22T13:36:44.000000000Z');
    assert.equal(nanosToRfc3339(0), undefined);
    assert.equal(nanosToRfc3339('x'), undefined);
  });
});
