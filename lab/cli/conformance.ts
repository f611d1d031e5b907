/**
 * `npm run conformance`: runs the Gherkin suite against real lab nodes, then
 * prints the attack × profile × outcome table, builds the Allure report and
 * the results bundle, all in this run's own directory
 * (reports/runs/<time>-<label>/, with reports/latest pointing at it).
 * Exits non-zero if and only if a scenario failed or the run could not start.
 *
 * Order: lint gate (scenario YAML, undefined steps: stops before any lab node
 * starts) → host setup (Docker engine, node image) → cucumber-js → report.
 *
 * The runner's own options are parsed in one place, parseRunArgs(); the rest
 * goes to cucumber-js (a feature path, `--tags @smoke`, `--name …`).
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { availableParallelism, freemem, release } from 'node:os';
import { basename, join, relative } from 'node:path';
import { checkNodeRuntime } from '../node/preflight.ts';
import { localExec } from '../exec.ts';
import { LabError, describeError } from '../errors.ts';
import { toStderr } from '../progress.ts';
import { getProfile, loadCatalog } from '../spec/loader.ts';
import { ensureKindTools } from '../kind/tools.ts';
import { readOutcomes, renderSummaryTable } from './summary.ts';
import { prepareHost, type HostSetup } from './setup.ts';
import { CUCUMBER_JS, CUCUMBER_TS_ENV, RUN_DIR_ENV, createRunDir, latestRun, pointLatest, pruneRuns } from './run-dir.ts';
import { buildResultsBundle, type Versions } from './results-bundle.ts';
import { parseJunitCases, renderTimings, type CaseRun } from './timings.ts';
import { interruptedBy, runChild } from './child.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

export const RUN_USAGE = `usage: npm run conformance -- [runner options] [cucumber-js arguments]

runner options:
  --parallel N    run scenarios on N lab nodes at once (default: from the machine's cores and free memory)
  --keep-failed   keep the lab node of each failed scenario (integrity-lab lab shell ID; lab down ID)
  --repeat N      run the selected scenarios N times and print each one's timing distribution
  --substrate S   node (default): every scenario not tagged @kind, on lab nodes;
                  kind: the @kind scenarios and those tagged @any-substrate, on kind
                  clusters (\`Given a lab node …\` starts a one-node cluster; docs/kind.md)
everything else goes to cucumber-js: a feature path, --tags @smoke, --name …`;

export type Substrate = 'node' | 'kind';

export interface RunOptions {
  /** Where scenarios run: `node` (default) runs every scenario not tagged @kind; `kind` runs the @kind scenarios (docs/kind.md). */
  substrate: Substrate;
  parallel: number;
  keepFailed: boolean;
  repeat: number;
  cucumberArgs: string[];
}

/**
 * One lab node per scenario at a time per worker: a node takes about one
 * core while it starts and about 1 GiB of memory, so no more workers than
 * cores, nor than GiB free, and at most 4.
 */
export function defaultParallel(cores = availableParallelism(), freeBytes = freemem()): number {
  return Math.max(1, Math.min(4, cores, Math.floor(freeBytes / 2 ** 30)));
}

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new LabError('RUN_USAGE', `${flag}: should be an integer ≥ 1, got ${JSON.stringify(value ?? '')}\n${RUN_USAGE}`);
  return n;
}

/** The runner's options, taken out of argv; everything else is cucumber-js's. */
export function parseRunArgs(argv: readonly string[], parallelDefault = defaultParallel()): RunOptions {
  const opts: RunOptions = { substrate: 'node', parallel: parallelDefault, keepFailed: false, repeat: 1, cucumberArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--parallel') opts.parallel = positiveInt('--parallel', value());
    else if (flag === '--repeat') opts.repeat = positiveInt('--repeat', value());
    else if (flag === '--keep-failed') opts.keepFailed = true;
    else if (flag === '--substrate') {
      const v = value();
      if (v !== 'node' && v !== 'kind') throw new LabError('RUN_USAGE', `--substrate: should be node or kind, got ${JSON.stringify(v ?? '')}\n${RUN_USAGE}`);
      opts.substrate = v;
    }
    else opts.cucumberArgs.push(a);
  }
  opts.cucumberArgs = withSubstrateTags(opts.cucumberArgs, opts.substrate);
  return opts;
}

/**
 * The substrate chosen in one place: it narrows the scenarios by tag,
 * combined with the user's --tags (@kind: kind only; @any-substrate: shown
 * to run on both), and the scenarios learn it from INTEGRITY_LAB_SUBSTRATE.
 */
export function withSubstrateTags(cucumberArgs: readonly string[], substrate: Substrate): string[] {
  const mine = substrate === 'kind' ? '(@kind or @any-substrate)' : 'not @kind';
  const args = [...cucumberArgs];
  const i = args.indexOf('--tags');
  if (i >= 0 && args[i + 1] !== undefined) args[i + 1] = `(${args[i + 1]}) and ${mine}`;
  else args.push('--tags', mine);
  return args;
}

/** A short name for the run directory: the feature files or tags asked for, else the whole suite. */
export function runLabel(cucumberArgs: readonly string[]): string {
  const features = cucumberArgs.filter((a) => /\.feature(:\d+)*$/.test(a)).map((a) => basename(a).replace(/\.feature.*$/, ''));
  const tags = cucumberArgs.includes('--tags') ? cucumberArgs[cucumberArgs.indexOf('--tags') + 1]?.replace(/[@ ]/g, '') : undefined;
  return [features.slice(0, 2).join('+') + (features.length > 2 ? `+${features.length - 2}` : ''), tags].filter(Boolean).join('-') || 'suite';
}

const run = (file: string, args: string[], env: NodeJS.ProcessEnv = {}) => runChild(file, args, { cwd: ROOT, env });

/** Java runs the Allure CLI; install Debian's headless JRE when it is missing and we may. */
async function ensureJava(): Promise<boolean> {
  if ((await localExec.run(['sh', '-c', 'command -v java']).catch(() => undefined))?.exitCode === 0) return true;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return false;
  process.stderr.write('REPORT    INFO  no Java runtime for the Allure CLI: installing openjdk-17-jre-headless with apt\n');
  const r = await localExec.run(['apt-get', '-o', 'Acquire::Check-Valid-Until=false', 'install', '-y', 'openjdk-17-jre-headless'], {
    env: { DEBIAN_FRONTEND: 'noninteractive' },
    timeoutMs: 600_000,
  });
  return r.exitCode === 0;
}

/**
 * The lint gate: the scenario YAML loads and every selected step resolves to
 * exactly one definition. Runs before any lab node starts; cucumber's own
 * BeforeAll would otherwise fail only after setup, and --strict would fail
 * an undefined step only when its scenario comes up.
 */
export async function lintGate(cucumberArgs: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  try {
    await loadCatalog(join(ROOT, 'scenarios'), ROOT);
  } catch (err) {
    problems.push(describeError(err));
  }
  try {
    const { loadStepCatalog, describeUndefined, describeAmbiguous } = await import('../../scripts/step-catalog.ts');
    const steps = await loadStepCatalog(ROOT, 'default', [...cucumberArgs]);
    if (steps.testCases === 0) problems.push(noScenarioSelected(cucumberArgs));
    for (const s of steps.steps) {
      if (s.definitionIds.length === 0) problems.push(describeUndefined(s, steps.definitions));
      if (s.definitionIds.length > 1) problems.push(describeAmbiguous(s, steps.definitions));
    }
  } catch (err) {
    problems.push(`cucumber dry run: ${describeError(err)}`);
  }
  return [...new Set(problems)];
}

/** What a selection that matches nothing was, and what usually causes it. */
function noScenarioSelected(cucumberArgs: readonly string[]): string {
  const lines = cucumberArgs.filter((a) => /\.feature(:\d+)+$/.test(a));
  const hints = [
    lines.length > 0 ? `a line number selects the scenario, outline or example row that starts on it (${lines.join(', ')})` : '',
    'the substrate narrows the scenarios by tag (--substrate kind runs only @kind and @any-substrate ones)',
  ].filter(Boolean);
  return `no scenario matches ${cucumberArgs.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}; ${hints.join('; ')}`;
}

async function firstLine(argv: string[]): Promise<string | null> {
  const r = await localExec.run(argv).catch(() => undefined);
  return r?.exitCode === 0 ? r.stdout.toString().trim().split('\n')[0] || null : null;
}

/** Versions of every part, for the results bundle. The node shares the host's kernel. */
async function collectVersions(setup: HostSetup, runDir: string): Promise<Versions> {
  const env = await readFile(join(runDir, 'allure-results/environment.properties'), 'utf8').catch(() => '');
  const prop = (k: string) => new RegExp(`^${k.replace('.', '\\.')}=(.*)$`, 'm').exec(env)?.[1] || null;
  return {
    substrate: setup.kind ? 'kind' : 'node',
    containerd: prop('containerd'),
    runc: await firstLine(['docker', 'run', '--rm', '--entrypoint', 'runc', setup.image.tag, '--version']),
    kernel: release(),
    docker: setup.engine.serverVersion,
    node: process.version,
    nodeImage: setup.image.tag,
    kind: setup.kind ? await firstLine([(await ensureKindTools(setup.kind.tag)).kind, 'version']) : null,
    kubernetes: setup.kind ? setup.kind.binaries.version : null,
    lab: {
      commit: await firstLine(['git', '-C', ROOT, 'rev-parse', 'HEAD']),
      dirty: Boolean(await firstLine(['git', '-C', ROOT, 'status', '--porcelain', '--untracked-files=no'])),
    },
  };
}

export async function conformance(argv: string[]): Promise<number> {
  checkNodeRuntime();
  let opts: RunOptions;
  try {
    opts = parseRunArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }

  const problems = await lintGate(opts.cucumberArgs);
  if (problems.length) {
    for (const p of problems) process.stderr.write(`LINT      ERROR ${p}\n`);
    const latest = await latestRun();
    process.stderr.write(`No lab node was started. ${latest ? `The last report is untouched: ${relative(ROOT, latest)}` : ''}\n`);
    return 1;
  }

  let setup: HostSetup;
  try {
    setup = await prepareHost(toStderr, opts.substrate === 'kind' ? { kindProfile: getProfile(await loadCatalog(join(ROOT, 'scenarios'), ROOT), 'vanilla') } : {});
  } catch (err) {
    process.stderr.write(`PREFLIGHT ERROR ${describeError(err)}\n`);
    return 1;
  }

  const runDir = await createRunDir(runLabel(opts.cucumberArgs));
  const rel = relative(ROOT, runDir);
  process.stderr.write(`REPORT    INFO  results of this run: ${rel} (${opts.parallel} parallel lab node${opts.parallel > 1 ? 's' : ''}${opts.repeat > 1 ? `, ${opts.repeat} repetitions` : ''})\n`);
  const env = { ...CUCUMBER_TS_ENV, [RUN_DIR_ENV]: runDir, INTEGRITY_LAB_SUBSTRATE: opts.substrate, ...(opts.keepFailed ? { INTEGRITY_LAB_KEEP_FAILED: '1' } : {}) };
  const cucumberArgs = [...opts.cucumberArgs, ...(opts.parallel > 1 ? ['--parallel', String(opts.parallel)] : [])];

  let status = 0;
  const repetitions: CaseRun[][] = [];
  for (let i = 1; i <= opts.repeat; i++) {
    const started = performance.now();
    const s = await run(CUCUMBER_JS[0], [CUCUMBER_JS[1], ...cucumberArgs], env);
    status ||= s;
    const interrupted = interruptedBy();
    if (interrupted) {
      process.stderr.write(`REPORT    WARN  ${interrupted}: run stopped; no report, summary or bundle. What ran is in ${rel}; reports/latest is unchanged\n`);
      return 130;
    }
    const junit = join(runDir, 'junit.xml');
    repetitions.push(parseJunitCases(await readFile(junit, 'utf8').catch(() => '')));
    if (opts.repeat > 1) {
      await rename(junit, join(runDir, `junit-${i}.xml`)).catch(() => undefined);
      process.stderr.write(`REPORT    INFO  repetition ${i}/${opts.repeat}: exit ${s} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    }
  }

  const table = renderSummaryTable(await readOutcomes(join(runDir, 'outcomes.jsonl')));
  await writeFile(join(runDir, 'summary.txt'), table + '\n');
  process.stdout.write(`\nAttack outcomes (${rel}/summary.txt):\n${table}\n\n`);
  if (opts.repeat > 1) {
    const timings = renderTimings(repetitions);
    await writeFile(join(runDir, 'timings.txt'), timings + '\n');
    process.stdout.write(`Scenario timings over ${opts.repeat} runs (${rel}/timings.txt):\n${timings}\n\n`);
  }

  if (await ensureJava()) {
    const reportStatus = await run(join(BIN, 'allure'), ['generate', join(runDir, 'allure-results'), '-o', join(runDir, 'allure-report'), '--clean'], {
      ALLURE_NO_ANALYTICS: 'true',
    });
    if (reportStatus === 0) process.stdout.write(`Allure report: ${rel}/allure-report/index.html (npx allure open reports/latest/allure-report)\n`);
    else process.stderr.write(`REPORT    ERROR the Allure CLI exited with ${reportStatus}; raw results are in ${rel}/allure-results\n`);
  } else {
    process.stderr.write(`REPORT    ERROR no Java runtime for the Allure CLI (install a JRE 17); raw results are in ${rel}/allure-results\n`);
  }

  try {
    const bundle = await buildResultsBundle(runDir, ROOT, await collectVersions(setup, runDir));
    await writeFile(join(runDir, 'results.tar'), bundle);
    process.stdout.write(`Results bundle: ${rel}/results.tar (npx integrity-lab results verify ${rel}/results.tar)\n`);
  } catch (err) {
    process.stderr.write(`REPORT    ERROR results bundle not written: ${describeError(err)}\n`);
    status ||= 1;
  }
  process.stdout.write(`JUnit XML: ${rel}/junit${opts.repeat > 1 ? '-N' : ''}.xml\n`);

  const kept = (await readFile(join(runDir, 'kept-labs.txt'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  for (const line of kept) {
    const [id, scenario] = line.split('\t');
    process.stdout.write(`Kept lab ${id} of failed scenario "${scenario}": npx integrity-lab lab shell ${id}; npx integrity-lab lab down ${id}\n`);
  }

  if (repetitions.some((r) => r.length > 0)) {
    await pointLatest(runDir);
    await pruneRuns();
    process.stdout.write(`reports/latest -> ${rel}\n`);
  } else {
    const latest = await latestRun();
    process.stderr.write(`REPORT    WARN  no scenario ran; reports/latest still points at ${latest ? relative(ROOT, latest) : '(nothing)'}\n`);
    status ||= 1;
  }
  return status;
}

if (import.meta.main) {
  process.exitCode = await conformance(process.argv.slice(2));
}
