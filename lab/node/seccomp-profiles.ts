/**
 * The lab's Localhost seccomp profiles: every `scenarios/seccomp/*.json`,
 * on every node of every profile (vanilla too, so the control runs the same
 * pods), under the kubelet's seccomp root, where a pod names one as
 * `localhostProfile: integrity-lab/<file>`. The nodes are provisioned with
 * them as a platform team's node image or operator would, before anything
 * on the node starts; the start gate pins what it finds there at its start
 * (lab/gates/seccomp-reference.ts).
 *
 * Each lab gets its own copy (in its state directory), bound read-only into
 * its nodes: root on a node who remounts it writable writes that copy, never
 * the repository.
 */
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LabError } from '../errors.ts';
import { KUBELET_SECCOMP_ROOT } from '../cri/types.ts';
import type { NodeErrorCode } from './errors.ts';

/** Where the profiles are on a node. */
export const LAB_SECCOMP_DIR = `${KUBELET_SECCOMP_ROOT}/integrity-lab`;
/** Where they come from. */
export const SECCOMP_SOURCE_DIR = join(import.meta.dirname, '../../scenarios/seccomp');

/**
 * Copies the profiles into `<stateDir>/seccomp` and returns that directory.
 * A file that is not a JSON object with a string `defaultAction` stops the
 * lab here, naming it, rather than failing a pod's start later.
 */
export async function stageSeccompProfiles(stateDir: string, source = SECCOMP_SOURCE_DIR): Promise<string> {
  const dir = join(stateDir, 'seccomp');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const names = (await readdir(source).catch(() => [])).filter((n) => n.endsWith('.json')).sort();
  for (const name of names) {
    const file = join(source, name);
    const where = relative(process.cwd(), file) || file;
    let profile: unknown;
    try {
      profile = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new LabError<NodeErrorCode>('NODE_START_FAILED', `${where}: not a seccomp profile: ${(err as Error).message}`, { cause: err });
    }
    if (!profile || typeof profile !== 'object' || Array.isArray(profile) || typeof (profile as { defaultAction?: unknown }).defaultAction !== 'string') {
      throw new LabError<NodeErrorCode>('NODE_START_FAILED', `${where}: not a seccomp profile: a JSON object with a string "defaultAction" (as the OCI runtime spec's linux.seccomp) is needed`);
    }
    await copyFile(file, join(dir, name));
  }
  return dir;
}
