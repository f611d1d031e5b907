/**
 * The lab node image, for tests that check the lab's code against the real
 * peer in a one-off container of it (auditctl, the kernel): undefined when
 * there is no Docker engine or no image yet (any lab run builds it), or
 * when INTEGRITY_LAB_SKIP_DOCKER=1, so that such tests skip and say why.
 */
import { localExec } from '../exec.ts';

export async function builtNodeImage(): Promise<string | undefined> {
  if (process.env.INTEGRITY_LAB_SKIP_DOCKER === '1') return undefined;
  try {
    const r = await localExec.run(['docker', 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', 'integrity-lab/node'], { timeoutMs: 15_000 });
    return r.exitCode === 0 ? r.stdout.toString().split('\n').find(Boolean) : undefined;
  } catch {
    return undefined;
  }
}
