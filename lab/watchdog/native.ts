/** The watchdog's static C helpers (built by lab/node/native.ts compileStatic). */
import { join } from 'node:path';

export const NATIVE_SOURCES = {
  mntnotify: join(import.meta.dirname, 'native', 'mntnotify.c'),
  releaseMounts: join(import.meta.dirname, 'native', 'release-mounts.c'),
} as const;
