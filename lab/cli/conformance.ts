/**
 * `npm run conformance`: runs the Gherkin suite against real lab nodes, then
 * prints the attack × profile × outcome table and builds the Allure report.
 * Exits non-zero if and only if a scenario failed.
 *
 * Extra arguments go to cucumber-js: a feature path, `--tags @smoke`,
 * `--profile smoke`, `--name …`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkNodeRuntime } from '../node/preflight.ts';
import { localExec } from '../exec.ts';
import { readOutcomes, renderSummaryTable } from './summary.ts';

const ROOT = join(import.meta.dirname, '../..');
const REPORTS = join(ROOT, 'reports');
const BIN = join(ROOT, 'node_modules/.bin');

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 130 : 1)));
    child.on('error', (e) => {
      process.stderr.write(`cannot run ${file}: ${e.message}\n`);
      resolve(127);
    });
  });
}

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

export async function conformance(cucumberArgs: string[]): Promise<number> {
  checkNodeRuntime();
  // allure-results accumulates across runs unless cleared.
  for (const generated of ['allure-results', 'allure-report', 'outcomes.jsonl', 'junit.xml', 'summary.txt']) {
    await rm(join(REPORTS, generated), { recursive: true, force: true });
  }
  await mkdir(join(REPORTS, 'allure-results'), { recursive: true });

  const status = await run(join(BIN, 'cucumber-js'), cucumberArgs, { NODE_OPTIONS: '--import tsx' });

  const table = renderSummaryTable(await readOutcomes(join(REPORTS, 'outcomes.jsonl')));
  await writeFile(join(REPORTS, 'summary.txt'), table + '\n');
  process.stdout.write(`\nAttack outcomes (reports/summary.txt):\n${table}\n\n`);

  if (await ensureJava()) {
    const reportStatus = await run(join(BIN, 'allure'), ['generate', 'reports/allure-results', '-o', 'reports/allure-report', '--clean'], {
      ALLURE_NO_ANALYTICS: 'true',
    });
    if (reportStatus === 0) process.stdout.write('Allure report: reports/allure-report/index.html (npx allure open reports/allure-report)\n');
    else process.stderr.write(`REPORT    ERROR the Allure CLI exited with ${reportStatus}; raw results are in reports/allure-results\n`);
  } else {
    process.stderr.write('REPORT    ERROR no Java runtime for the Allure CLI (install a JRE 17); raw results are in reports/allure-results\n');
  }
  process.stdout.write(`JUnit XML: reports/junit.xml\n`);
  return status;
}

if (import.meta.main) {
  process.exitCode = await conformance(process.argv.slice(2));
}
