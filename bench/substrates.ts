/**
 * The suite's wall time on the kind substrate against the node substrate,
 * measured in the same run, one after the other, as users run them:
 * `npm run conformance -- --substrate node|kind [--tags …]`, whole command
 * (lint gate, setup, cucumber-js, report, bundle).
 *
 * Two comparisons:
 * - same scenarios: only those tagged @any-substrate, on both substrates
 *   (the fair ratio: the same Gherkin, a lab node against a kind cluster);
 * - whole suites (`--full`): every scenario each substrate runs (node: all
 *   but @kind; kind: @kind and @any-substrate).
 *
 *   node --import tsx bench/substrates.ts [--full] [--parallel N]
 *
 * Prints one JSON document: per run the wall time, the scenarios passed and
 * failed (from the run's JUnit XML), the load average before and after.
 */
import { spawn } from 'node:child_process';
import { readFile, realpath } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseJunitCases } from '../lab/cli/timings.ts';
import { REPORTS_ROOT } from '../lab/cli/run-dir.ts';

const { values } = parseArgs({ options: { full: { type: 'boolean' }, parallel: { type: 'string' } } });
const ROOT = join(import.meta.dirname, '..');

interface Measured {
  run: string;
  seconds: number;
  passed: number;
  failed: number;
  exitCode: number;
  loadBefore: number;
  loadAfter: number;
  runDir: string;
}

function conformance(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'lab/cli/conformance.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function measure(run: string, args: string[]): Promise<Measured> {
  const loadBefore = loadavg()[0]!;
  const t = performance.now();
  const exitCode = await conformance([...(values.parallel ? ['--parallel', values.parallel] : []), ...args]);
  const seconds = (performance.now() - t) / 1000;
  const runDir = await realpath(join(REPORTS_ROOT, 'latest'));
  const cases = parseJunitCases(await readFile(join(runDir, 'junit.xml'), 'utf8').catch(() => ''));
  return { run, seconds: Math.round(seconds), passed: cases.filter((c) => c.passed).length, failed: cases.filter((c) => !c.passed).length, exitCode, loadBefore, loadAfter: loadavg()[0]!, runDir };
}

const results: Measured[] = [];
results.push(await measure('node, @any-substrate', ['--substrate', 'node', '--tags', '@any-substrate']));
results.push(await measure('kind, @any-substrate', ['--substrate', 'kind', '--tags', '@any-substrate']));
if (values.full) {
  results.push(await measure('node, whole suite', ['--substrate', 'node']));
  results.push(await measure('kind, whole suite', ['--substrate', 'kind']));
}
const [node, kind] = results;
console.log(JSON.stringify({ results, sameScenariosRatio: node && kind ? +(kind.seconds / node.seconds).toFixed(2) : null }, null, 2));
process.exitCode = results.some((r) => r.exitCode !== 0) ? 1 : 0;
