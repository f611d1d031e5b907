/**
 * What the dynamic loader maps into the OCI runtime. runc is a dynamic
 * program: its file is pinned (pins.ts pinRuntime), but the loader, the
 * libraries it links (libseccomp, libc) and the loader's cache, which says
 * where each library is, decide what runs in it too. Root who replaces
 * libseccomp's file with one whose constructor undoes the read-only root
 * the gate just mounted has its code run inside `runc create`, while runc's
 * file still matches its pin (`start-gate-runc-library-replaced`).
 *
 * The gate daemon lists these files when it starts, by asking the
 * runtime's own loader (its ELF interpreter, run with `--list`, as ldd
 * does), and pins each; every protected decision checks them against their
 * pins (pins.ts runtimeChecker). The loader variables that could point it
 * elsewhere never reach runc (the wrapper removes them), and the preload
 * list is pinned on its own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { LabError } from '../errors.ts';
import type { GateErrorCode } from './config.ts';
import { LOADER_CACHE, pinNow, type FilePin } from './pins.ts';

const PT_INTERP = 3;

/** The ELF interpreter a 64-bit little-endian program names (PT_INTERP), or undefined for a static one. */
export function elfInterpreter(bytes: Buffer): string | undefined {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 40 > bytes.length) throw new Error('program header table past the end of the file');
    if (bytes.readUInt32LE(at) !== PT_INTERP) continue;
    const offset = Number(bytes.readBigUInt64LE(at + 8));
    const size = Number(bytes.readBigUInt64LE(at + 32));
    if (offset + size > bytes.length) throw new Error('PT_INTERP past the end of the file');
    return bytes.subarray(offset, offset + size).toString('latin1').replace(/\0+$/, '');
  }
  return undefined;
}

/**
 * The files in the loader's `--list` output (as ldd prints it): each
 * `name => /path (0x…)`, and the loader itself as `/path (0x…)`; the vDSO
 * (no file) is left out. A library the loader cannot find is an error.
 */
export function parseLoaderList(text: string): string[] {
  const files: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const arrow = /^(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      if (!arrow[2]!.startsWith('/')) throw new Error(`the loader cannot find ${arrow[1]} (${arrow[2]})`);
      files.push(arrow[2]!);
      continue;
    }
    const own = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (own) files.push(own[1]!);
  }
  return [...new Set(files)];
}

export interface LibraryIo {
  read(path: string): Buffer;
  /** Runs the loader in list mode on the runtime; its standard output. */
  list(interpreter: string, runtime: string): string;
}

const nodeIo: LibraryIo = {
  read: (p) => readFileSync(p),
  list: (interpreter, runtime) => execFileSync(interpreter, ['--list', runtime], { encoding: 'utf8', timeout: 10_000, env: {} }),
};

/**
 * Pins, now, every file the loader maps into `runtime` and its cache: one
 * pin (or the reason it could not be taken) per file. A static runtime has
 * none. If the list cannot be made, the one error refuses every protected
 * decision.
 */
export function pinRuntimeLibraries(runtime: string, now: Date, io: LibraryIo = nodeIo): (FilePin | LabError<GateErrorCode>)[] {
  let files: string[];
  try {
    const interpreter = elfInterpreter(io.read(runtime));
    if (interpreter === undefined) return [];
    files = [...parseLoaderList(io.list(interpreter, runtime)), interpreter, LOADER_CACHE];
  } catch (err) {
    return [new LabError<GateErrorCode>('GATE_PINS_MISSING', `cannot list what the dynamic loader maps into the OCI runtime ${runtime}: ${(err as Error).message}`, { cause: err })];
  }
  return [...new Set(files)].map((f) => pinNow(f, f === LOADER_CACHE ? "the dynamic loader's cache" : 'a file the dynamic loader maps into the OCI runtime', now, (p) => io.read(p)));
}
