/**
 * The node's record of the newest signed release seen per repository, for
 * the gates' rollback check (issue 11 §3): a v2 signature binds a release
 * version (the signing time, lab/signer/binding.ts), and an image older than
 * a release this node already admitted for the same repository is refused,
 * even though its signature is valid: a registry the attacker controls could
 * otherwise serve an older signed release, with its known flaws, under the
 * protected name.
 *
 * Trust boundary: the record is a root-owned file on the node. Root who
 * deletes or rewrites it can roll back; what it protects against is the
 * registry, not root on the node. A record that cannot be read or parsed
 * refuses (a rollback would otherwise pass silently).
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ImageBinding } from '../signer/index.ts';
import { Refusal } from './refusal.ts';

export const VERSION_RECORD = '/var/lib/integrity-lab/image-versions.json';

export interface SeenRelease {
  version: number;
  digest: string;
  /** The reference it was admitted under. */
  name: string;
}

/** Repository path → the newest release admitted for it. */
export type VersionBook = Record<string, SeenRelease>;

export interface VersionRecord {
  /** Throws a Refusal when `binding` is older than the newest release seen for its repository. */
  check(name: string, digest: string, binding: ImageBinding): void;
  /** Records an admitted release if it is the newest for its repository. */
  note(name: string, digest: string, binding: ImageBinding): void;
}

/** The rule itself, over a book held by the caller. */
export function rollbackOf(book: VersionBook, binding: ImageBinding): SeenRelease | undefined {
  const newest = book[binding.repository];
  return newest !== undefined && binding.version < newest.version ? newest : undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function versionRecord(
  path = VERSION_RECORD,
  io: { read(path: string): string | undefined; write(path: string, text: string): void } = {
    read: (p) => {
      try {
        return readFileSync(p, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    write: (p, text) => {
      mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
      writeFileSync(`${p}.tmp`, text, { mode: 0o600 });
      renameSync(`${p}.tmp`, p);
    },
  },
): VersionRecord {
  const load = (): VersionBook => {
    let text: string | undefined;
    try {
      text = io.read(path);
    } catch (err) {
      throw new Refusal(`the record of signed releases ${path} cannot be read (${(err as Error).message}); a rollback could not be seen, so the image is refused`);
    }
    if (text === undefined) return {};
    try {
      const book = JSON.parse(text) as VersionBook;
      if (book === null || typeof book !== 'object' || Array.isArray(book) || Object.values(book).some((r) => typeof r?.version !== 'number' || typeof r.digest !== 'string')) throw new Error('not { "<repository>": { version, digest, name } }');
      return book;
    } catch (err) {
      throw new Refusal(`the record of signed releases ${path} is corrupt (${(err as Error).message}); a rollback could not be seen, so the image is refused`);
    }
  };
  return {
    check(name, digest, binding) {
      const newest = rollbackOf(load(), binding);
      if (newest) {
        throw new Refusal(
          `IMAGE_ROLLBACK: ${name}@${digest} is release ${binding.version} (signed ${iso(binding.version)}) of ${binding.repository}, older than release ${newest.version} (signed ${iso(newest.version)}, ${newest.digest}) this node already admitted; an older signed release is refused`,
        );
      }
    },
    note(name, digest, binding) {
      const book = load();
      const newest = book[binding.repository];
      if (newest !== undefined && newest.version >= binding.version) return;
      book[binding.repository] = { version: binding.version, digest, name };
      io.write(path, JSON.stringify(book, null, 2));
    },
  };
}
