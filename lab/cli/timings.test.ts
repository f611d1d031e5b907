import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseJunitCases, renderTimings } from './timings.ts';

const junit = (t1: string, failed: boolean) => `<?xml version="1.0"?>
<testsuite name="integrity-lab conformance" tests="2">
  <testcase classname="Layer tamper" name="swap on &quot;integrity&quot;" time="${t1}">${failed ? '<failure message="x"/>' : ''}</testcase>
  <testcase classname="Layer tamper" name="swap on vanilla" time="3.5"/>
</testsuite>`;

describe('parseJunitCases', () => {
  it('reads name, time and result of each test case', () => {
    assert.deepEqual(parseJunitCases(junit('12.25', true)), [
      { name: 'Layer tamper: swap on "integrity"', seconds: 12.25, passed: false },
      { name: 'Layer tamper: swap on vanilla', seconds: 3.5, passed: true },
    ]);
  });
});

describe('parseJunitCases on a Scenario Outline row', () => {
  it("reads the name and time although the name holds '>' (as cucumber-js writes it)", () => {
    const xml = `<testsuite><testcase classname="The controls defend themselves" name="&lt;attack> (&lt;profile>) - #1.6: start-gate-wrapper-replaced-enforced (integrity)" time="7.502">
    <system-out><![CDATA[Given a lab node with the "integrity" profile....passed]]></system-out>
  </testcase></testsuite>`;
    assert.deepEqual(parseJunitCases(xml), [{ name: 'The controls defend themselves: <attack> (<profile>) - #1.6: start-gate-wrapper-replaced-enforced (integrity)', seconds: 7.502, passed: true }]);
  });
});

describe('renderTimings', () => {
  describe('when a scenario failed in one of three runs', () => {
    it('shows its failures and the distribution of its durations', () => {
      const table = renderTimings([parseJunitCases(junit('10', false)), parseJunitCases(junit('30', true)), parseJunitCases(junit('20', false))]);
      const row = table.split('\n').find((l) => l.includes('"integrity"'))!;
      assert.match(row, /\s3\s+1\s+10\.0\s+20\.0\s+30\.0\s+30\.0$/);
    });
  });
});
