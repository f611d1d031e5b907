/**
 * A deterministic tar writer (POSIX ustar, IEEE Std 1003.1-2001 "pax"
 * interchange format, ustar subset): the same entries always give the same
 * bytes, so the lab's test images have stable digests.
 *
 * Every entry has mtime 0, uid/gid 0 and no user/group names. Parent
 * directories are added implicitly. Entries are written in path order.
 */
import { LabError } from '../errors.ts';

export type TarEntry =
  | { type: 'file'; path: string; content: Buffer; mode?: number }
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function splitName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: '' };
  const cut = path.lastIndexOf('/', 155);
  const prefix = path.slice(0, cut);
  const name = path.slice(cut + 1);
  if (cut <= 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(name) > 100) {
    throw new LabError('TAR_PATH_TOO_LONG', `tar path too long for ustar (name ≤ 100, prefix ≤ 155 bytes): ${path}`);
  }
  return { name, prefix };
}

function header(entry: TarEntry, relPath: string): Buffer {
  const buf = Buffer.alloc(BLOCK, 0);
  const { name, prefix } = splitName(relPath);
  const size = entry.type === 'file' ? entry.content.length : 0;
  const mode = entry.type === 'symlink' ? 0o777 : (entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644));
  buf.write(name, 0, 100, 'utf8');
  buf.write(octal(mode, 8), 100, 8, 'ascii');
  buf.write(octal(0, 8), 108, 8, 'ascii'); // uid
  buf.write(octal(0, 8), 116, 8, 'ascii'); // gid
  buf.write(octal(size, 12), 124, 12, 'ascii');
  buf.write(octal(0, 12), 136, 12, 'ascii'); // mtime
  buf.write('        ', 148, 8, 'ascii'); // checksum placeholder: spaces
  buf.write(entry.type === 'file' ? '0' : entry.type === 'dir' ? '5' : '2', 156, 1, 'ascii');
  if (entry.type === 'symlink') buf.write(entry.target, 157, 100, 'utf8');
  buf.write('ustar\0', 257, 6, 'ascii');
  buf.write('00', 263, 2, 'ascii');
  buf.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return buf;
}

function normalize(path: string): string {
  const parts = path.split('/').filter((p) => p && p !== '.');
  if (parts.includes('..')) throw new LabError('TAR_BAD_PATH', `tar path must not contain "..": ${path}`);
  return parts.join('/');
}

/** Builds a tar archive from the entries, adding missing parent directories. */
export function buildTar(entries: readonly TarEntry[]): Buffer {
  const byPath = new Map<string, TarEntry>();
  for (const entry of entries) {
    const rel = normalize(entry.path);
    if (!rel) continue;
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!byPath.has(dir)) byPath.set(dir, { type: 'dir', path: dir });
    }
    byPath.set(rel, entry);
  }
  const chunks: Buffer[] = [];
  for (const rel of [...byPath.keys()].sort()) {
    const entry = byPath.get(rel)!;
    chunks.push(header(entry, entry.type === 'dir' ? `${rel}/` : rel));
    if (entry.type === 'file') {
      chunks.push(entry.content);
      const pad = (BLOCK - (entry.content.length % BLOCK)) % BLOCK;
      if (pad) chunks.push(Buffer.alloc(pad, 0));
    }
  }
  chunks.push(Buffer.alloc(BLOCK * 2, 0)); // end-of-archive marker
  return Buffer.concat(chunks);
}

export interface TarMember {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  content: Buffer;
}

/**
 * Reads a ustar archive in memory, without extracting anything: the archive
 * may come from anywhere, so paths are only reported, never written to.
 * Checks each header's checksum.
 */
export function readTar(archive: Buffer): TarMember[] {
  const members: TarMember[] = [];
  let off = 0;
  const text = (start: number, len: number) => archive.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
  while (off + BLOCK <= archive.length) {
    const h = archive.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    const stored = parseInt(text(off + 148, 8).trim(), 8);
    if (stored !== sum) throw new LabError('TAR_BAD_HEADER', `tar header at byte ${off}: checksum ${stored}, computed ${sum}`);
    const size = parseInt(text(off + 124, 12).trim() || '0', 8);
    const prefix = text(off + 345, 155);
    const name = text(off, 100);
    const flag = String.fromCharCode(h[156]!);
    const type = flag === '0' || flag === '\0' ? 'file' : flag === '5' ? 'dir' : flag === '2' ? 'symlink' : 'other';
    const start = off + BLOCK;
    if (start + size > archive.length) throw new LabError('TAR_TRUNCATED', `tar member ${prefix ? `${prefix}/` : ''}${name} needs ${size} bytes, the archive ends first`);
    members.push({ path: (prefix ? `${prefix}/${name}` : name).replace(/\/$/, ''), type, content: archive.subarray(start, start + size) });
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return members;
}
