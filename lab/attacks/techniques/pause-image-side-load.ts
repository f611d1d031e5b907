/**
 * Attack (T1525 Implant Internal Image, T1204.003 Malicious Image): root on
 * the node side-loads its own pause image under the node's sandbox image
 * reference with `ctr images import`, which no pull gate sees. Every pod
 * started next, protected ones included, gets a sandbox (the container
 * whose namespaces all the pod's containers join) run from the attacker's
 * image. The forgery is the lab's pause (busybox waiting for a signal) plus
 * a file of the attacker's, which is how the effect is observed.
 *
 * What must catch it: the start gate, which verifies the sandbox of a pod in
 * a protected namespace from its pause image like any protected image
 * (signature, signed layer root hashes, read-only root with no upperdir).
 * The reference is the node's own sandbox image (containerd's `sandbox`
 * setting): the lab's pause on a lab node, the preloaded control-plane pause
 * on a kind node.
 */
import { buildImage } from '../../images/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload } from './common.ts';
import { sideLoad } from './side-load-import.ts';
import { tryStart } from './start.ts';

/** The pod sandbox's init process on the node, from containerd's task list. */
async function sandboxPid(node: LabNodeHandle, sandboxId: string): Promise<number | undefined> {
  const r = await node.run(['ctr', '-n', 'k8s.io', 'tasks', 'ls']);
  const line = r.stdout.toString().split('\n').find((l) => l.startsWith(`${sandboxId} `));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export const pauseImageSideLoad: Technique = {
  name: 'pause-image-side-load',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const ref = node.sandboxImage;
    const tag = ref.slice(ref.lastIndexOf(':') + 1);
    const forged = await buildImage(
      {
        repository: ref.slice(ref.indexOf('/') + 1, ref.lastIndexOf(':')),
        tag,
        layers: [{ busybox: true }, { files: [{ path, content: payload, mode: 0o644 }] }],
        entrypoint: ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
      },
      { busybox: async () => node.readFile('/bin/busybox') },
    );
    const evidence = await sideLoad(node, forged, ref, tag);

    const start = await tryStart(node, workload, pods);
    if (!start.started) {
      return { effect: false, reason: `the pod did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason }, subjects: [forged.manifestDigest] };
    }
    const pid = await sandboxPid(node, start.pod.sandboxId);
    if (pid === undefined) throw new Error(`the sandbox ${start.pod.sandboxId} of ${start.pod.namespace}/${start.pod.name} has no running task on ${node.name}`);
    // Read on the node through /proc: nothing runs in the pod.
    const r = await node.exec.run(['cat', `/proc/${pid}/root${path}`]);
    evidence.sandbox = { id: start.pod.sandboxId, pid };
    evidence.contentSeen = r.exitCode === 0 ? r.stdout.toString() : `(unreadable: ${r.stderr.toString().trim()})`;
    return r.exitCode === 0 && r.stdout.toString() === payload
      ? { effect: true, reason: `the pod ${start.pod.namespace}/${start.pod.name} runs with a sandbox from the side-loaded pause image: its root holds the attacker's ${path}`, evidence, subjects: [forged.manifestDigest] }
      : { effect: false, reason: `the pod runs, but its sandbox's root does not hold the attacker's ${path}`, evidence };
  },
};
