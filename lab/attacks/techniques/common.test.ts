import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CriClient, ExecSyncResult } from '../../cri/index.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec } from './common.ts';

/** A node whose CRI answers execSync from a function. */
function nodeAnswering(answer: (argv: string[]) => Promise<ExecSyncResult>) {
  return { cri: { execSync: (_id: string, argv: string[]) => answer(argv) } as unknown as CriClient };
}

describe('harnessExec', () => {
  it('returns the command\'s answer and records what ran, where, and between which times', async () => {
    const record: HarnessCommand[] = [];
    const before = Date.now();
    const r = await harnessExec(nodeAnswering(async () => ({ exitCode: 0, stdout: Buffer.from('x'), stderr: Buffer.alloc(0) })), 'c1', 'read it', ['cat', '/etc/hostname'], record);
    assert.equal(r.stdout.toString(), 'x');
    assert.equal(record.length, 1);
    assert.deepEqual({ ...record[0], from: undefined, to: undefined }, { name: 'read it', in: 'container', argv: ['cat', '/etc/hostname'], from: undefined, to: undefined });
    assert.ok(Date.parse(record[0]!.from) >= before - 1 && Date.parse(record[0]!.to) >= Date.parse(record[0]!.from));
  });
  it('records the command even when the exec fails, and passes the error on', async () => {
    const record: HarnessCommand[] = [];
    await assert.rejects(harnessExec(nodeAnswering(async () => Promise.reject(new Error('container gone'))), 'c1', 'read it', ['cat', '/x'], record), /container gone/);
    assert.deepEqual(record.map((c) => c.argv), [['cat', '/x']]);
  });
});
