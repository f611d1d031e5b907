import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkCompleteness, scenarioRunsOf, type Exemption } from './completeness.ts';
import type { Attack, LabProfile } from './schemas.ts';

const profile = (name: string, components: string[]) => ({ metadata: { name }, spec: { components } }) as unknown as LabProfile;
const PROFILES = [profile('vanilla', []), profile('integrity', ['start-gate', 'watchdog'])];
const attack = (name: string, caughtBy: string[], expected: Record<string, string>, technique = 'layer-file-tamper') =>
  ({ metadata: { name }, spec: { technique, caughtBy, expected, target: { workload: 'w' }, severity: 'normal' } }) as unknown as Attack;

const FEATURE = `Feature: f
  Scenario Outline: tamper (<profile>)
    Given a lab node with the "<profile>" profile
    When the attacker carries out "tamper"
    Then the attack has the outcome expected on this profile

    Examples:
      | profile   |
      | vanilla   |
      | integrity |

  Scenario: tamper, who caught it
    Given a lab node with the "integrity" profile
    When the attacker carries out "tamper"
    Then the attack has the outcome expected on this profile
    And the "watchdog" reported it
`;
const runs = scenarioRunsOf(FEATURE, 'features/f.feature');
const none: Exemption[] = [];

describe('scenarioRunsOf', () => {
  it("expands outline examples, naming each row's line, profile, attack and asserted earner", () => {
    assert.deepEqual(
      runs.map((r) => [r.where, r.profile, r.attacks]),
      [
        ['features/f.feature:9', 'vanilla', [{ attack: 'tamper', reportedBy: [] }]],
        ['features/f.feature:10', 'integrity', [{ attack: 'tamper', reportedBy: [] }]],
        ['features/f.feature:12', 'integrity', [{ attack: 'tamper', reportedBy: ['watchdog'] }]],
      ],
    );
  });
});

describe('checkCompleteness', () => {
  const check = (attacks: Attack[], techniques = ['layer-file-tamper'], exemptions = none) =>
    checkCompleteness({ attacks, profiles: PROFILES, techniques: techniques as never, runs, exemptions }).map((p) => `${p.rule}: ${p.message}`);

  it('accepts a catalogue where every attack is expected, run and earned everywhere', () => {
    assert.deepEqual(check([attack('tamper', ['watchdog'], { vanilla: 'succeeded', integrity: 'detected' })]), []);
  });
  describe('when an attack states no expectation for a profile', () => {
    it('names the attack and the profile', () => {
      assert.deepEqual(check([attack('tamper', ['watchdog'], { vanilla: 'succeeded' })]).filter((m) => m.startsWith('expectation')), [
        'expectation: attack "tamper" states no expected outcome for profile "integrity" (spec.expected.integrity)',
      ]);
    });
  });
  describe('when no scenario carries an attack out on a profile', () => {
    it('names the attack and the profile', () => {
      const problems = check([attack('tamper', ['watchdog'], { vanilla: 'succeeded', integrity: 'detected' }), attack('other', ['watchdog'], { vanilla: 'succeeded', integrity: 'detected' })]);
      assert.ok(problems.includes('runs: attack "other" is carried out on profile "vanilla" by no scenario'), problems.join('\n'));
    });
  });
  describe('when a caughtBy component earns the verdict nowhere', () => {
    it('is refused when several components are named and no scenario asserts that one', () => {
      const problems = check([attack('tamper', ['start-gate', 'watchdog'], { vanilla: 'succeeded', integrity: 'detected' })]);
      assert.deepEqual(problems.map((p) => p.slice(0, 60)), ['earned: attack "tamper": "start-gate" in caughtBy earns the ']);
    });
    it('is refused when every profile expects succeeded', () => {
      assert.ok(check([attack('tamper', ['watchdog'], { vanilla: 'succeeded', integrity: 'succeeded' })]).some((p) => p.startsWith('earned: attack "tamper": "watchdog"')));
    });
    it('is refused when no profile installs the component', () => {
      assert.ok(check([attack('tamper', ['audit'], { vanilla: 'succeeded', integrity: 'detected' })]).some((p) => p.startsWith('earned: attack "tamper": "audit"')));
    });
  });
  describe('when a technique has no attack', () => {
    it('names the technique', () => {
      assert.ok(check([attack('tamper', ['watchdog'], { vanilla: 'succeeded', integrity: 'detected' })], ['layer-file-tamper', 'read-shadow']).includes('technique: technique "read-shadow" has no attack in scenarios/attacks/'));
    });
  });
  describe('with an exemption', () => {
    it('skips what it names, and refuses an exemption that exempts nothing', () => {
      const exemptions: Exemption[] = [
        { attack: 'tamper', rule: 'expectation', subject: 'integrity', reason: 'r' },
        { attack: 'tamper', rule: 'runs', subject: 'vanilla', reason: 'stale' },
      ];
      const problems = check([attack('tamper', ['watchdog'], { vanilla: 'succeeded' })], undefined, exemptions);
      assert.ok(!problems.some((p) => p.startsWith('expectation')), problems.join('\n'));
      assert.ok(problems.includes('runs: exemption of attack "tamper" (runs, vanilla) exempts nothing any more: remove it from lab/spec/completeness.ts'), problems.join('\n'));
    });
  });
});
