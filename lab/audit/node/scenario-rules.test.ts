import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isLabError } from '../../errors.ts';
import { compileRuleSet, RulesLoadError } from '../index.ts';
import { readFileSync } from 'node:fs';
import { BUILTIN_RULES_PATH } from '../builtin.ts';
import { loadScenarioRules, scenarioRuleNames } from './scenario-rules.ts';

const ROOT = join(import.meta.dirname, '../../..');
const SCENARIOS = join(ROOT, 'scenarios');
const builtin = { name: BUILTIN_RULES_PATH, content: readFileSync(BUILTIN_RULES_PATH, 'utf8') };

describe('scenario audit rules', () => {
  describe('when a scenario names rules in scenarios/audit-rules', () => {
    it('finds them by path without .yaml, folders included', async () => {
      const names = await scenarioRuleNames(SCENARIOS);
      for (const n of ['apps-shell', 'k8s-denied-pods', 'invalid/syntax-error']) assert.ok(names.includes(n), names.join(', '));
    });
    it('every rules file outside invalid/ loads after the built-in ones', async () => {
      for (const name of (await scenarioRuleNames(SCENARIOS)).filter((n) => !n.startsWith('invalid/'))) {
        const sources = await loadScenarioRules(SCENARIOS, [name], ROOT);
        assert.equal(sources[0]!.name, `scenarios/audit-rules/${name}.yaml`);
        assert.ok(compileRuleSet([builtin, ...sources]).rules.length > 4, name);
      }
    });
    it('the invalid one fails where it says it does', async () => {
      const sources = await loadScenarioRules(SCENARIOS, ['invalid/syntax-error'], ROOT);
      assert.throws(() => compileRuleSet([builtin, ...sources]), (e) => e instanceof RulesLoadError && e.code === 'CONDITION_SYNTAX' && e.location.line === 7 && e.location.column === 14);
    });
  });
  describe('when the name is unknown', () => {
    it('fails with AUDIT_RULES_UNKNOWN and lists the known names', async () => {
      await assert.rejects(loadScenarioRules(SCENARIOS, ['nope'], ROOT), (e) => isLabError(e, 'AUDIT_RULES_UNKNOWN') && e.message.includes('apps-shell'));
    });
  });
});
