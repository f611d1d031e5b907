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
