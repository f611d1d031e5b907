/**
 * Writes the JSON Schemas of the admission kinds to scenarios/schemas/, from
 * the typebox definitions in schema.ts (the one typed source).
 *
 *   node --import tsx lab/admission/gen-schema.ts [OUT_DIR]
 *
 * `renderSchemas()` is the pure part; a test checks the committed files are
 * what it renders, so the schemas cannot drift from the types.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOCUMENT_SCHEMAS } from './schema.ts';

export const SCHEMA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../scenarios/schemas');

/** File name → JSON text, for every kind. */
export function renderSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const { schema, file } of Object.values(DOCUMENT_SCHEMAS)) {
    const withDialect = { $schema: 'http://json-schema.org/draft-07/schema#', ...(schema as object) };
    out.set(file, JSON.stringify(withDialect, null, 2) + '\n');
  }
  return out;
}

async function main(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const [file, text] of renderSchemas()) {
    await writeFile(join(outDir, file), text);
    process.stdout.write(`wrote ${join(outDir, file)}\n`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(resolve(process.argv[2] ?? SCHEMA_DIR));
}
