import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, mkdir, writeFile, rm, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog, parseSpecText, SpecError } from './loader.ts';

const here = import.meta.dirname;
const scenarios = join(here, '../../scenarios');

async function fixture(name: string): Promise<string> {
  return readFile(join(here, 'testdata', name), 'utf8');
}

async function expectSpecError(fn: () => unknown, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(
    async () => fn(),
    (e: unknown) => {
      assert.ok(e instanceof SpecError, `expected a SpecError, got ${String(e)}`);
      assert.equal(e.code, code);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

/** A copy of the real scenarios with one extra attack file. */
async function catalogWith(attackYaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'il-spec-'));
  await cp(scenarios, join(dir, 'scenarios'), { recursive: true });
  await mkdir(join(dir, 'scenarios', 'attacks'), { recursive: true });
  await writeFile(join(dir, 'scenarios', 'attacks', 'zz-extra.yaml'), attackYaml);
  return dir;
}

const goodAttack = (overrides: string) => `apiVersion: integrity-lab.io/v1alpha1
kind: Attack
metadata:
  name: extra
spec:
  technique: layer-file-tamper
  payload: x
  caughtBy: []
  severity: critical
${overrides}`;

describe('parseSpecText', () => {
  describe('when the YAML does not parse', () => {
    it('fails with SPEC_YAML_SYNTAX naming file, line and column', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('yaml-syntax.yaml'), 'x.yaml'), 'SPEC_YAML_SYNTAX', /^x\.yaml:\d+:\d+: YAML syntax error/);
    });
  });
  describe('when the kind is unknown', () => {
    it('lists the known kinds', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('unknown-kind.yaml'), 'k.yaml'), 'SPEC_SCHEMA', /^k\.yaml:2:7: kind: should be one of LabProfile, Workload, Attack, got "Atack"/);
    });
  });
  describe('when a required field is missing', () => {
    it('names the field and the line of its parent', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('missing-field.yaml'), 'm.yaml'), 'SPEC_SCHEMA', /^m\.yaml:6:\d+: spec\.target: is required/);
    });
  });
  describe('when a field is not in the schema', () => {
    it('names the unknown field at its own line and column', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('unknown-field.yaml'), 'u.yaml'), 'SPEC_SCHEMA', /^u\.yaml:10:5: spec\.containerd\.enableFsverity: is not a known field/);
    });
    it('suggests the closest known field', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('misspelt-field.yaml'), 'p.yaml'), 'SPEC_SCHEMA', /^p\.yaml:10:3: spec\.paylod: is not a known field; did you mean "payload"\?/);
    });
  });
  describe('when a value is not one of the allowed ones', () => {
    it('names the field and the value', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('bad-enum.yaml'), 'e.yaml'), 'SPEC_SCHEMA', /^e\.yaml:12:\d+: spec\.expected\.vanilla: should be one of "blocked", "detected", "succeeded", got "maybe"/);
    });
  });
  describe('when a string does not match its pattern', () => {
    it('names the field and the value', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('bad-pattern.yaml'), 'p.yaml'), 'SPEC_SCHEMA', /spec\.target\.path: must match pattern .*, got "app\/message"/);
    });
  });
  describe('when a file is in the wrong folder', () => {
    it('says which kind the folder holds', async () => {
      await expectSpecError(async () => parseSpecText(await fixture('unknown-field.yaml'), 'w.yaml', 'Attack'), 'SPEC_SCHEMA', /this folder holds Attack objects, got LabProfile/);
    });
  });
});

describe('loadCatalog', () => {
  it('loads the project scenarios', async () => {
    const catalog = await loadCatalog(scenarios);
    assert.ok(catalog.profiles.has('vanilla'));
    assert.ok(catalog.profiles.has('integrity'));
    assert.ok(catalog.workloads.has('app'));
    assert.ok(catalog.attacks.size >= 1);
  });
  for (const [name, yaml, pattern] of [
    ['an attack targets a workload that does not exist', goodAttack('  target: { workload: ghost, path: /x }\n  expected: { vanilla: succeeded }\n'), /targets workload "ghost", which does not exist; known workloads: (\S+, )*app, /],
    ['an attack expects an outcome on an unknown profile', goodAttack('  target: { workload: app, path: /x }\n  expected: { vanilla: succeeded, hardened: blocked }\n'), /no lab profile is named "hardened"/],
    ['an attack does not expect success on vanilla', goodAttack('  target: { workload: app, path: /x }\n  expected: { vanilla: blocked }\n'), /spec\.expected\.vanilla: should be "succeeded"/],
  ] as const) {
    describe(`when ${name}`, () => {
      it('fails with SPEC_SEMANTIC naming the file', async () => {
        const dir = await catalogWith(yaml);
        try {
          await expectSpecError(() => loadCatalog(join(dir, 'scenarios')), 'SPEC_SEMANTIC', new RegExp(`scenarios/attacks/zz-extra\\.yaml:1[0-2]:\\d+: .*${pattern.source}`));
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    });
  }
  describe('when two objects share a name', () => {
    it('fails with SPEC_DUPLICATE naming both places', async () => {
      const dir = await catalogWith((await readFile(join(scenarios, 'attacks', 'host-layer-tamper.yaml'), 'utf8')));
      try {
        await expectSpecError(() => loadCatalog(join(dir, 'scenarios')), 'SPEC_DUPLICATE', /already defined in scenarios\/attacks\/host-layer-tamper\.yaml:\d+/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
