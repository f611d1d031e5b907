/**
 * Gate-side pinning (issue 11 §4, T1562.001 Impair Defenses). The gates
 * read their configuration and trusted roots on every decision; root on the
 * node who edits gates.json (a protected namespace removed) or appends a CA
 * to trusted-roots.pem would otherwise switch them off, or make them admit
 * an image the attacker signed, with no trace.
 *
 * The host, which wrote those files into the node, also writes their sha256
 * (gate-pins.json, root-only). The gate daemon loads the pins once, when it
 * starts, and every read of a pinned file goes through `pinnedReader`: the
 * bytes the gate then parses are the bytes it hashed, and bytes that differ
 * from the pin are refused, naming the file and both digests. The gate
 * fails closed: no decision is made on a changed file, and without pins
 * every decision is refused.
 *
 * Trust boundary: the pins live on the node. Root who edits a pinned file,
 * then the pin file, then restarts the gate daemon gets the edited file
 * believed; that takes three steps instead of one, and the watchdog pins
 * these files too (lab/watchdog/defences.ts). Only a check from outside the
 * node (attestation) closes it; the lab has none.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { equalHex } from '../constant-time.ts';
import { fileIdentity, pinnedProgramHolder } from '../pinned-program.ts';
import { LabError } from '../errors.ts';
import type { GateErrorCode } from './config.ts';

export const GATE_PINS_PATH = '/etc/integrity-lab/gate-pins.json';

export interface GatePins {
  /** When the host took the pins (lab start). */
  pinnedAt: string;
  /** Absolute path → sha256 (hex) of the bytes the host wrote. */
  files: Record<string, string>;
}

/** Reads a file the gate depends on; throws when it cannot be trusted. */
export type DefenceReader = (path: string) => Buffer;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The pins of the files the host is about to write. */
export function pinFiles(files: readonly { path: string; content: string | Uint8Array }[], now: Date): GatePins {
  return { pinnedAt: now.toISOString(), files: Object.fromEntries(files.map((f) => [f.path, sha256(typeof f.content === 'string' ? Buffer.from(f.content) : f.content)])) };
}

export function parseGatePins(text: string, source = GATE_PINS_PATH): GatePins {
  let data: Partial<GatePins>;
  try {
    data = JSON.parse(text) as Partial<GatePins>;
  } catch (err) {
    throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `${source}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const files = data?.files;
  const problems: string[] = [];
  if (typeof data?.pinnedAt !== 'string') problems.push(`pinnedAt: expected an ISO time, got ${JSON.stringify(data?.pinnedAt)}`);
  if (!files || typeof files !== 'object' || Array.isArray(files) || Object.keys(files).length === 0) problems.push(`files: expected { "<absolute path>": "<sha256>" } with at least one file, got ${JSON.stringify(files)}`);
  else {
    for (const [path, digest] of Object.entries(files)) {
      if (!path.startsWith('/')) problems.push(`files: "${path}" is not an absolute path`);
      if (typeof digest !== 'string' || !/^[0-9a-f]{64}$/.test(digest)) problems.push(`files["${path}"]: expected 64 hex digits, got ${JSON.stringify(digest)}`);
    }
  }
  if (problems.length) throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `${source}: ${problems.join('; ')}`);
  return data as GatePins;
}

/** The pins, or why there are none (every decision is then refused). */
export function loadGatePins(path = GATE_PINS_PATH, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): GatePins | LabError<GateErrorCode> {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    return new LabError<GateErrorCode>('GATE_PINS_MISSING', `${path}: cannot read the gate's pins: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseGatePins(text, path);
  } catch (err) {
    return err as LabError<GateErrorCode>;
  }
}

/**
 * A reader that returns a pinned file's bytes only when they hash to the
 * pin. Files that are not pinned are read as they are.
 */
export function pinnedReader(pins: GatePins | Error, read: (path: string) => Buffer = (p) => readFileSync(p)): DefenceReader {
  return (path) => {
    if (pins instanceof Error) {
      throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `the gate has no pins for its configuration and trusted roots (${pins.message}), so it refuses every decision`, { cause: pins });
    }
    const bytes = read(path);
    const pinned = pins.files[path];
    if (pinned === undefined) return bytes;
    const actual = sha256(bytes);
    if (!equalHex(actual, pinned)) {
      throw new LabError<GateErrorCode>(
        'GATE_DEFENCE_CHANGED',
        `${path} changed since the lab pinned it at ${pins.pinnedAt}: sha256 ${pinned} → ${actual}; the gate refuses every decision until it is restored`,
      );
    }
    return bytes;
  };
}

/** Whether an error is a pin refusal (its message is the whole reason). */
export function isPinRefusal(err: unknown): err is LabError<GateErrorCode> {
  return err instanceof LabError && (err.code === 'GATE_DEFENCE_CHANGED' || err.code === 'GATE_PINS_MISSING');
}

/** A file's digest as pinned: by the daemon when it starts (the runtime), or by the host (gate-pins.json). */
export interface FilePin {
  path: string;
  sha256: string;
  pinnedAt: string;
}

/**
 * The OCI runtime the start gate hands a container over to (the wrapper
 * execs `/usr/bin/runc` once the gate allowed). The gate's decision is only
 * worth what runs after it: root who replaces runc (T1554) gets every
 * protected container handed to its own code, which can undo the read-only
 * root the gate just mounted. The daemon therefore hashes the runtime when
 * it starts, and every protected decision checks the runtime against that
 * pin first.
 *
 * Trust boundary: the pin is taken by the daemon from the node it starts
 * on, and the wrapper execs runc by path after the check (a swap in that
 * window is not seen). Root who replaces runc and restarts the daemon is
 * believed by the gate; the watchdog's lab-start pins still report runc
 * (lab/watchdog/defences.ts).
 */
export type RuntimePin = FilePin;

/** Hashes the runtime now; the error says why it could not be pinned (every protected decision is then refused). */
export function pinRuntime(path: string, now: Date, read: (path: string) => Buffer = (p) => readFileSync(p)): RuntimePin | LabError<GateErrorCode> {
  return pinNow(path, 'the OCI runtime', now, read);
}

/** Hashes a file the daemon pins itself when it starts (the runtime, the hold's interpreter); the error says why it could not. */
export function pinNow(path: string, what: string, now: Date, read: (path: string) => Buffer = (p) => readFileSync(p)): FilePin | LabError<GateErrorCode> {
  try {
    return { path, sha256: sha256(read(path)), pinnedAt: now.toISOString() };
  } catch (err) {
    return new LabError<GateErrorCode>('GATE_PINS_MISSING', `cannot pin ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Checks that `path` is the pinned runtime, with the pinned bytes; throws a pin refusal otherwise. */
export type RuntimeCheck = (path: string) => void;

/** How a pin check reads a file and tells whether it may have changed. */
export interface PinIo {
  read?: (path: string) => Buffer;
  /** Device, inode, size, mtime and ctime: a replaced or edited file always changes one of them. */
  identity?: (path: string) => string;
}

/**
 * Checks a file against its pin and returns the identity it had when its
 * bytes matched. It hashes the file again only when that identity differs
 * from the last one that matched. `what` names the file in refusals ("the
 * OCI runtime").
 */
function pinVerifier(pin: FilePin | Error, what: string, io: PinIo = {}): (path: string) => string {
  const read = io.read ?? ((p: string) => readFileSync(p));
  const identity = io.identity ?? ((p: string) => fileIdentity(statSync(p, { bigint: true })));
  let matched: string | undefined;
  return (path) => {
    if (pin instanceof Error) {
      throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `the gate has no pin of ${what} (${pin.message}), so it refuses every protected container`, { cause: pin });
    }
    if (path !== pin.path) {
      throw new LabError<GateErrorCode>('GATE_DEFENCE_CHANGED', `${what} is ${path}, but the gate pinned ${pin.path} at ${pin.pinnedAt}; the gate refuses protected containers`);
    }
    let id: string;
    let bytes: Buffer;
    try {
      id = identity(path);
      if (id === matched) return id;
      bytes = read(path);
    } catch (err) {
      throw new LabError<GateErrorCode>('GATE_DEFENCE_CHANGED', `${what} ${path} cannot be read (${(err as Error).message}); the gate refuses protected containers`, { cause: err });
    }
    const actual = sha256(bytes);
    if (!equalHex(actual, pin.sha256)) {
      matched = undefined;
      throw new LabError<GateErrorCode>(
        'GATE_DEFENCE_CHANGED',
        `${what} ${path} changed since the gate pinned it at ${pin.pinnedAt}: sha256 ${pin.sha256} → ${actual}; the gate refuses protected containers until it is restored`,
      );
    }
    matched = id;
    return id;
  };
}

/**
 * The dynamic loader's preload list. runc is a dynamic program: a library
 * named in /etc/ld.so.preload is mapped into it and runs before runc's own
 * code, while runc's file still matches its pin; such a library can undo
 * the read-only root the gate just mounted (`start-gate-runc-preloaded`).
 * The daemon reads the list (normally absent) when it starts, as it pins
 * the runtime, and every protected decision compares it with that.
 *
 * The environment is the wrapper's to clean (checkRuntimeEnvironment);
 * the libraries runc links, the loader and its cache are pinned when the
 * daemon starts too (runtime-libraries.ts). Not covered: a swap of any of
 * these between the gate's check and the wrapper's exec of runc.
 */
export const LOADER_PRELOAD = '/etc/ld.so.preload';

/** Where the loader looks a library's path up (written by ldconfig); pinned with the runtime's libraries (runtime-libraries.ts). */
export const LOADER_CACHE = '/etc/ld.so.cache';

export interface PreloadPin {
  path: string;
  /** The list's text when pinned; undefined when there was no list. */
  text: string | undefined;
  pinnedAt: string;
}

/** The preload list's text, or undefined when there is none. */
export type PreloadRead = (path: string) => string | undefined;

const readPreload: PreloadRead = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
};

/** Reads the preload list now; the error says why it could not (every protected decision is then refused). */
export function pinPreload(now: Date, read: PreloadRead = readPreload, path = LOADER_PRELOAD): PreloadPin | LabError<GateErrorCode> {
  try {
    return { path, text: read(path), pinnedAt: now.toISOString() };
  } catch (err) {
    return new LabError<GateErrorCode>('GATE_PINS_MISSING', `cannot read the dynamic loader's preload list ${path}: ${(err as Error).message}`, { cause: err });
  }
}

const describePreload = (text: string | undefined) => (text === undefined ? 'no list' : `a list naming ${JSON.stringify(text.trim().slice(0, 200))}`);

/**
 * A RuntimeCheck against the daemon's pin of the runtime, of the loader's
 * preload list when given, and of each file the loader maps into the
 * runtime (runtime-libraries.ts pinRuntimeLibraries) when given.
 */
export function runtimeChecker(
  pin: RuntimePin | Error,
  io: PinIo = {},
  preload?: { pin: PreloadPin | Error; read?: PreloadRead },
  loaded: readonly (FilePin | Error)[] = [],
): RuntimeCheck {
  const verify = pinVerifier(pin, 'the OCI runtime', io);
  const whatOf = (p: FilePin | Error) => (!(p instanceof Error) && p.path === LOADER_CACHE ? "the dynamic loader's cache" : 'a file the dynamic loader maps into the OCI runtime');
  const verifyLoaded = loaded.map((p) => ({ path: p instanceof Error ? '' : p.path, verify: pinVerifier(p, whatOf(p), io) }));
  const read = preload?.read ?? readPreload;
  return (path) => {
    verify(path);
    for (const l of verifyLoaded) l.verify(l.path);
    if (!preload) return;
    const pinned = preload.pin;
    if (pinned instanceof Error) {
      throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `the gate has no record of the dynamic loader's preload list (${pinned.message}), so it refuses every protected container`, { cause: pinned });
    }
    let now: string | undefined;
    try {
      now = read(pinned.path);
    } catch (err) {
      throw new LabError<GateErrorCode>('GATE_DEFENCE_CHANGED', `the dynamic loader's preload list ${pinned.path} cannot be read (${(err as Error).message}); the gate refuses protected containers`, { cause: err });
    }
    if (now !== pinned.text) {
      throw new LabError<GateErrorCode>(
        'GATE_DEFENCE_CHANGED',
        `the dynamic loader's preload list ${pinned.path} changed since the gate pinned it at ${pinned.pinnedAt}: ${describePreload(pinned.text)} → ${describePreload(now)}; a library named there runs inside the OCI runtime, so the gate refuses protected containers until it is restored`,
      );
    }
  };
}

/**
 * What containerd sets for itself, and so for every shim: its `opt` plugin
 * (managed binaries and libraries under /opt/containerd) prepends its
 * library directory to an empty LD_LIBRARY_PATH. The wrapper removes it
 * too, so runc never searches that directory; it is no sign of an attack.
 */
export const CONTAINERD_OPT_LIBRARY_PATH = 'LD_LIBRARY_PATH=/opt/containerd/lib:';

/**
 * The runtime's environment. The runtime wrapper inherits containerd's
 * environment through the shim: root who restarts containerd with
 * `LD_PRELOAD` (or another loader variable) set has its library run inside
 * every runc, the same as a preload list (`start-gate-runc-env-preload`).
 * The wrapper removes these variables before it runs runc and reports what
 * it found (lab/gates/native/gate-client.c); a protected container is
 * refused when there were any but containerd's own, because the node's
 * container runtime is no longer the one the gate was started with.
 */
export function checkRuntimeEnvironment(loaderVariables: readonly string[]): void {
  const foreign = loaderVariables.filter((v) => v !== CONTAINERD_OPT_LIBRARY_PATH);
  if (foreign.length === 0) return;
  const shown = foreign.map((v) => JSON.stringify(v.slice(0, 200))).join(', ');
  throw new LabError<GateErrorCode>(
    'GATE_DEFENCE_CHANGED',
    `the OCI runtime was started with the dynamic loader's variables ${shown} in its environment (inherited from containerd through the shim); a library named there runs inside the runtime, so the gate refuses protected containers (the wrapper removes them before runc runs)`,
  );
}

/** The loader variables the runtime wrapper sent after a `create` request's arguments: NUL-terminated entries. */
export function parseLoaderVariables(bytes: Buffer): string[] {
  return bytes.toString('utf8').split('\0').filter(Boolean);
}

/**
 * The program to run for a helper the gate runs itself; throws a pin
 * refusal when the helper is not the pinned bytes.
 */
export type PinnedProgram = () => string;

/**
 * A helper the gate runs itself and believes (the start gate's layer-bind,
 * whose loop status says which inode a device reads), pinned by the host in
 * gate-pins.json. Root who replaced it could make the gate mount forged
 * bytes while the helper reports the verified inode, or stack a writable
 * overlay on the root it was asked to make read-only (T1554).
 *
 * The program run is the daemon's own descriptor of the file whose bytes,
 * read through that descriptor, matched the pin (lab/pinned-program.ts);
 * it is hashed again whenever the path names a file with another identity.
 * Without pins, or with the helper not among them, every use is refused.
 */
export function pinnedProgram(path: string, pins: GatePins | Error, what: string): PinnedProgram {
  if (pins instanceof Error) return pinnedProgramOf(pins, what);
  const pinned = pins.files[path];
  if (pinned === undefined) {
    return () => {
      throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `the gate has no pin of ${what}: ${path} is not among the pins the host wrote at ${pins.pinnedAt}, so it refuses every protected container`);
    };
  }
  return pinnedProgramOf({ path, sha256: pinned, pinnedAt: pins.pinnedAt }, what);
}

/** A PinnedProgram for one file's pin, the host's or the daemon's own (pinNow); with no pin, every use is refused. */
export function pinnedProgramOf(pin: FilePin | Error, what: string): PinnedProgram {
  if (pin instanceof Error) {
    return () => {
      throw new LabError<GateErrorCode>('GATE_PINS_MISSING', `the gate has no pin of ${what} (${pin.message}), so it refuses every protected container`, { cause: pin });
    };
  }
  const hold = pinnedProgramHolder(pin.path, pin.sha256);
  return () => {
    const held = hold();
    if (held.ok) return held.program.execPath;
    throw new LabError<GateErrorCode>(
      'GATE_DEFENCE_CHANGED',
      held.actual === undefined
        ? `${what} ${pin.path} ${held.reason}; the gate refuses protected containers`
        : `${what} ${pin.path} changed since the gate pinned it at ${pin.pinnedAt}: sha256 ${pin.sha256} → ${held.actual}; the gate refuses protected containers until it is restored`,
    );
  };
}
