/**
 * `npm run lint:features`: fails on invalid scenario YAML, invalid policies
 * or suite cases, out-of-date JSON Schemas, and undefined or ambiguous steps,
 * naming the file and line (and the closest defined steps). Generated docs
 * (docs/steps.md, the messages in docs/admission.md) are rewritten when
 * stale, never a failure: adding a feature must not turn `npm test` red.
 *
 * `lintFeatures()` is also the conformance runner's gate: a lint error stops
 * a run before any lab node starts.
 */
import { join, relative } from 'node:path';
import { readdir } from 'node:fs/promises';
import { loadCatalog } from '../lab/spec/loader.ts';
import { generateSchemas } from '../lab/spec/gen-schema.ts';
import { describeError } from '../lab/errors.ts';
import { loadLabState, runSuiteFile, type SuiteResult } from '../lab/admission/index.ts';
import { describeAmbiguous, describeUndefined, loadStepCatalog } from './step-catalog.ts';
import { writeStepDocs } from './gen-step-docs.ts';
import { writeAdmissionMessages } from './gen-admission-docs.ts';
import { writeCatalogDocs } from './gen-catalog-docs.ts';
import { checkCompleteness, loadScenarioRuns } from '../lab/spec/completeness.ts';
import { TECHNIQUES, type Attack, type LabProfile } from '../lab/spec/schemas.ts';

const root = join(import.meta.dirname, '..');

export interface LintOptions {
  /** Rewrite stale generated docs (the default); the conformance runner leaves them alone. */
  writeDocs?: boolean;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

/** Runs every check; resolves to true when nothing failed. */
export async function lintFeatures({ writeDocs = true, out = console.log, err = console.error }: LintOptions = {}): Promise<boolean> {
  let ok = true;
  const fail = (line: string) => {
    err(line);
    ok = false;
  };

  let catalog;
  try {
    catalog = await loadCatalog(join(root, 'scenarios'), root);
    out(`scenarios: ${catalog.profiles.size} profiles, ${catalog.workloads.size} workloads, ${catalog.attacks.size} attacks: valid`);
    // Completeness (lab/spec/completeness.ts): expectations, runs, earners, techniques.
    const runs = await loadScenarioRuns(join(root, 'features'), root);
    const problems = checkCompleteness({
      attacks: [...catalog.attacks.values()].map((d) => d.object as Attack),
      profiles: [...catalog.profiles.values()].map((d) => d.object as LabProfile),
      techniques: TECHNIQUES,
      runs,
    });
    for (const p of problems) fail(`catalogue incomplete (${p.rule}): ${p.message}`);
    out(`catalogue completeness: ${runs.length} scenarios, ${problems.length} problem(s)`);
  } catch (e) {
    fail(describeError(e));
  }

  // Admission policies load in the webhook's four stages (file:line on error),
  // and every AdmissionSuite still decides as it expects.
  const suites: { file: string; result: SuiteResult }[] = [];
  try {
    const state = await loadLabState(join(root, 'scenarios/policies'));
    if (writeDocs && catalog && (await writeCatalogDocs(catalog, state))) out('docs/authoring.md catalog was stale: rewritten (commit it)');
    out(`admission policies: ${state.files.length} files, ${state.namespaces.size} namespaces, ${state.securityPolicies.length + state.operationPolicies.length} policies: valid`);
    for (const entry of await readdir(join(root, 'scenarios/admission-suites'), { withFileTypes: true })) {
      if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
      const file = `scenarios/admission-suites/${entry.name}`;
      const result = await runSuiteFile(join(root, file));
      suites.push({ file, result });
      for (const r of result.results.filter((x) => !x.passed)) fail(`${file}: ${r.name}: ${r.mismatch}`);
      out(`admission suite ${result.suite}: ${result.passed}/${result.results.length} cases pass`);
    }
  } catch (e) {
    fail(describeError(e));
  }

  const stale = await generateSchemas(join(root, 'scenarios/schemas'), true);
  if (stale.length) fail(`out-of-date JSON Schemas (run npm run gen:schemas): ${stale.join(', ')}`);

  // cucumber's dry run resolves every step without running it.
  try {
    const steps = await loadStepCatalog(root);
    const undefinedSteps = steps.steps.filter((s) => s.definitionIds.length === 0);
    const ambiguous = steps.steps.filter((s) => s.definitionIds.length > 1);
    const seen = new Set<string>();
    for (const s of undefinedSteps) {
      const line = describeUndefined(s, steps.definitions);
      if (!seen.has(line)) fail(line);
      seen.add(line);
    }
    for (const s of ambiguous) fail(describeAmbiguous(s, steps.definitions));
    out(`steps: ${steps.steps.length} feature steps, ${steps.definitions.length} definitions, ${undefinedSteps.length} undefined, ${ambiguous.length} ambiguous`);
    if (writeDocs && (await writeStepDocs(steps))) out('docs/steps.md was stale: rewritten (commit it)');
  } catch (e) {
    fail(`cucumber dry run failed: ${describeError(e)}`);
  }
  if (writeDocs && suites.length && (await writeAdmissionMessages(suites))) out(`${relative(root, join(root, 'docs/admission.md'))} messages were stale: rewritten (commit it)`);
  return ok;
}

if (import.meta.main) {
  process.exitCode = (await lintFeatures()) ? 0 : 1;
}
