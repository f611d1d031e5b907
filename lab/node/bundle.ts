/**
 * Bundles a component's entry point into one ES module that the node's own
 * Node.js runs, so components are installed as files, with no npm inside the
 * node. Cached under .lab/bundles by the bundle's content hash, and per
 * process by entry point (the sources do not change during a run).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

const ROOT = join(import.meta.dirname, '../..');
const BUNDLE_CACHE = join(ROOT, '.lab', 'bundles');

/** Bundles made by this process, by entry and name: every lab a run starts reuses them. */
const made = new Map<string, Promise<string>>();

export function bundleForNode(entry: string, name: string): Promise<string> {
  const key = `${entry}\0${name}`;
  let bundle = made.get(key);
  if (!bundle) {
    bundle = buildBundle(entry, name);
    made.set(key, bundle);
    // A failed build is not remembered: the next lab tries again and reports its own error.
    bundle.catch(() => made.delete(key));
  }
  return bundle;
}

async function buildBundle(entry: string, name: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    write: false,
    logLevel: 'silent',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const code = result.outputFiles[0]!.contents;
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const path = join(BUNDLE_CACHE, `${name}-${hash}.mjs`);
  if (!existsSync(path)) {
    await mkdir(BUNDLE_CACHE, { recursive: true });
    await writeFile(path, code);
  }
  return path;
}

