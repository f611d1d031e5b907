/**
 * Attacks by whoever controls the registry a node pulls from (T1525 Implant
 * Internal Image, T1195.002 Compromise Software Supply Chain): every image
 * served is genuinely signed by the lab's trusted roots, so signature and
 * layer checks pass; what is wrong is which image it is.
 *
 * - `registry-serve-other-signed`: another signed image (the vendor's image
 *   of another repository, carrying the attacker's chosen content) is served
 *   under the protected workload's name.
 * - `registry-rollback`: an older signed release of the workload is served
 *   after the node ran the current one (the pod restarted, its image
 *   collected), e.g. a release with a known flaw.
 *
 * What must catch them: the pull gate, from what the v2 signature binds
 * (lab/signer/binding.ts: the repository, and a release version checked
 * against the newest release the node admitted, lab/gates/versions.ts).
 */
import { buildImage, pushBlob, pushImage, type BuiltImage } from '../../images/index.ts';
import { removePod, type RunningPod } from '../../cri/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { registryClient, signImage } from '../../trust/index.ts';
import type { Workload } from '../../spec/schemas.ts';
import type { Technique, TechniqueResult } from '../technique.ts';
import { requirePath, requirePayload, withContent } from './common.ts';
import { readInContainer, tryStart, type StartAttempt } from './start.ts';

/** Builds `image`, pushes it under its repository and tag, and has the lab sign it (v2, as a release is signed). */
async function release(node: LabNodeHandle, image: Workload['spec']['image']): Promise<{ built: BuiltImage; digest: string; bytes: Buffer; mediaType: string }> {
  const built = await buildImage({ ...image, annotations: undefined }, { busybox: async () => node.readFile('/bin/busybox') });
  await pushImage(node.registryUrl, built);
  const signed = await signImage(node, image.repository, image.tag, { format: 'v2' });
  const fetched = await registryClient(node).getManifest(image.repository, signed.digest);
  return { built, digest: signed.digest, bytes: fetched.bytes, mediaType: fetched.mediaType };
}

/** Serves a signed manifest (and its blobs) under the workload's repository and tag, as the registry's owner can. */
async function serveUnder(node: LabNodeHandle, workload: Workload, r: Awaited<ReturnType<typeof release>>): Promise<void> {
  const { repository, tag } = workload.spec.image;
  for (const [digest, data] of r.built.blobs) await pushBlob(node.registryUrl, repository, digest, data);
  await registryClient(node).putManifest(repository, tag, r.bytes, r.mediaType);
}

/** Starts the workload (the node pulls what the registry serves) and reads `path` in it. */
async function startAndRead(node: LabNodeHandle, workload: Workload, pods: Map<string, RunningPod>, path: string, payload: string, what: string, evidence: Record<string, unknown>, subject: string): Promise<TechniqueResult> {
  const start: StartAttempt = await tryStart(node, workload, pods);
  if (!start.started) return { effect: false, reason: `${what}; the pod did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason }, subjects: [subject] };
  const seen = await readInContainer(node, start.pod, path);
  evidence.contentSeen = seen.content.toString();
  return seen.content.toString() === payload
    ? { effect: true, reason: `${what}; the node pulled and runs it: the container reads ${JSON.stringify(payload.trim())} at ${path}`, evidence, subjects: [subject] }
    : { effect: false, reason: `${what}; the container runs but does not read the served image's ${path}`, evidence };
}

export const registryServeOtherSigned: Technique = {
  name: 'registry-serve-other-signed',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const otherRepository = `${workload.spec.image.repository}-lookalike`;
    const other = await release(node, { ...withContent(workload.spec.image, path, payload), repository: otherRepository });
    await serveUnder(node, workload, other);
    const evidence: Record<string, unknown> = { signedFor: otherRepository, servedAs: node.imageRef(workload.spec.image.repository, workload.spec.image.tag), manifestDigest: other.digest };
    return startAndRead(node, workload, pods, path, payload, `the registry serves ${otherRepository}'s signed image (${other.digest}) as ${workload.spec.image.repository}:${workload.spec.image.tag}`, evidence, other.digest);
  },
};

export const registryRollback: Technique = {
  name: 'registry-rollback',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    // The older release: the attacker's payload stands for what that release shipped.
    const older = await release(node, withContent(workload.spec.image, path, payload));
    const current = await release(node, workload.spec.image);
    const evidence: Record<string, unknown> = { olderRelease: older.digest, currentRelease: current.digest };
    // The node runs the current release, then the pod goes and its image is collected.
    const first = await tryStart(node, workload, pods);
    if (!first.started) throw new Error(`the current signed release of ${workload.metadata.name} did not start (${first.stage}): ${first.reason}; the attack needs it to have run`);
    await removePod(node.cri, first.pod);
    pods.delete(workload.metadata.name);
    await node.cri.removeImage(node.imageRef(workload.spec.image.repository, workload.spec.image.tag));
    evidence.ranCurrent = first.pod.containers[0]!.imageRef;
    await serveUnder(node, workload, older);
    return startAndRead(node, workload, pods, path, payload, `the registry serves the older signed release ${older.digest} again under ${workload.spec.image.repository}:${workload.spec.image.tag}`, evidence, older.digest);
  },
};
