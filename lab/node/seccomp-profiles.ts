/**
 * The lab's Localhost seccomp profiles: every `scenarios/seccomp/**.json`,
 * on every node of every profile (vanilla too, so the control runs the same
 * pods), at the same relative path under the kubelet's seccomp root, where
 * a pod names it as its `localhostProfile` (`integrity-lab/agent-strict.json`
 * is `scenarios/seccomp/integrity-lab/agent-strict.json`). The nodes are
 * provisioned with them as a platform team's node image or operator would,
 * before anything on the node starts; the start gate and the watchdog pin
 * what they find there (lab/gates/seccomp-reference.ts,
 * lab/watchdog/defences.ts).
 *
 * Each lab gets its own copy (in its state directory), bound read-only over
 * the nodes' seccomp root: root on a node who remounts it writable writes
 * that copy, never the repository.
 */
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { LabError } from '../errors.ts';
import type { NodeErrorCode } from './errors.ts';

/** Where they come from. */
export const SECCOMP_SOURCE_DIR = join(import.meta.dirname, '../../scenarios/seccomp');

/**
 * Copies the profiles into `<stateDir>/seccomp`, keeping their relative
 * paths, and returns that directory. A file that is not a JSON object with a
 * string `defaultAction` stops the lab here, naming it, rather than failing
 * a pod's start later.
 */
export async function stageSeccompProfiles(stateDir: string, source = SECCOMP_SOURCE_DIR): Promise<string> {
  const dir = join(stateDir, 'seccomp');
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const entries = await readdir(source, { recursive: true, withFileTypes: true }).catch(() => []);
  const files = entries.filter((e) => e.isFile() && e.name.endsWith('.json')).map((e) => join(e.parentPath, e.name)).sort();
  for (const file of files) {
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
    const target = join(dir, relative(source, file));
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await copyFile(file, target);
  }
  return dir;
}
