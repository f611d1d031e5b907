/**
 * `npm run lint:features`: fails on invalid scenario YAML, out-of-date JSON
 * Schemas, and undefined or ambiguous steps, naming the file and line.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadCatalog } from '../lab/spec/loader.ts';
import { generateSchemas } from '../lab/spec/gen-schema.ts';
import { describeError } from '../lab/errors.ts';
import { readdir } from 'node:fs/promises';
import { loadLabState, runSuiteFile } from '../lab/admission/index.ts';
import { checkCompleteness, loadScenarioRuns } from '../lab/spec/completeness.ts';
import { TECHNIQUES, type Attack, type LabProfile } from '../lab/spec/schemas.ts';

const root = join(import.meta.dirname, '..');
let failed = false;

try {
  const catalog = await loadCatalog(join(root, 'scenarios'), root);
  console.log(`scenarios: ${catalog.profiles.size} profiles, ${catalog.workloads.size} workloads, ${catalog.attacks.size} attacks: valid`);
  // Completeness (lab/spec/completeness.ts): expectations, runs, earners, techniques.
  const runs = await loadScenarioRuns(join(root, 'features'), root);
  const problems = checkCompleteness({
    attacks: [...catalog.attacks.values()].map((d) => d.object as Attack),
    profiles: [...catalog.profiles.values()].map((d) => d.object as LabProfile),
    techniques: TECHNIQUES,
    runs,
  });
  for (const p of problems) console.error(`catalogue incomplete (${p.rule}): ${p.message}`);
  console.log(`catalogue completeness: ${runs.length} scenarios, ${problems.length} problem(s)`);
  if (problems.length) failed = true;
} catch (err) {
  console.error(describeError(err));
  failed = true;
}

// Admission policies load in the webhook's four stages (file:line on error),
// and every AdmissionSuite still decides as it expects.
try {
  const state = await loadLabState(join(root, 'scenarios/policies'));
  console.log(`admission policies: ${state.files.length} files, ${state.namespaces.size} namespaces, ${state.securityPolicies.length + state.operationPolicies.length} policies: valid`);
  for (const entry of await readdir(join(root, 'scenarios/admission-suites'), { withFileTypes: true })) {
    if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue;
    const result = await runSuiteFile(join(root, 'scenarios/admission-suites', entry.name));
    for (const r of result.results.filter((x) => !x.passed)) console.error(`scenarios/admission-suites/${entry.name}: ${r.name}: ${r.mismatch}`);
    console.log(`admission suite ${result.suite}: ${result.passed}/${result.results.length} cases pass`);
    if (result.failed > 0) failed = true;
  }
} catch (err) {
  console.error(describeError(err));
  failed = true;
}

const stale = await generateSchemas(join(root, 'scenarios/schemas'), true);
if (stale.length) {
  console.error(`out-of-date JSON Schemas (run npm run gen:schemas): ${stale.join(', ')}`);
  failed = true;
}

// A dry run resolves every step without running it; --strict turns an
// undefined or ambiguous step into a failure, reported with file:line.
// cucumber-js exits 0 from a dry run even with undefined steps, so the
// summary is read as well.
const dry = spawnSync(join(root, 'node_modules/.bin/cucumber-js'), ['--profile', 'lint'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, NODE_OPTIONS: '--import tsx' },
});
process.stdout.write(dry.stdout);
process.stderr.write(dry.stderr);
const problems = /\d+ steps \(([^)]*)\)/.exec(dry.stdout)?.[1]?.split(', ').filter((p) => /undefined|ambiguous/.test(p)) ?? [];
if (dry.status !== 0 || problems.length) {
  console.error(`feature lint failed: ${problems.join(', ') || `cucumber-js exited with ${dry.status}`} (the scenarios are listed above with file:line)`);
  failed = true;
}

// The step reference in docs/ must list every step as it is now.
const docs = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/gen-step-docs.ts'), '--check'], { cwd: root, stdio: 'inherit' });
if (docs.status !== 0) failed = true;

process.exitCode = failed ? 1 : 0;
