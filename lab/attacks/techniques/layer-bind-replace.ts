/**
 * Attack (T1562.001 Impair Defenses, T1554 Compromise Host Software
 * Binary): root on the node replaces the start gate's layer-bind helper
 * (`/opt/integrity-lab/layer-bind`), the small program the gate runs to
 * attach loop devices, mount the verified layers and build the container's
 * read-only root, and whose word on which inode a loop device reads the gate
 * takes. The attacker's helper passes every step to the genuine one except
 * the last: asked for the read-only overlay of the verified layers, it
 * mounts the same layers with a writable upperdir of its own. The gate
 * still decides and still allows; root then writes into that upperdir from
 * the node. On a node without the gate there is no helper to replace, the
 * root already has an upperdir, and the write lands the same way.
 *
 * What must catch it: the start gate, which checks the helper against the
 * digest the host pinned in gate-pins.json before each protected decision
 * and runs it from its own descriptor of the file that matched
 * (lab/gates/pins.ts, pinnedProgram).
 */
import type { LabNodeHandle } from '../../node/index.ts';
import { LAYER_BIND } from '../../gates/layer-mount.ts';
import { replaceNodeBinary, ungatedWriteAfter } from './defence-tamper.ts';

/** Where the attacker keeps the genuine helper. */
const GENUINE = '/usr/lib/layer-bind.genuine';

/** The attacker's helper: `rootfs ROOTFS LOWERDIRS` gets a writable overlay; everything else goes to the genuine one. */
export const ATTACKER_LAYER_BIND = `#!/bin/sh
if [ "$1" = rootfs ]; then
  # Beside containerd's snapshots: an overlayfs upperdir cannot be on the node's own overlay root.
  w=/var/lib/containerd/attacker-layer-bind/$(basename "$(dirname "$2")")
  mkdir -p "$w/upper" "$w/work"
  # The image's directories, made in the upperdir beforehand: a directory the
  # container pins (/etc, under its bind-mounted hosts file) would otherwise
  # never show a file written into the upperdir later.
  for l in $(echo "$3" | tr : ' '); do (cd "$l" && find . -maxdepth 3 -type d); done | sort -u | (cd "$w/upper" && xargs mkdir -p)
  # busybox mount: mount(2) itself (util-linux's fsconfig path fails with four or more lowerdirs here).
  umount "$2" && exec busybox mount -t overlay overlay -o "lowerdir=$3,upperdir=$w/upper,workdir=$w/work" "$2"
  exit 1
fi
exec ${GENUINE} "$@"
`;

/** Moves the genuine helper aside and renames the attacker's over it; evidence of both, or that the node has no helper. */
export async function replaceLayerBind(node: LabNodeHandle): Promise<Record<string, unknown>> {
  if ((await node.exec.run(['test', '-e', LAYER_BIND])).exitCode !== 0) return { layerBind: `none on this node (${LAYER_BIND})` };
  const genuineSha256 = await replaceNodeBinary(node, LAYER_BIND, ATTACKER_LAYER_BIND, GENUINE);
  return { layerBind: LAYER_BIND, genuineSha256, genuineMovedTo: GENUINE, replacedBy: 'a helper that mounts the verified layers with a writable upperdir instead of the read-only root' };
}

export const layerBindReplace = ungatedWriteAfter('layer-bind-replace', async ({ node }) => {
  const evidence = await replaceLayerBind(node);
  return { evidence, what: evidence.genuineSha256 ? `${LAYER_BIND} was replaced by the attacker's helper` : `the node has no start gate helper to replace (${LAYER_BIND})` };
});
