/**
 * Small static C helpers for syscalls Node.js cannot make (fanotify, setns,
 * umount2, open_tree/move_mount, loop device ioctls). Compiled on the host
 * with `gcc -static -O2` at prepare time, cached under .lab/native by the
 * hash of the source and the local headers it includes, and copied into the node as plain files. Their sources
 * live next to the component that uses them (`<component>/native/*.c`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LabError } from '../errors.ts';
import { localExec, type Exec } from '../exec.ts';
import type { NodeErrorCode } from './errors.ts';
import { NATIVE_CACHE, nativeOutput, nodeAddonFlags } from './native-cache.ts';


/** Builds under way in this process, by output path: the nodes of one kind cluster are prepared side by side. */
const building = new Map<string, Promise<string>>();

/** Compiles `source` into a static executable (once per source content); returns its path. */
export function compileStatic(source: string, name: string, exec: Exec = localExec): Promise<string> {
  return compileNative(source, name, ['-static', '-O2', '-Wall'], '', exec);
}

/**
 * Compiles `source` into a shared library (once per source content and
 * options); returns its path. For attack tools that must run inside another
 * dynamic program (a library named in /etc/ld.so.preload, or one put in
 * place of a library the program links): built against the host's glibc,
 * which is no newer than the node's. `soname` sets its DT_SONAME; `links`
 * are shared libraries (built here) it names in DT_NEEDED, by their sonames.
 */
export function compileSharedLibrary(source: string, name: string, options: { soname?: string; links?: readonly string[] } = {}, exec: Exec = localExec): Promise<string> {
  const flags = ['-shared', '-fPIC', '-O2', '-Wall', ...(options.soname ? [`-Wl,-soname,${options.soname}`] : [])];
  // After the source, and kept even though no symbol of theirs is used (the loader maps them: that is the point).
  const after = options.links?.length ? ['-Wl,--no-as-needed', ...options.links] : [];
  return compileNative(source, name, flags, '.so', exec, after);
}

/**
 * Compiles `source` into a Node-API addon (`.node`) with the running Node's
 * own headers (once per source content); returns its path. What it loads
 * with process.dlopen; the path is known without building (native-cache.ts).
 */
export function compileNodeAddon(source: string, name: string, exec: Exec = localExec): Promise<string> {
  const { flags, after } = nodeAddonFlags();
  return compileNative(source, name, flags, '.node', exec, after);
}

/**
 * The bytes a build depends on: the source, then each header it includes
 * from its own directory (`#include "x.h"`), so that a change to a shared
 * header rebuilds every program that includes it. Headers that include
 * further local headers are not followed.
 */
export async function buildInputs(source: string): Promise<Buffer> {
  const text = await readFile(source);
  const headers = [...text.toString('utf8').matchAll(/^\s*#\s*include\s+"([^"/]+)"/gm)].map((m) => m[1]!);
  const contents = await Promise.all(headers.map((h) => readFile(join(dirname(source), h))));
  return Buffer.concat([text, ...contents]);
}

async function compileNative(source: string, name: string, flags: string[], suffix: string, exec: Exec, after: string[] = []): Promise<string> {
  const out = nativeOutput(await buildInputs(source), name, flags, after, suffix);
  if (existsSync(out)) return out;
  let build = building.get(out);
  if (!build) {
    build = compileTo(source, name, flags, out, exec, after).finally(() => building.delete(out));
    building.set(out, build);
  }
  return build;
}

async function compileTo(source: string, name: string, flags: string[], out: string, exec: Exec, after: string[]): Promise<string> {
  await mkdir(NATIVE_CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const r = await exec.run(['gcc', ...flags, '-o', tmp, source, ...after], { timeoutMs: 120_000 }).catch((err: unknown) => {
    throw new LabError<NodeErrorCode>('NATIVE_BUILD_FAILED', `cannot run gcc to build ${name} from ${source}: ${(err as Error).message}`, { cause: err });
  });
  if (r.exitCode !== 0) {
    throw new LabError<NodeErrorCode>('NATIVE_BUILD_FAILED', `gcc ${flags.join(' ')} ${source} failed with exit code ${r.exitCode}:\n${r.stderr.trim()}`);
  }
  // Several workers may build at once: the rename makes the result appear whole.
  await rename(tmp, out);
  return out;
}
