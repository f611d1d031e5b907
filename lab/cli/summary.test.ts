import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderSummaryTable } from './summary.ts';

describe('renderSummaryTable', () => {
  it('lists each attack on each profile with its verdict', () => {
    const table = renderSummaryTable([
      { attack: 'host-layer-tamper', profile: 'vanilla', outcome: 'succeeded', expected: 'succeeded', scenario: 's' },
      { attack: 'host-layer-tamper', profile: 'integrity', outcome: 'succeeded', expected: 'blocked', scenario: 's' },
    ]);
    const lines = table.split('\n');
    assert.match(lines[0]!, /^attack +profile +outcome +expected +verdict$/);
    assert.match(lines[2]!, /host-layer-tamper +vanilla +succeeded +succeeded +ok/);
    assert.match(lines[3]!, /host-layer-tamper +integrity +succeeded +blocked +MISMATCH/);
  });
  describe('when no attack ran', () => {
    it('says so', () => {
      assert.equal(renderSummaryTable([]), 'No attack was carried out in this run.');
    });
  });
});
