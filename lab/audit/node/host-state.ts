/**
 * Host-wide audit state that labs change and must put back: kernel
 * auditing turned on, the backlog limit raised. Each change leaves a marker
 * file in the host's audit state directory (layout.ts HOST_FILES) holding
 * what was there before; the last lab's cleanup in the sidecar
 * (daemon-main.ts) and the reaper on the host (sidecar.ts) both restore
 * from those markers, each running auditctl its own way.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandResult } from './daemon.ts';
import { HOST_FILES } from './layout.ts';

/**
 * Puts back the host-wide state labs changed, once no lab rule is left:
 * auditing off if a lab turned it on, the backlog limit a lab raised.
 */
export async function restoreHostAudit(
  hostDir: string,
  runAuditctl: (args: readonly string[]) => Promise<CommandResult>,
): Promise<{ disabled: boolean; backlogRestored?: number }> {
  const out: { disabled: boolean; backlogRestored?: number } = { disabled: false };
  const marker = join(hostDir, HOST_FILES.enabledMarker);
  if (existsSync(marker) && (await runAuditctl(['-e', '0'])).exitCode === 0) {
    rmSync(marker, { force: true });
    out.disabled = true;
  }
  const backlogMarker = join(hostDir, HOST_FILES.backlogMarker);
  if (existsSync(backlogMarker)) {
    let before: unknown;
    try {
      before = (JSON.parse(readFileSync(backlogMarker, 'utf8')) as { backlogBefore?: unknown }).backlogBefore;
    } catch {
      // A marker that cannot be read says nothing about the old limit: leave the raised one.
    }
    if (typeof before === 'number' && Number.isInteger(before) && before > 0 && (await runAuditctl(['-b', String(before)])).exitCode === 0) {
      out.backlogRestored = before;
    }
    rmSync(backlogMarker, { force: true });
  }
  return out;
}

