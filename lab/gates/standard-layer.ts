/**
 * The standard read-only mount-points layer: every path the runtime mounts
 * into a container exists here, so a container needs no writable upperdir
 * to receive its mounts. Built reproducibly (fixed time and UUID) into an
 * EROFS image whose dm-verity root hash the node configuration pins.
 */
import type { TarEntry } from '../images/index.ts';

export const STANDARD_LAYER_ENTRIES: TarEntry[] = [
  { type: 'dir', path: '/dev', mode: 0o755 },
  { type: 'file', path: '/dev/termination-log', content: Buffer.alloc(0), mode: 0o644 },
  { type: 'dir', path: '/proc', mode: 0o555 },
  { type: 'dir', path: '/sys', mode: 0o555 },
  { type: 'dir', path: '/run', mode: 0o755 },
  { type: 'dir', path: '/tmp', mode: 0o1777 },
  { type: 'dir', path: '/etc', mode: 0o755 },
  { type: 'file', path: '/etc/hosts', content: Buffer.alloc(0), mode: 0o644 },
  { type: 'file', path: '/etc/hostname', content: Buffer.alloc(0), mode: 0o644 },
  { type: 'file', path: '/etc/resolv.conf', content: Buffer.alloc(0), mode: 0o644 },
  { type: 'dir', path: '/var/run/secrets/kubernetes.io/serviceaccount', mode: 0o755 },
];

/** Where the node keeps the standard layer image. */
export const STANDARD_LAYER_PATH = '/var/lib/integrity-lab/standard-layer.erofs';

/** mkfs.erofs argv: the erofs differ's flags with a fixed time and a cleared UUID, so the image is reproducible. */
export function standardLayerMkfsArgv(tarPath: string, outPath = STANDARD_LAYER_PATH): string[] {
  return ['mkfs.erofs', '--tar=f', '--aufs', '--quiet', '-Enoinline_data', '-T0', '--mkfs-time', '--sort=none', '-Uclear', outPath, tarPath];
}
