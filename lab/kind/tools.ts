/**
 * kind and kubectl for the host, from Debian's packages: both are installed
 * into the kind node image (from sid), and copied out of it into the cache,
 * never installed into the host. The same kubectl runs inside the nodes.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.ts';
import { localExec } from '../exec.ts';
import { type ProgressListener, silent } from '../progress.ts';
import type { KindErrorCode } from './errors.ts';
import { CACHE_ROOT } from './k8s-build.ts';

export interface KindTools {
  kind: string;
  kubectl: string;
  /** The node image they came from. */
  image: string;
}

/** Copies /usr/bin/kind and /usr/bin/kubectl out of the node image (once per image). */
export async function ensureKindTools(image: string, progress: ProgressListener = silent): Promise<KindTools> {
  const dir = join(CACHE_ROOT, 'tools', image.replace(/[/:]/g, '_'));
  const tools = { kind: join(dir, 'kind'), kubectl: join(dir, 'kubectl'), image };
  if (existsSync(tools.kind) && existsSync(tools.kubectl)) return tools;
  progress({ phase: 'BUILD', status: 'INFO', message: `copying Debian's kind and kubectl out of ${image} into ${dir}` });
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  const created = await localExec.run(['docker', 'create', '--entrypoint', '/bin/true', image]);
  if (created.exitCode !== 0) throw new LabError<KindErrorCode>('KIND_TOOL_MISSING', `cannot read kind and kubectl from ${image}: ${created.stderr.trim()}`);
  const id = created.stdout.toString().trim();
  try {
    for (const bin of ['kind', 'kubectl']) {
      const cp = await localExec.run(['docker', 'cp', '-L', `${id}:/usr/bin/${bin}`, join(partial, bin)]);
      if (cp.exitCode !== 0) {
        throw new LabError<KindErrorCode>('KIND_TOOL_MISSING', `${bin} is missing from the kind node image ${image} (Debian package ${bin}): ${cp.stderr.trim()}`);
      }
    }
  } finally {
    await localExec.run(['docker', 'rm', '-f', id]);
  }
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  return tools;
}
