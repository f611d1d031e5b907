/**
 * What the attacks on the controls themselves share (issue 11 §4, T1562.001
 * Impair Defenses): the files root on the node edits to switch the node
 * gates off, and the rest of each attack, the same in all of them: start the
 * protected workload, which then runs on containerd's own root with a
 * writable upperdir, and write into that upperdir from the node. On a node
 * without the gates there is nothing to switch off and the write lands the
 * same way.
 *
 * The watchdog is given its grace period before the outcome is judged: it
 * recognises an ungated container from the node's mount table.
 */
import { buildImage, pushImage } from '../../images/index.ts';
import { awaitWatchdogAlerts, watchdogGraceMs } from '../../watchdog/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Workload } from '../../spec/schemas.ts';
import type { TechniqueName } from '../../spec/schemas.ts';
import type { Technique, TechniqueContext, TechniqueResult } from '../technique.ts';
import { requirePath, requirePayload, withContent } from './common.ts';
import { readInContainer, tryStart } from './start.ts';
import { runShellAsEntrypoint } from './startup-shell.ts';
import { poll } from '../../wait.ts';
import { upperdirWrite } from './upperdir-write.ts';

export const GATES_JSON = '/etc/integrity-lab/gates.json';
export const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
export const RUNTIME_WRAPPER = '/usr/local/bin/integrity-runc';
/** The roots the node gates and the watchdog check signatures against. */
export const TRUSTED_ROOTS_FILES = ['/etc/integrity-lab/trusted-roots.pem', '/etc/integrity-lab/watchdog/trusted-roots.pem'];

/** A wrapper that does what the start gate's wrapper must do for runc to work, and nothing else. */
export const PASS_THROUGH_WRAPPER = '#!/bin/sh\nexec /usr/bin/runc "$@"\n';

/**
 * Pulls the pod's images (the sandbox image and the workload's) while the
 * gates are intact, as they are on a node where the workload ran before:
 * the tampering that follows then meets the start path, not a pull. A
 * sandbox image the node already holds is not pulled again (a kind node's
 * pause image is preloaded and pinned, and no registry serves it).
 */
export async function pullBeforeTampering(node: LabNodeHandle, workload: Workload): Promise<string[]> {
  const refs = [node.sandboxImage, node.imageRef(workload.spec.image.repository, workload.spec.image.tag)];
  for (const ref of refs) if (ref !== node.sandboxImage || !(await node.cri.imageStatus(ref))) await node.cri.pullImage(ref);
  return refs;
}

/** Writes a node file as root (its mode is kept). */
export async function writeNodeText(node: LabNodeHandle, path: string, text: string): Promise<void> {
  await node.run(['sh', '-c', 'cat > "$1"', 'sh', path], { input: Buffer.from(text) });
}

/** The node file's text, or undefined when it does not exist (a node without that defence). */
export async function readNodeText(node: LabNodeHandle, path: string): Promise<string | undefined> {
  const r = await node.exec.run(['cat', path]);
  return r.exitCode === 0 ? r.stdout.toString() : undefined;
}

/**
 * Replaces a node binary as a package upgrade would: the genuine file is kept
 * at `keepAt` (for the attacker's own use), and a new file with `text` is
 * renamed over `path`. Returns the genuine file's sha256; throws when the
 * path does not read `text` afterwards.
 */
export async function replaceNodeBinary(node: LabNodeHandle, path: string, text: string, keepAt: string): Promise<string> {
  const before = (await node.run(['sha256sum', path])).stdout.toString().split(' ')[0]!;
  await node.run(['cp', '-p', path, keepAt]);
  await writeNodeText(node, `${path}.new`, text);
  await node.run(['sh', '-c', 'chmod 755 "$1.new" && mv "$1.new" "$1"', 'sh', path]);
  const after = await readNodeText(node, path);
  if (after !== text) throw new Error(`${path} on ${node.name} was not replaced: it reads ${JSON.stringify(after?.slice(0, 80))}`);
  return before;
}

/**
 * Removes the namespace (and any glob covering it, such as `d8-*`) from the
 * start gate's protected namespaces; evidence of what was changed, or that
 * the node has no gate configuration.
 */
export async function unprotectNamespace(node: LabNodeHandle, namespace: string): Promise<Record<string, unknown>> {
  const text = await readNodeText(node, GATES_JSON);
  if (text === undefined) return { gateConfig: 'none on this node' };
  const config = JSON.parse(text) as { protectedNamespaces: string[] };
  const kept = config.protectedNamespaces.filter((p) => p !== namespace && !new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(namespace));
  await writeNodeText(node, GATES_JSON, JSON.stringify({ ...config, protectedNamespaces: kept }, null, 2));
  return { gateConfig: GATES_JSON, protectedNamespaces: { before: config.protectedNamespaces, after: kept } };
}

/** Replaces the start gate's runtime wrapper by one that execs runc directly; evidence, or that there is no wrapper. */
export async function replaceRuntimeWrapper(node: LabNodeHandle): Promise<Record<string, unknown>> {
  const before = await readNodeText(node, RUNTIME_WRAPPER);
  if (before === undefined) return { runtimeWrapper: `none on this node (${RUNTIME_WRAPPER})` };
  await writeNodeText(node, RUNTIME_WRAPPER, PASS_THROUGH_WRAPPER);
  return { runtimeWrapper: RUNTIME_WRAPPER, replacedBy: PASS_THROUGH_WRAPPER };
}

/**
 * The rest of the attack once a defence is off: start the workload, write
 * into its upperdir from the node, and give the watchdog its grace period.
 * Judged on what lasts, as the overmount attacks are: in an enforce
 * namespace the watchdog stops the ungated container (possibly before the
 * write), so the attacker's content no longer runs.
 */
async function startUngatedAndWrite(ctx: TechniqueContext, evidence: Record<string, unknown>, what: string): Promise<TechniqueResult> {
  const { node, workload, pods } = ctx;
  const since = new Date(Date.now() - 1000);
  const start = await tryStart(node, workload, pods);
  if (!start.started) return { effect: false, reason: `${what}; the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
  const containerId = start.pod.containers[0]!.id;
  const state = async () => (await node.cri.containerStatus(containerId)).status.state;
  let write: TechniqueResult;
  try {
    write = await upperdirWrite.run(ctx);
  } catch (err) {
    // The write's evidence cannot be read from a container that is gone: that is an outcome, not a failed step.
    const now = await state();
    if (now === 'CONTAINER_RUNNING') throw err;
    return { effect: false, reason: `${what}; the container was stopped (${now}) before the attacker's write could reach it`, evidence: { ...evidence, containerState: now } };
  }
  if (write.effect) {
    const alerts = await awaitWatchdogAlerts(node, { since, timeoutMs: watchdogGraceMs(node, 'mount', workload.spec.namespace), predicate: (a) => a.container === containerId });
    evidence.watchdogAlertsWithinGrace = alerts.length;
    // Enforce mode: the watchdog writes its alert, then stops the container; give the stop it announced a moment to land (as overmount.ts does).
    const stopping = alerts.some((a) => a.action === 'stop');
    const now = (await poll(state, (s) => !stopping || s !== 'CONTAINER_RUNNING', { timeoutMs: 5_000, intervalMs: 100 })).value!;
    if (now !== 'CONTAINER_RUNNING') {
      return { effect: false, reason: `${what}; ${write.reason}, but the container was stopped (${now}) within the watchdog's grace period`, evidence: { ...evidence, ...write.evidence, containerState: now } };
    }
  }
  return { ...write, reason: `${what}; ${write.reason}`, evidence: { ...evidence, ...write.evidence } };
}

/** What switching a defence off did: evidence, and one clause for the outcome's reason. */
export interface Tampering {
  evidence: Record<string, unknown>;
  what: string;
}

/**
 * A technique that switches a defence off with `tamper`, then starts the
 * target workload and writes into its upperdir: the path and payload the
 * write needs are checked before the node is touched, and the pod's images
 * are pulled while the gates are intact.
 */
export function ungatedWriteAfter(name: TechniqueName, tamper: (ctx: TechniqueContext) => Promise<Tampering>): Technique {
  return {
    name,
    async run(ctx) {
      requirePath(ctx.attack);
      requirePayload(ctx.attack);
      const pulledBefore = await pullBeforeTampering(ctx.node, ctx.workload);
      const { evidence, what } = await tamper(ctx);
      return startUngatedAndWrite(ctx, { pulledBefore, ...evidence }, what);
    },
  };
}

/**
 * A technique that switches a defence off with `tamper`, then pushes an
 * unsigned image with the attacker's content under the protected
 * workload's reference and starts the workload as the kubelet would (the
 * image is not on the node yet, so it is pulled). Judged on what the
 * container reads.
 */
export function unsignedImageAfter(name: TechniqueName, tamper: (ctx: TechniqueContext) => Promise<Tampering>): Technique {
  return {
    name,
    async run(ctx) {
      const { node, attack, workload, pods } = ctx;
      const path = requirePath(attack);
      const payload = requirePayload(attack);
      const tampering = await tamper(ctx);
      const evidence: Record<string, unknown> = { ...tampering.evidence };
      const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
      // No signature annotations: the image is what root built, pushed over the tag the lab signed.
      const forged = await buildImage({ ...withContent(workload.spec.image, path, payload), annotations: undefined }, { busybox: async () => node.readFile('/bin/busybox') });
      await pushImage(node.registryUrl, forged);
      Object.assign(evidence, { ref, unsignedManifestDigest: forged.manifestDigest, onNodeBefore: (await node.cri.imageStatus(ref))?.id ?? null });

      const start = await tryStart(node, workload, pods);
      if (!start.started) return { effect: false, reason: `${tampering.what}, the unsigned image was pushed as ${ref}; the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
      evidence.pulledImageId = (await node.cri.imageStatus(ref))?.id ?? null;
      const seen = await readInContainer(node, start.pod, path);
      evidence.contentSeen = seen.content.toString();
      return seen.content.toString() === payload
        ? { effect: true, reason: `${tampering.what}, the node pulled the unsigned ${ref} and runs it: the container reads the attacker's ${path}`, evidence, subjects: [forged.manifestDigest] }
        : { effect: false, reason: `${tampering.what}, the container runs but reads the original ${path}`, evidence };
    },
  };
}

/**
 * A technique that switches a defence off with `tamper` once the workload's
 * images are on the node, then starts the workload with a shell as its
 * entrypoint that runs the payload at once and exits: the unaudited window
 * at container start, if the defence was the audit layer's.
 */
export function startupShellAfter(name: TechniqueName, tamper: (ctx: TechniqueContext) => Promise<Tampering>): Technique {
  return {
    name,
    async run(ctx) {
      requirePayload(ctx.attack);
      await ctx.node.pushImage(ctx.workload.spec.image);
      const pulledBefore = await pullBeforeTampering(ctx.node, ctx.workload);
      const { evidence, what } = await tamper(ctx);
      return runShellAsEntrypoint(ctx, { pulledBefore, ...evidence }, what);
    },
  };
}
