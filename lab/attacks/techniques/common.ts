/** Small helpers shared by attack techniques. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../../errors.ts';
import { buildImage } from '../../images/index.ts';
import { nodeMkfsErofsArgv } from '../../signer/index.ts';
import { computeRootHash, DELIVERY_KIT_PARAMS } from '../../verity/index.ts';
import type { ExecSyncResult, RunningPod } from '../../cri/index.ts';
import type { HarnessCommand } from '../outcome.ts';
import type { Attack } from '../../spec/schemas.ts';

export type AttackErrorCode = 'ATTACK_TARGET_NOT_FOUND' | 'ATTACK_PAYLOAD_TOO_LONG' | 'ATTACK_FAILED' | 'ATTACK_SPEC_INCOMPLETE';

export function requirePath(attack: Attack): string {
  const path = attack.spec.target.path;
  if (!path) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": technique ${attack.spec.technique} needs spec.target.path`);
  return path;
}

export function requirePayload(attack: Attack): string {
  const payload = attack.spec.payload;
  if (!payload) throw new LabError<AttackErrorCode>('ATTACK_SPEC_INCOMPLETE', `attack "${attack.metadata.name}": technique ${attack.spec.technique} needs spec.payload`);
  return payload;
}

/**
 * Runs one of the harness's own commands in a container (a read of what the
 * workload sees, a listing before the attack) and records it in `record`,
 * which the technique returns as its `harnessCommands`: the judge then does
 * not count an alert about that process (outcome.ts, harnessCommandOf).
 */
export async function harnessExec(node: Pick<LabNodeHandle, 'cri'>, containerId: string, name: string, argv: string[], record: HarnessCommand[]): Promise<ExecSyncResult> {
  const from = new Date().toISOString();
  try {
    return await node.cri.execSync(containerId, argv);
  } finally {
    record.push({ name, in: 'container', argv, from, to: new Date().toISOString() });
  }
}

/** The running pod of the attack's target workload. */
export function requirePod(pods: ReadonlyMap<string, RunningPod>, attack: Attack): RunningPod {
  const pod = pods.get(attack.spec.target.workload);
  if (!pod) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_TARGET_NOT_FOUND',
      `attack "${attack.metadata.name}" targets workload "${attack.spec.target.workload}", which is not running; running: ${[...pods.keys()].join(', ') || '(none)'}`,
    );
  }
  return pod;
}

import type { LabNodeHandle } from '../../node/index.ts';
import type { Workload } from '../../spec/schemas.ts';

export const EROFS_SNAPSHOTS = '/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots';

/** The content the workload's image declares for `path` (the last layer that has it). */
export function declaredContent(workload: Workload, path: string): Buffer {
  let found: string | undefined;
  for (const layer of workload.spec.image.layers) {
    for (const f of layer.files ?? []) if (f.path === path) found = f.content;
  }
  if (found === undefined) {
    throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `workload "${workload.metadata.name}" declares no file ${path} in its image layers`);
  }
  return Buffer.from(found, 'utf8');
}

/** Like an attacker with root on the node: scan every layer file for the bytes. */
/**
 * The prelude of the techniques that forge a layer of a pulled image: the
 * attack's path and payload, the workload's image pushed and pulled (not
 * started), and the node's layer.erofs that holds the file the attack targets.
 */
export async function pulledLayerOf(node: LabNodeHandle, attack: Attack, workload: Workload) {
  const path = requirePath(attack);
  const payload = requirePayload(attack);
  const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
  const genuine = await node.pushImage(workload.spec.image);
  await node.cri.pullImage(ref);
  const target = await findLayerFileContaining(node, declaredContent(workload, path));
  return { path, payload, ref, genuine, target };
}

export async function findLayerFileContaining(node: LabNodeHandle, bytes: Buffer): Promise<{ layerFile: string; offset: number; content: Buffer }> {
  const list = await node.exec.run(['sh', '-c', `ls ${EROFS_SNAPSHOTS}/*/layer.erofs 2>/dev/null`]);
  for (const layerFile of list.stdout.toString().split('\n').filter(Boolean)) {
    const content = await node.readFile(layerFile);
    const offset = content.indexOf(bytes);
    if (offset >= 0) return { layerFile, offset, content };
  }
  throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `no layer.erofs under ${EROFS_SNAPSHOTS} contains the ${bytes.length} target bytes; was the image pulled?`);
}

/** Writes bytes into a file on the node at an offset, clearing and restoring the immutable flag as a root attacker would. */
export async function writeAsRoot(node: LabNodeHandle, file: string, offset: number, bytes: Buffer): Promise<{ immutableFlagCleared: boolean }> {
  const immutable = /^\S*i\S*\s/.test((await node.exec.run(['lsattr', file])).stdout.toString());
  if (immutable) await node.run(['chattr', '-i', file]);
  try {
    await node.run(['dd', `of=${file}`, 'bs=1', `seek=${offset}`, 'conv=notrunc', 'status=none'], { input: bytes });
  } finally {
    if (immutable) await node.run(['chattr', '+i', file]);
  }
  await node.run(['sh', '-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
  return { immutableFlagCleared: immutable };
}

/** Pads the payload to the original's length, for in-place edits that cannot grow a file. */
export function samePayloadLength(attack: Attack, original: Buffer): Buffer {
  const payload = Buffer.from(requirePayload(attack), 'utf8');
  if (payload.length > original.length) {
    throw new LabError<AttackErrorCode>(
      'ATTACK_PAYLOAD_TOO_LONG',
      `attack "${attack.metadata.name}": the payload is ${payload.length} bytes but the original has ${original.length}; an in-place edit cannot grow the file`,
    );
  }
  const out = Buffer.alloc(original.length, ' '.charCodeAt(0));
  payload.copy(out);
  return out;
}

/** The workload's image with the file at `path` given other content (an attacker's rebuild). */
export function withContent(image: Workload['spec']['image'], path: string, content: string): Workload['spec']['image'] {
  return { ...image, layers: image.layers.map((l) => ({ ...l, files: l.files?.map((f) => (f.path === path ? { ...f, content } : f)) })) };
}

/**
 * Rebuilds, on the node, the layer of the workload's image that holds
 * `path`, with the attacker's content, as containerd's EROFS differ would
 * (same mkfs.erofs flags and UUID). Returns the node path of the file and
 * its dm-verity root hash.
 */
export async function buildForgedLayerFile(
  node: LabNodeHandle,
  workload: Workload,
  path: string,
  payload: string,
  genuineLayers: readonly { digest: string }[],
): Promise<{ outPath: string; rootHash: string }> {
  const busybox = async () => node.readFile('/bin/busybox');
  const forged = await buildImage(withContent(workload.spec.image, path, payload), { busybox });
  const index = workload.spec.image.layers.findIndex((l) => l.files?.some((f) => f.path === path));
  const tarPath = join(node.shareDir, 'forged-layer.tar');
  const outPath = join(node.shareDir, 'forged-layer.erofs');
  await writeFile(tarPath, forged.layerTars[index]!);
  await node.run(['rm', '-f', outPath]);
  await node.run(nodeMkfsErofsArgv({ digest: genuineLayers[index]!.digest, diffId: '' }, outPath, tarPath));
  return { outPath, rootHash: (await computeRootHash(outPath, DELIVERY_KIT_PARAMS)).toString('hex') };
}
