/**
 * Running a helper only when it is the bytes a defence pinned, and running
 * exactly those bytes.
 *
 * A defence that runs a helper by path (the start gate's layer-bind, the
 * watchdog's fanotify and release-mounts helpers) believes what it says.
 * Root on the node who replaces the helper makes the defence believe a
 * forger. Hashing the path and then running the path leaves a window in
 * which the file can be renamed over; so the helper is opened once, the
 * bytes read through that descriptor are hashed and compared with the pin,
 * and the program run is that descriptor (`/proc/<pid>/fd/<n>`): a file
 * renamed over the path later is not what runs.
 *
 * A write into the very inode between the check and the kernel's exec is
 * not closed (the kernel refuses writes only while the file is being
 * executed); it changes the inode's mtime and ctime, so the next use sees
 * a new identity and hashes again.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, statSync, type BigIntStats } from 'node:fs';
import { equalHex } from './constant-time.ts';

/** A checked helper this process holds open. */
export interface HeldProgram {
  /** What to execute: this process's descriptor of the file that matched the pin. */
  readonly execPath: string;
  /** Device, inode, size, mtime and ctime when it matched. */
  readonly identity: string;
  close(): void;
}

/** When it does not match: `reason` completes "<helper> …", `actual` is the digest found (absent when the file could not be read). */
export type HoldResult = { ok: true; program: HeldProgram } | { ok: false; reason: string; actual?: string };

/** Device, inode, size, mtime and ctime: replacing or editing a file changes at least one of them. */
export function fileIdentity(s: Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

function pathIdentity(path: string): string | undefined {
  try {
    return fileIdentity(statSync(path, { bigint: true }));
  } catch {
    return undefined;
  }
}

/**
 * Opens `path`, hashes what the descriptor reads and keeps it open when the
 * sha256 equals `pinnedSha256`. The reason, when it does not, names the
 * digest found (or why the file could not be read), for the defence's
 * refusal or alert.
 */
export function holdPinnedProgram(path: string, pinnedSha256: string): HoldResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return { ok: false, reason: `cannot be opened (${(err as Error).message})` };
  }
  try {
    const before = fileIdentity(fstatSync(fd, { bigint: true }));
    const actual = createHash('sha256').update(readFileSync(fd)).digest('hex');
    const after = fileIdentity(fstatSync(fd, { bigint: true }));
    if (before !== after) {
      closeSync(fd);
      return { ok: false, reason: 'changed while it was being hashed' };
    }
    if (!equalHex(actual, pinnedSha256)) {
      closeSync(fd);
      return { ok: false, reason: `has sha256 ${actual}, pinned ${pinnedSha256}`, actual };
    }
    let open = true;
    const program: HeldProgram = {
      execPath: `/proc/${process.pid}/fd/${fd}`,
      identity: before,
      close: () => {
        if (open) closeSync(fd);
        open = false;
      },
    };
    return { ok: true, program };
  } catch (err) {
    closeSync(fd);
    return { ok: false, reason: `cannot be read (${(err as Error).message})` };
  }
}

/**
 * One helper's pinned program over time: hashes again only when the path
 * names a file with another identity than the one held (replaced, edited,
 * renamed over), and then holds the new file only if it matches the pin.
 * A mismatch closes what was held: the defence does not go on running the
 * old bytes as if nothing happened, it refuses and says so.
 */
export function pinnedProgramHolder(path: string, pinnedSha256: string): () => HoldResult {
  let held: HeldProgram | undefined;
  return () => {
    if (held && pathIdentity(path) === held.identity) return { ok: true, program: held };
    held?.close();
    held = undefined;
    const result = holdPinnedProgram(path, pinnedSha256);
    if (result.ok) held = result.program;
    return result;
  };
}
