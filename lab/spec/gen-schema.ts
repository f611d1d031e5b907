/**
 * Writes scenarios/schemas/<Kind>.schema.json from lab/spec/schemas.ts, the
 * one typed source. `npm run gen:schemas`; `--check` fails when a committed
 * schema is out of date (used by lint:features).
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SCHEMAS } from './schemas.ts';

export async function generateSchemas(outDir: string, check: boolean): Promise<string[]> {
  const stale: string[] = [];
  await mkdir(outDir, { recursive: true });
  for (const [kind, schema] of Object.entries(SCHEMAS)) {
    const path = join(outDir, `${kind}.schema.json`);
    const text = JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema }, null, 2) + '\n';
    const current = await readFile(path, 'utf8').catch(() => '');
    if (current === text) continue;
    stale.push(path);
    if (!check) await writeFile(path, text);
  }
  return stale;
}

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const stale = await generateSchemas(join(import.meta.dirname, '../../scenarios/schemas'), check);
  if (check && stale.length) {
    console.error(`out-of-date schemas (run npm run gen:schemas): ${stale.join(', ')}`);
    process.exit(1);
  }
  for (const s of stale) console.log(`wrote ${s}`);
}
