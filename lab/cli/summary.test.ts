import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderSummaryTable } from './summary.ts';

describe('renderSummaryTable', () => {
  it('lists each attack with its scenario, profile, verdict and the component that earned it', () => {
    const table = renderSummaryTable([
      { attack: 'host-layer-tamper', profile: 'vanilla', outcome: 'succeeded', expected: 'succeeded', scenario: 'layer tamper (vanilla)' },
      { attack: 'running-layer-tamper', profile: 'integrity', outcome: 'detected', expected: 'detected', scenario: 'layer tamper (integrity)', earnedBy: 'watchdog' },
      { attack: 'host-layer-tamper', profile: 'integrity', outcome: 'error', expected: 'blocked', scenario: 'x' },
    ]);
    const lines = table.split('\n');
    assert.match(lines[0]!, /^scenario +attack +profile +outcome +earned by +expected +verdict$/);
    assert.match(lines[2]!, /^layer tamper \(vanilla\) +host-layer-tamper +vanilla +succeeded +- +succeeded +ok$/);
    assert.match(lines[3]!, /^layer tamper \(integrity\) +running-layer-tamper +integrity +detected +watchdog +detected +ok$/);
    assert.match(lines[4]!, /^x +host-layer-tamper +integrity +error +- +blocked +MISMATCH$/);
  });
  describe('when no attack ran', () => {
    it('says so', () => {
      assert.equal(renderSummaryTable([]), 'No attack was carried out in this run.');
    });
  });
});
