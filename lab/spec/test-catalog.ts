/** For tests: the project's scenarios with one file added or replaced, loaded as the lint loads them. */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog, SpecError } from './loader.ts';

const SCENARIOS = join(import.meta.dirname, '../../scenarios');

/** Resolves with the SpecError the catalog fails with, or undefined when it loads. */
export async function loadScenariosWith(folder: 'attacks' | 'workloads' | 'profiles', file: string, yaml: string): Promise<SpecError | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'il-spec-'));
  try {
    await cp(SCENARIOS, join(dir, 'scenarios'), { recursive: true });
    await mkdir(join(dir, 'scenarios', folder), { recursive: true });
    await writeFile(join(dir, 'scenarios', folder, file), yaml);
    await loadCatalog(join(dir, 'scenarios'));
    return undefined;
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
