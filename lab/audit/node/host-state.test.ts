import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandResult } from './daemon.ts';
import { restoreHostAudit } from './host-state.ts';
import { HOST_FILES } from './layout.ts';

/** A host state directory and an auditctl that records its calls and answers `code`. */
function host(code = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'il-audit-host-'));
  const calls: string[][] = [];
  const auditctl = async (args: readonly string[]): Promise<CommandResult> => {
    calls.push([...args]);
    return { exitCode: code, stdout: '', stderr: code ? 'Operation not permitted' : '' };
  };
  const mark = (name: string, data: unknown) => writeFileSync(join(dir, name), JSON.stringify(data));
  return { dir, calls, auditctl, mark, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('restoreHostAudit', () => {
  it('puts back what the markers hold, and removes them', async () => {
    using h = host();
    h.mark(HOST_FILES.enabledMarker, { enabledBefore: 0 });
    h.mark(HOST_FILES.backlogMarker, { backlogBefore: 64 });
    assert.deepEqual(await restoreHostAudit(h.dir, h.auditctl), { disabled: true, backlogRestored: 64 });
    assert.deepEqual(h.calls, [['-e', '0'], ['-b', '64']]);
    assert.equal(existsSync(join(h.dir, HOST_FILES.enabledMarker)), false);
    assert.equal(existsSync(join(h.dir, HOST_FILES.backlogMarker)), false);
  });

  it('changes nothing a lab did not change (no markers: auditing and the limit were so before any lab)', async () => {
    using h = host();
    assert.deepEqual(await restoreHostAudit(h.dir, h.auditctl), { disabled: false });
    assert.deepEqual(h.calls, []);
  });

  it('never sets a limit it cannot read from the marker', async () => {
    using h = host();
    writeFileSync(join(h.dir, HOST_FILES.backlogMarker), '{"backlogBefore": "64; rm -rf /"');
    assert.deepEqual(await restoreHostAudit(h.dir, h.auditctl), { disabled: false });
    h.mark(HOST_FILES.backlogMarker, { backlogBefore: -1 });
    assert.deepEqual(await restoreHostAudit(h.dir, h.auditctl), { disabled: false });
    assert.deepEqual(h.calls, []);
  });

  it('keeps the enabled marker when auditctl fails, so a later cleanup or the reaper tries again', async () => {
    using h = host(1);
    h.mark(HOST_FILES.enabledMarker, { enabledBefore: 0 });
    assert.deepEqual(await restoreHostAudit(h.dir, h.auditctl), { disabled: false });
    assert.equal(existsSync(join(h.dir, HOST_FILES.enabledMarker)), true);
  });
});
