import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadCatalog, type SpecError } from './loader.ts';
import { loadScenariosWith } from './test-catalog.ts';
import { ATTACK_TECHNIQUES, ATTACK_ID_PATTERN, attackTechniqueUrl } from './mitre.ts';
import type { Attack } from './schemas.ts';

const scenarios = join(import.meta.dirname, '../../scenarios');

function loadWithAttack(file: string, yaml: string): Promise<SpecError | undefined> {
  return loadScenariosWith('attacks', file, yaml);
}

const attack = (name: string, body: string) => `apiVersion: integrity-lab.io/v1alpha1
kind: Attack
metadata:
  name: ${name}
spec:
  target: { workload: app, path: /app/message }
  caughtBy: []
  severity: normal
  expected: { vanilla: succeeded }
${body}`;

describe('ATT&CK ids of attacks', () => {
  it('every id in the table is well-formed', () => {
    for (const id of Object.keys(ATTACK_TECHNIQUES)) assert.match(id, new RegExp(ATTACK_ID_PATTERN));
  });
  it('every attack in the project names ids', async () => {
    const catalog = await loadCatalog(scenarios);
    for (const [name, doc] of catalog.attacks) assert.ok(((doc.object as Attack).spec.attack ?? []).length > 0, `attack ${name} names no ATT&CK id`);
  });
  it('links a sub-technique under its parent', () => {
    assert.equal(attackTechniqueUrl('T1565.001'), 'https://attack.mitre.org/techniques/T1565/001/');
  });
  for (const [name, file, yaml, code, pattern] of [
    ['an id is malformed', 'zz-extra.yaml', attack('extra', '  technique: layer-file-tamper\n  attack: [T15250]\n'), 'SPEC_SCHEMA', /zz-extra\.yaml:11:\d+: spec\.attack\.0: must match pattern/],
    ['an id is not in the lab table', 'zz-extra.yaml', attack('extra', '  technique: layer-file-tamper\n  attack: [T1652]\n'), 'SPEC_SEMANTIC', /spec\.attack\.0: "T1652" is not in the lab's ATT&CK table/],
    ['an attack of this branch drops its ids', 'host-layer-tamper.yaml', attack('host-layer-tamper', '  technique: layer-file-tamper\n'), 'SPEC_SEMANTIC', /spec\.attack: attack "host-layer-tamper" must name its MITRE ATT&CK technique ids/],
  ] as const) {
    describe(`when ${name}`, () => {
      it(`fails with ${code}`, async () => {
        const err = await loadWithAttack(file, yaml);
        assert.ok(err, 'accepted');
        assert.equal(err.code, code);
        assert.match(err.message, pattern);
      });
    });
  }
  describe('when an attack added elsewhere has no ids yet', () => {
    it('loads (the field is required for this branch\'s attacks only)', async () => {
      assert.equal(await loadWithAttack('zz-extra.yaml', attack('extra', '  technique: layer-file-tamper\n')), undefined);
    });
  });
});

describe('declared attacks in the catalog', () => {
  const step = '  steps:\n    - { name: write, in: container, run: ["true"]';
  for (const [name, body, pattern] of [
    ['both technique and steps are given', `  technique: layer-file-tamper\n${step}, expect: { exitCode: 0 } }\n`, /needs either spec\.technique \(TypeScript\) or spec\.steps \(declared\), not both/],
    ['neither is given', '  payload: x\n', /needs either spec\.technique .* not neither/],
    ['a check comes without steps', '  technique: layer-file-tamper\n  check: { in: node, script: "true", expect: { exitCode: 0 } }\n', /spec\.check: only with spec\.steps/],
    ['nothing judges the effect', `${step} }\n`, /declares no expect \(on a step or in spec\.check\), so nothing would judge its effect/],
    // Inside the container the harness's own sh would be audited as the attack's shell.
    ['a step runs a script inside the container', '  steps:\n    - { name: read, in: container, script: cat /etc/shadow, expect: { exitCode: 0 } }\n', /zz-extra\.yaml:11:44: spec\.steps\.0\.script: attack "extra" runs a script inside the container; give run \(an argv\) there instead/],
    ['a cleanup runs a script in the container\'s namespaces', `${step}, expect: { exitCode: 0 } }\n  cleanup:\n    - { name: undo, in: container-namespaces, script: rm -f x }\n`, /spec\.cleanup\.0\.script: attack "extra" runs a script in the container's namespaces; give run \(an argv\) there instead/],
    ['a proof runs a script inside the container', `${step}, expect: { exitCode: 0 } }\n  blockedBy:\n    - { component: start-gate, step: write, stderr: x, proof: { in: container, script: "true", expect: { exitCode: 0 } } }\n`, /spec\.blockedBy\.0\.proof\.script: attack "extra" runs a script inside the container/],
    ['a command gives both run and script', '  steps:\n    - { name: w, in: node, run: ["true"], script: "true", expect: { exitCode: 0 } }\n', /spec\.steps\.0: attack "extra" gives both run \(an argv\) and script \(POSIX sh\); give one/],
    ['a cleanup gives neither', `${step}, expect: { exitCode: 0 } }\n  cleanup:\n    - { name: undo, in: node }\n`, /spec\.cleanup\.0: attack "extra" gives neither run \(an argv\) nor script \(POSIX sh\); give one/],
  ] as const) {
    describe(`when ${name}`, () => {
      it('fails with SPEC_SEMANTIC', async () => {
        const err = await loadWithAttack('zz-extra.yaml', attack('extra', body));
        assert.ok(err, 'accepted');
        assert.equal(err.code, 'SPEC_SEMANTIC');
        assert.match(err.message, pattern);
      });
    });
  }
  describe('when a step runs in an unknown place', () => {
    it('fails with SPEC_SCHEMA listing the places', async () => {
      const err = await loadWithAttack('zz-extra.yaml', attack('extra', '  steps:\n    - { name: x, in: host, script: "true", expect: { exitCode: 0 } }\n'));
      assert.equal(err?.code, 'SPEC_SCHEMA');
      assert.match(err?.message ?? '', /spec\.steps\.0\.in: should be one of "node", "container-namespaces", "container", got "host"/);
    });
  });
});
