/**
 * The native leaf hasher (native/leaves.c): the lowest tree level for
 * sha256 on POSIX threads, which a whole `integrity-lab verity format`
 * process needs to beat veritysetup on two cores (docs/benchmarks.md). It
 * is optional: where it is not built (a lab node, which runs the gate's
 * bundle; a host without gcc) the hasher uses Node's crypto on worker
 * threads, with the same result.
 *
 * Loading only: the CLI builds it (cli.ts, through lab/node/native.ts);
 * this module stays light, since the CLI's start-up pays for every import.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeOutput, nodeAddonFlags } from '../node/native-cache.ts';

export const LEAVES_SOURCE = join(import.meta.dirname, 'native', 'leaves.c');
export const LEAVES_NAME = 'verity-leaves';

export interface NativeLeaves {
  /** See native/leaves.c: hashes data blocks first .. first+count-1 into `out` at the tree layout's entry offsets; throws on a read failure. */
  hashLeaves(
    fd: number,
    first: number,
    count: number,
    blockSize: number,
    salt: Uint8Array,
    saltFirst: boolean,
    out: Uint8Array,
    entrySize: number,
    hashesPerBlock: number,
    hashBlockSize: number,
    threads: number,
  ): void;
}

/** Where the build of the current source goes (it may not exist), or undefined when the source is not here. */
export function nativeLeavesPath(): string | undefined {
  let source: Buffer;
  try {
    source = readFileSync(LEAVES_SOURCE);
  } catch {
    return undefined;
  }
  const { flags, after } = nodeAddonFlags();
  return nativeOutput(source, LEAVES_NAME, flags, after, '.node');
}

let loaded: NativeLeaves | null | undefined;

/** INTEGRITY_LAB_VERITY_NATIVE=0 turns the native hasher off, to compare the two paths (bench/verity-cli.ts). */
export function nativeLeavesWanted(): boolean {
  return process.env.INTEGRITY_LAB_VERITY_NATIVE !== '0';
}

/** The built hasher, loaded once; undefined when it is not built, does not load, or is turned off. */
export function loadNativeLeaves(): NativeLeaves | undefined {
  if (!nativeLeavesWanted()) return undefined;
  if (loaded === undefined) {
    loaded = null;
    try {
      const path = nativeLeavesPath();
      if (path !== undefined && existsSync(path)) {
        const module = { exports: {} as NativeLeaves };
        process.dlopen(module, path);
        if (typeof module.exports.hashLeaves === 'function') loaded = module.exports;
      }
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** After a build: the next loadNativeLeaves looks again. */
export function forgetNativeLeaves(): void {
  if (loaded === null) loaded = undefined;
}
