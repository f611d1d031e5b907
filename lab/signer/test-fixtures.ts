/**
 * Shared fixtures for this component's tests: a fixed clock, a fixed
 * manifest, and a throwaway PKI in a temp directory that the caller removes.
 * Keys are generated at run time; none is ever written outside the temp dir.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OciManifest } from './manifest.ts';
import { generateLabPki } from './pki.ts';
import type { GeneratePkiOptions, LabPki } from './pki.ts';

export const NOW = new Date('2026-03-01T12:00:00.000Z');
export const clock = (): Date => NOW;
export const at = (iso: string) => (): Date => new Date(iso);

const hex = (c: string): string => c.repeat(64);

/** A two-layer docker schema 2 manifest, like the one in the talk (seed 004). */
export function sampleManifest(): OciManifest {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${hex('c')}`, size: 1469 },
    layers: [
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        digest: `sha256:${hex('1')}`,
        size: 3623807,
        annotations: {
          'io.deckhouse.delivery-kit.build-timestamp': '1750791050',
          'io.deckhouse.delivery-kit.dm-verity-root-hash': hex('d'),
        },
      },
      {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
        digest: `sha256:${hex('2')}`,
        size: 32,
        annotations: {
          'io.deckhouse.delivery-kit.build-timestamp': '1750791050',
          'io.deckhouse.delivery-kit.dm-verity-root-hash': hex('e'),
        },
      },
    ],
    annotations: { 'org.opencontainers.image.title': 'app', 'a.b': 'cd' },
  };
}

export interface TempPki {
  pki: LabPki;
  dir: string;
  cleanup(): Promise<void>;
}

/** A fresh lab PKI in a new temp dir. */
export async function tempPki(options: Partial<GeneratePkiOptions> = {}): Promise<TempPki> {
  const parent = await mkdtemp(join(tmpdir(), 'signer-test-'));
  const dir = join(parent, 'pki');
  const pki = await generateLabPki(dir, { clock, ...options });
  return { pki, dir, cleanup: () => rm(parent, { recursive: true, force: true }) };
}
