/** A /proc made of a map of files, for tests (not exported from the index). */
import type { ProcReader } from './procfs.ts';

export function fakeProc(files: Record<string, string>, links: Record<string, string> = {}): ProcReader {
  return {
    readText: (p) => files[p],
    readLink: (p) => links[p],
    pids: () => [...new Set(Object.keys(files).map((p) => Number(p.split('/')[2])).filter((n) => Number.isInteger(n)))],
    tasks: (pid) => [...new Set(Object.keys(files).filter((p) => p.startsWith(`/proc/${pid}/task/`)).map((p) => Number(p.split('/')[4])).filter((n) => Number.isInteger(n)))],
  };
}
