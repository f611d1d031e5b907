/**
 * `npm test`: the project's own tests, ending with one line
 * `N passed, M failed`.
 *
 *   0. host setup, visibly: Docker engine and lab node image (lab/cli/setup.ts)
 *   1. type check (tsc, strict)
 *   2. unit tests next to the code (node:test), counted per test
 *   3. feature lint: scenario YAML, schemas, undefined/ambiguous steps
 *   4. end-to-end: the @smoke scenarios on real lab nodes, counted per scenario
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { globSync } from 'node:fs';
import { prepareHost } from '../lab/cli/setup.ts';
import { CUCUMBER_JS, CUCUMBER_TS_ENV, RUN_DIR_ENV, createRunDir, pruneRuns } from '../lab/cli/run-dir.ts';
import { toStderr } from '../lab/progress.ts';
import { describeError } from '../lab/errors.ts';
import { interruptedBy, runChild } from '../lab/cli/child.ts';
import { getProfile, loadCatalog } from '../lab/spec/loader.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'node_modules/.bin');
const reports = join(root, 'reports');

/** Runs one stage's child; once interrupted, no later stage starts (one of them would start labs). */
async function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const status = await runChild(file, args, { cwd: root, env });
  const signal = interruptedBy();
  if (signal) {
    process.stderr.write(`${signal}: tests stopped; no later stage runs\n`);
    process.exit(130);
  }
  return status;
}

interface Tally {
  name: string;
  passed: number;
  failed: number;
}
const tallies: Tally[] = [];

function count(name: string, passed: number, failed: number): void {
  tallies.push({ name, passed, failed });
  process.stdout.write(`\n== ${name}: ${passed} passed, ${failed} failed\n\n`);
}

await mkdir(reports, { recursive: true });

// 0. Host setup before any test: on a fresh machine it installs docker.io,
// starts dockerd and builds the node image (about a minute), which would
// otherwise happen silently inside the first unit test that starts a node.
process.stdout.write('== host setup\n');
try {
  await prepareHost(toStderr);
} catch (err) {
  process.stderr.write(`PREFLIGHT ERROR ${describeError(err)}\n`);
  process.stdout.write('0 passed, 1 failed (host setup)\n');
  process.exit(1);
}

// 1. Type check.
count('type check', ...((await run(join(bin, 'tsc'), ['-p', 'tsconfig.json'])) === 0 ? [1, 0] : [0, 1]) as [number, number]);

// 2. Unit tests.
const unitTap = join(reports, 'unit.tap');
const files = globSync(['lab/**/*.test.ts', 'steps/**/*.test.ts', 'scripts/**/*.test.ts'], { cwd: root }).sort();
const unitStatus = await run(process.execPath, [
  '--import', 'tsx', '--test', '--test-concurrency=1',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${unitTap}`,
  ...files,
]);
const tap = await readFile(unitTap, 'utf8').catch(() => '');
const pass = Number(/^# pass (\d+)$/m.exec(tap)?.[1] ?? 0);
const fail = Number(/^# fail (\d+)$/m.exec(tap)?.[1] ?? 0) + Number(/^# cancelled (\d+)$/m.exec(tap)?.[1] ?? 0);
count('unit tests', pass, fail || (unitStatus !== 0 ? 1 : 0));

// 3. Feature lint.
count('feature lint', ...((await run(process.execPath, ['--import', 'tsx', 'scripts/lint-features.ts'])) === 0 ? [1, 0] : [0, 1]) as [number, number]);

// 4. End-to-end smoke scenarios on real lab nodes.
// Its own run directory (reports/runs/<time>-test-smoke/), like every
// conformance run; reports/latest stays on the last conformance run.
const smokeDir = await createRunDir('test-smoke');
const junit = join(smokeDir, 'junit.xml');
const e2eStatus = await run(CUCUMBER_JS[0], [CUCUMBER_JS[1], '--profile', 'smoke'], { ...CUCUMBER_TS_ENV, [RUN_DIR_ENV]: smokeDir });
process.stdout.write(`end-to-end results: ${relative(root, smokeDir)}\n`);
await pruneRuns();
const xml = await readFile(junit, 'utf8').catch(() => '');
const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? '';
const attr = (n: string) => Number(new RegExp(`\\b${n}="(\\d+)"`).exec(suite)?.[1] ?? 0);
const scenarios = attr('tests');
const bad = attr('failures') + attr('errors');
count('end-to-end scenarios', scenarios - bad - attr('skipped'), bad || (e2eStatus !== 0 || scenarios === 0 ? Math.max(1, bad) : 0));

// 5. End-to-end on a real Kubernetes cluster (kind, Kubernetes built from
// source: tens of minutes on a cold machine, cached afterwards; setup is
// visible and separate from the scenario).
process.stdout.write('== kind setup\n');
let kindReady = true;
try {
  await prepareHost(toStderr, { kindProfile: getProfile(await loadCatalog(join(root, 'scenarios'), root), 'vanilla') });
} catch (err) {
  process.stderr.write(`PREFLIGHT ERROR ${describeError(err)}\n`);
  count('kind end-to-end', 0, 1);
  kindReady = false;
}
if (kindReady) {
  const kindDir = await createRunDir('test-kind');
  const kindStatus = await run(CUCUMBER_JS[0], [CUCUMBER_JS[1], '--profile', 'kindSmoke'], { ...CUCUMBER_TS_ENV, [RUN_DIR_ENV]: kindDir });
  process.stdout.write(`kind end-to-end results: ${relative(root, kindDir)}\n`);
  const kxml = await readFile(join(kindDir, 'junit.xml'), 'utf8').catch(() => '');
  const ksuite = /<testsuite\b[^>]*>/.exec(kxml)?.[0] ?? '';
  const kattr = (n: string) => Number(new RegExp(`\\b${n}="(\\d+)"`).exec(ksuite)?.[1] ?? 0);
  const kbad = kattr('failures') + kattr('errors');
  count('kind end-to-end', kattr('tests') - kbad - kattr('skipped'), kbad || (kindStatus !== 0 || kattr('tests') === 0 ? Math.max(1, kbad) : 0));
  await pruneRuns();
}

const passed = tallies.reduce((n, t) => n + t.passed, 0);
const failed = tallies.reduce((n, t) => n + t.failed, 0);
for (const t of tallies) process.stdout.write(`${t.name.padEnd(22)} ${t.passed} passed, ${t.failed} failed\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
