/**
 * Where lab/node/native.ts keeps what it compiles: .lab/native, one file
 * per source content and compiler flags. Apart from native.ts so that a
 * caller that only loads a built file (the CLI's verity hasher) finds it
 * without loading the compiler's process runner.
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const NATIVE_CACHE = join(import.meta.dirname, '../..', '.lab', 'native');

/** The path of the build of `source` (its bytes) under `name` with these flags. */
export function nativeOutput(source: Uint8Array, name: string, flags: readonly string[], after: readonly string[], suffix: string): string {
  const hash = createHash('sha256').update(source).update([...flags, '--', ...after].join(' ')).digest('hex').slice(0, 16);
  return join(NATIVE_CACHE, `${name}-${hash}${suffix}`);
}

/** gcc flags for a Node-API addon: the headers that ship with the running Node (include/node beside its bin). */
export function nodeAddonFlags(): { flags: string[]; after: string[] } {
  const include = join(dirname(realpathSync(process.execPath)), '..', 'include', 'node');
  return { flags: ['-shared', '-fPIC', '-O2', '-Wall', '-Wno-deprecated-declarations', `-I${include}`], after: ['-lpthread'] };
}
