import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { groupLabs, renderLabList, shellArgs } from './lab-command.ts';

const containers = [
  { labId: 'b2', name: 'integrity-lab-b2-audit', profile: '', state: 'running', role: 'audit' },
  { labId: 'b2', name: 'integrity-lab-b2', profile: 'integrity', state: 'running', role: 'node' },
  { labId: 'a1', name: 'integrity-lab-a1', profile: 'vanilla', state: 'exited', role: 'node' },
];

describe('groupLabs', () => {
  describe('when a lab has an audit sidecar listed before its node', () => {
    it("takes the lab's profile from the node, not from the sidecar's empty label", () => {
      const b2 = groupLabs(containers).find((l) => l.labId === 'b2')!;
      assert.equal(b2.node?.profile, 'integrity');
      assert.deepEqual(b2.containers.map((c) => c.role), ['node', 'audit']);
    });
    it('counts one lab per id', () => {
      assert.deepEqual(groupLabs(containers).map((l) => l.labId), ['b2', 'a1']);
    });
  });
});

describe('renderLabList', () => {
  it('prints a header, then each lab with its containers under it', () => {
    const lines = renderLabList(containers).split('\n');
    assert.match(lines[0]!, /^LAB\s+PROFILE\s+STATE\s+CONTAINERS$/);
    assert.match(lines[1]!, /^b2\s+integrity\s+running\s+2$/);
    assert.match(lines[2]!, /^ {2}node\s+running\s+integrity-lab-b2$/);
    assert.match(lines[3]!, /^ {2}audit\s+running\s+integrity-lab-b2-audit$/);
    assert.match(lines[4]!, /^a1\s+vanilla\s+exited\s+1$/);
  });
  it('says so when there is no lab', () => {
    assert.equal(renderLabList([]), 'no labs');
  });
});

describe('shellArgs', () => {
  describe('when not on a terminal (a script or a pipe)', () => {
    it('runs the command without -t', () => {
      assert.deepEqual(shellArgs('integrity-lab-a1', ['ctr', 'version'], false), ['exec', '-i', 'integrity-lab-a1', 'ctr', 'version']);
    });
  });
  describe('when on a terminal with no command', () => {
    it('opens an interactive bash', () => {
      assert.deepEqual(shellArgs('integrity-lab-a1', [], true), ['exec', '-i', '-t', 'integrity-lab-a1', 'bash']);
    });
  });
});

describe('LAB_ID_SHAPE (lab down of an interrupted start)', () => {
  it("accepts the ids LabNode makes and refuses anything that could name a path outside the lab's state root", async () => {
    const { LAB_ID_SHAPE } = await import('./lab-command.ts');
    assert.ok(LAB_ID_SHAPE.test('mxap266g-5ec686'));
    for (const id of ['..', '../etc', '.audit-host', 'a/b', 'mxap266g', '']) assert.ok(!LAB_ID_SHAPE.test(id), id);
  });
});

describe('interrupted starts (lab down of what a start cut short left)', () => {
  it('finds state directories of the lab id shape that have no container, and nothing else; `lab down ID` removes one', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync } = await import('node:fs');
    const { spawnSync } = await import('node:child_process');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const root = mkdtempSync(join(tmpdir(), 'lab-state-'));
    try {
      for (const dir of ['mxaaaaaa-0a1b2c', '.audit-host', 'il-mxbbbbbb-3d4e5f', 'notalab']) mkdirSync(join(root, dir));
      writeFileSync(join(root, 'mxaaaaaa-0a1b2c', 'ca.key'), 'a key the interrupted start wrote');
      const env = { ...process.env, INTEGRITY_LAB_STATE: root };
      const here = import.meta.dirname;
      const found = spawnSync(process.execPath, ['--import', 'tsx', '-e', `import('${join(here, 'lab-command.ts')}').then(async (m) => console.log(JSON.stringify(await m.interruptedStarts())))`], { env, encoding: 'utf8' });
      assert.equal(found.status, 0, found.stderr);
      // Other labs may be starting on this machine (their volume exists before their container): only our names are checked.
      const ids: string[] = JSON.parse(found.stdout.trim().split('\n').at(-1)!);
      assert.ok(ids.includes('mxaaaaaa-0a1b2c'), ids.join(', '));
      for (const other of ['.audit-host', 'il-mxbbbbbb-3d4e5f', 'notalab']) assert.ok(!ids.includes(other), other);
      const down = spawnSync(process.execPath, [join(here, '../../bin/integrity-lab.mjs'), 'lab', 'down', 'mxaaaaaa-0a1b2c'], { env, encoding: 'utf8' });
      assert.equal(down.status, 0, down.stderr);
      assert.match(down.stderr, /removed what the interrupted start of lab mxaaaaaa-0a1b2c left/);
      assert.equal(existsSync(join(root, 'mxaaaaaa-0a1b2c')), false, 'the state directory with its key is gone');
      for (const kept of ['.audit-host', 'il-mxbbbbbb-3d4e5f', 'notalab']) assert.ok(existsSync(join(root, kept)), `${kept} kept`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
