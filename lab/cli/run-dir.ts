/**
 * Each run keeps its results: `reports/runs/<UTC time>-<label>/` holds its
 * Allure results and report, JUnit XML, outcomes, summary and results bundle,
 * and `reports/latest` points at the newest run that ran scenarios. A single
 * feature, or a run stopped by a lint error, never wipes an earlier report.
 *
 * The run directory reaches cucumber-js (cucumber.mjs) and the step support
 * (steps/support/state.ts) through one environment variable.
 */
import { mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

export const RUN_DIR_ENV = 'INTEGRITY_LAB_RUN_DIR';

/** cucumber-js as the running Node runs it (the bundled 24), whatever `node` is first on PATH. */
export const CUCUMBER_JS = [process.execPath, join(import.meta.dirname, '../../node_modules/@cucumber/cucumber/bin/cucumber.js')] as const;

/**
 * The environment cucumber-js needs to load the TypeScript steps. Node 24
 * strips the types itself (the sources keep to erasable syntax), which costs
 * about half of tsx's start per process (a dry run of one feature: 2.2 s
 * against 4.6 s): no esbuild transform, no source maps to read for stack
 * traces (stripping keeps every line and column). tsx only where this Node
 * cannot strip types.
 */
export const CUCUMBER_TS_ENV: Record<string, string> = process.features.typescript ? {} : { NODE_OPTIONS: '--import tsx' };
export const REPORTS_ROOT = join(import.meta.dirname, '../../reports');
const RUNS = 'runs';
/** Older runs beyond this many are removed, oldest first (never the one `latest` points at). */
export const KEEP_RUNS = 20;

/** `20261205-121314-conformance`: sorts by time, readable, safe as a file name. */
export function runDirName(label: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${label.replace(/[^A-Za-z0-9_.-]+/g, '-')}`;
}

/** Creates a fresh run directory (a suffix keeps two runs in the same second apart). */
export async function createRunDir(label: string, reports = REPORTS_ROOT, now = new Date()): Promise<string> {
  const base = join(reports, RUNS, runDirName(label, now));
  for (let n = 0; ; n++) {
    const dir = n === 0 ? base : `${base}.${n}`;
    try {
      await mkdir(join(reports, RUNS), { recursive: true });
      await mkdir(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Points `reports/latest` at `runDir` atomically (a new link renamed over the old one). */
export async function pointLatest(runDir: string, reports = REPORTS_ROOT): Promise<void> {
  const tmp = join(reports, `.latest-${process.pid}`);
  await rm(tmp, { force: true });
  await symlink(relative(reports, runDir), tmp);
  await rename(tmp, join(reports, 'latest'));
}

export async function latestRun(reports = REPORTS_ROOT): Promise<string | undefined> {
  const target = await readlink(join(reports, 'latest')).catch(() => undefined);
  return target === undefined ? undefined : join(reports, target);
}

/** Removes the oldest runs beyond `keep`, sparing the one `latest` points at. Returns what it removed. */
export async function pruneRuns(keep = KEEP_RUNS, reports = REPORTS_ROOT): Promise<string[]> {
  const names = (await readdir(join(reports, RUNS)).catch(() => [] as string[])).sort();
  const latest = await latestRun(reports);
  const doomed = names.slice(0, Math.max(0, names.length - keep)).map((n) => join(reports, RUNS, n)).filter((d) => d !== latest);
  for (const dir of doomed) await rm(dir, { recursive: true, force: true });
  return doomed;
}
