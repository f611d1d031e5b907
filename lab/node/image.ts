/**
 * The lab node image: built once per recipe, cached by a content hash of the
 * recipe (lab/node/recipe), so that a second run reuses it.
 *
 * Two ways to build, same result:
 * - `docker build` of recipe/Dockerfile, when a debian:sid base image is
 *   already present in the engine (we never pull from a public registry);
 * - otherwise `debootstrap sid` from the host's own Debian mirror, then
 *   `docker import`. This is the path on a runner with no registry access.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, mkdtemp } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { LabError } from '../errors.ts';
import { localExec, type Exec } from '../exec.ts';
import { type ProgressListener, silent } from '../progress.ts';
import { runStreamed } from '../streamed-exec.ts';
import type { NodeErrorCode } from './errors.ts';
import { findDebianMirror } from './mirror.ts';

export const RECIPE_DIR = join(import.meta.dirname, 'recipe');
export const NODE_IMAGE_REPO = 'integrity-lab/node';
const BASE_IMAGE = 'debian:sid';
const ENTRYPOINT = '/usr/local/sbin/lab-node-init';

/** Every file below `dir`, recursively (for recipe hashes). */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out;
}

/** sha256 over every recipe file's relative path, executable bit and content. */
export async function recipeHash(dir = RECIPE_DIR): Promise<string> {
  const hash = createHash('sha256');
  for (const path of (await listFiles(dir)).sort()) {
    const mode = (await stat(path)).mode & 0o111 ? 'x' : '-';
    hash.update(`${relative(dir, path)}\0${mode}\0`);
    hash.update(await readFile(path));
    hash.update('\0');
  }
  return hash.digest('hex');
}

export async function nodeImageTag(dir = RECIPE_DIR): Promise<string> {
  return `${NODE_IMAGE_REPO}:${(await recipeHash(dir)).slice(0, 16)}`;
}

/** Whether the engine has the image `ref` locally (nothing is pulled). */
export async function imageExists(exec: Exec, ref: string): Promise<boolean> {
  const r = await exec.run(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 30_000 });
  return r.exitCode === 0;
}

/** Runs a long build command with throttled progress; a failure names the command, exit code and tail. */
function runWithProgress(
  argv: string[],
  progress: ProgressListener,
  label: string,
  options: { input?: NodeJS.ReadableStream } = {},
): Promise<string[]> {
  return runStreamed<NodeErrorCode>(argv, { progress, phase: 'BUILD', label, errorCode: 'IMAGE_BUILD_FAILED', input: options.input });
}

/** Unmounts anything debootstrap may have left mounted below `dir`, deepest first. */
async function unmountBelow(dir: string, exec: Exec): Promise<void> {
  const mounts = (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await exec.run(['umount', '-l', m]);
}

async function bootstrapAndImport(tag: string, progress: ProgressListener, exec: Exec): Promise<void> {
  for (const tool of ['debootstrap', 'tar']) {
    const r = await exec.run(['sh', '-c', `command -v ${tool}`]);
    if (r.exitCode !== 0) {
      if (tool === 'debootstrap' && process.getuid?.() === 0) {
        progress({ phase: 'BUILD', status: 'INFO', message: 'installing debootstrap with apt (needed to build the node image offline)' });
        const inst = await exec.run(['apt-get', '-o', 'Acquire::Check-Valid-Until=false', 'install', '-y', 'debootstrap'], {
          env: { DEBIAN_FRONTEND: 'noninteractive' },
          timeoutMs: 300_000,
        });
        if (inst.exitCode === 0) continue;
      }
      throw new LabError<NodeErrorCode>(
        'IMAGE_BUILD_FAILED',
        `cannot build the node image: ${tool} is not installed (apt-get install ${tool}), and no ${BASE_IMAGE} base image is available to the engine`,
      );
    }
  }
  const mirror = await findDebianMirror();
  const work = await mkdtemp('/var/tmp/integrity-lab-rootfs-');
  const rootfs = join(work, 'rootfs');
  try {
    progress({ phase: 'BUILD', status: 'INFO', message: `bootstrapping Debian sid from the host's mirror into ${rootfs} (about 1 minute)` });
    await runWithProgress(['sh', join(RECIPE_DIR, 'bootstrap.sh'), mirror, rootfs], progress, 'debootstrap');
    const tar = spawn('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await runWithProgress(
      ['docker', 'import', '--change', `ENTRYPOINT ["${ENTRYPOINT}"]`, '--message', 'integrity-lab node image', '-', tag],
      progress,
      'docker import',
      { input: tar.stdout },
    );
  } finally {
    await unmountBelow(work, exec);
    await exec.run(['rm', '-rf', '--one-file-system', work]);
  }
}

export interface NodeImage {
  tag: string;
  /** True when this call built it; false when the cached image was reused. */
  built: boolean;
  method: 'cache' | 'dockerfile' | 'debootstrap';
}

/** Returns the node image for the current recipe, building it if needed. */
export async function ensureNodeImage(progress: ProgressListener = silent, exec: Exec = localExec): Promise<NodeImage> {
  const tag = await nodeImageTag();
  if (await imageExists(exec, tag)) {
    progress({ phase: 'BUILD', status: 'INFO', message: `node image ${tag} is cached` });
    return { tag, built: false, method: 'cache' };
  }
  const started = performance.now();
  progress({ phase: 'BUILD', status: 'RUN', message: `node image ${tag}` });
  let method: NodeImage['method'];
  try {
    if (await imageExists(exec, BASE_IMAGE)) {
      method = 'dockerfile';
      await runWithProgress(['docker', 'build', '-t', tag, RECIPE_DIR], progress, 'docker build');
    } else {
      method = 'debootstrap';
      await bootstrapAndImport(tag, progress, exec);
    }
  } catch (err) {
    progress({ phase: 'BUILD', status: 'ERROR', message: `node image ${tag}`, elapsedMs: performance.now() - started });
    throw err;
  }
  progress({ phase: 'BUILD', status: 'OK', message: `node image ${tag} (${method})`, elapsedMs: performance.now() - started });
  return { tag, built: true, method };
}
