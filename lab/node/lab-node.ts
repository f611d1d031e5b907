/**
 * The lab node: containerd v2 with the EROFS snapshotter inside a privileged
 * testcontainer. `LabNode` is configured; `start()` gives a `StartedLabNode`,
 * which owns everything it created and removes it in `stop()`.
 *
 * No image is pulled: the node image is built locally (image.ts), the
 * testcontainers reaper is off, and the cleanup is ours.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { LabError, describeError } from '../errors.ts';
import { containerExec, localExec, runChecked, type Exec, type ExecOptions, type ExecResult } from '../exec.ts';
import { containerLogTail, containersLabelled, createVolume, inspectContainer, removeContainer, removeVolume, stopContainer } from '../engine.ts';
import { poll } from '../wait.ts';
import { silent, step, toStderr, type ProgressListener } from '../progress.ts';
import { thawContainersLabelled } from '../cgroup-thaw.ts';
import type { V1Pod } from '@kubernetes/client-node';
import { CriClient, criPodOf, runPod, type PodSpec, type RunningPod, type RunPodHooks } from '../cri/index.ts';
import { NodeRegistry, type BuiltImage } from '../images/index.ts';
import type { LabProfile, Workload } from '../spec/schemas.ts';
import { podOfWorkload } from '../spec/pod.ts';
import { CONTAINERD_SOCKET_DIR, PAUSE_IMAGE, REGISTRY_HOST, renderContainerdConfig } from './containerd-config.ts';
import { hostCapabilities } from './capabilities.ts';
import type { NodeErrorCode } from './errors.ts';
import { runAfterStart, type AdmissionAnswer, type Detection, type NodeComponent, type NodeFile } from './component.ts';
import { CTR_ANSWERS_WITHIN_30S, environmentWords, type LabNodeHandle } from './handle.ts';
import { generateLabPki, loadLabPki, pkiSigningIdentity, RegistryClient, signImageInRegistry } from '../signer/index.ts';
import { ensureNodeImage } from './image.ts';
import { releaseLeakedLoopDevices } from './loop-devices.ts';
import { checkNodeRuntime, ensureDockerEngine } from './preflight.ts';
import { stageSeccompProfiles } from './seccomp-profiles.ts';
import { KUBELET_SECCOMP_ROOT } from '../cri/types.ts';

// testcontainers must not pull its reaper or helper images (no registry).
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE = 'localhost';

export const LAB_LABEL = 'io.integrity-lab.lab';
export const PROFILE_LABEL = 'io.integrity-lab.profile';
/** Set on a lab's containers other than its node (the audit sidecar: `audit`). */
export const ROLE_LABEL = 'io.integrity-lab.role';
export const STATE_ROOT = process.env.INTEGRITY_LAB_STATE ?? '/var/tmp/integrity-lab';

/** How the node container got its privileges. */
export type PrivilegeMode = 'privileged' | 'all-host-capabilities';

/** A GenericContainer that can also set device cgroup rules. */
class NodeContainer extends GenericContainer {
  withDeviceCgroupRules(...rules: string[]): this {
    this.hostConfig.DeviceCgroupRules = [...(this.hostConfig.DeviceCgroupRules ?? []), ...rules];
    return this;
  }

  /**
   * `docker run --cgroupns private`: the node sees its own cgroup as the
   * root of the cgroup tree. In the host's cgroup namespace (Docker's
   * default on cgroup v1), root on the node, which has every capability,
   * mounts a cgroup file system and reaches every container of the host:
   * it froze the audit sidecar that way and ran a shell unreported
   * (`shell-in-agent-after-audit-frozen`), and could freeze or kill other
   * labs' nodes.
   */
  withPrivateCgroupNamespace(): this {
    // The Engine API has taken it since v1.41; @types/dockerode does not list it.
    (this.hostConfig as typeof this.hostConfig & { CgroupnsMode?: 'private' | 'host' }).CgroupnsMode = 'private';
    return this;
  }

  /** What `docker run --security-opt systempaths=unconfined` sends to the API. */
  withUnconfinedSystemPaths(): this {
    this.hostConfig.MaskedPaths = [];
    this.hostConfig.ReadonlyPaths = [];
    return this;
  }
}

let privilegeFallbackAnnounced = false;

/**
 * Where the node's containerd keeps layers and blobs: `disk`, a Docker
 * volume on the host's disk, as on a real node; `memory`, a tmpfs volume.
 * With `set_immutable`, ext4 writes each layer file back to the disk before
 * chattr +i returns (the pull waits for it), and unmounting an overlay syncs
 * its upper file system; in memory neither waits, so a benchmark can tell
 * the defences' own time from the disk's (docs/benchmarks.md, node gates).
 */
export type ContainerdStore = 'disk' | 'memory';

export class LabNode {
  #profile: LabProfile;
  #progress: ProgressListener = silent;
  #keep = false;
  #labId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  #components: NodeComponent[] = [];
  #store: ContainerdStore = 'disk';

  constructor(profile: LabProfile) {
    this.#profile = profile;
  }

  withProgress(listener: ProgressListener): this {
    this.#progress = listener;
    return this;
  }

  /** Leave the node running after `stop()` for inspection (`lab down` removes it). */
  withKeep(keep = true): this {
    this.#keep = keep;
    return this;
  }

  withLabId(labId: string): this {
    this.#labId = labId;
    return this;
  }

  /** Where containerd keeps layers and blobs (default `disk`). */
  withContainerdStore(store: ContainerdStore): this {
    this.#store = store;
    return this;
  }

  /** Integrity components to install on the node (see lab/components.ts). */
  withComponents(components: NodeComponent[]): this {
    this.#components = components;
    return this;
  }

  async start(): Promise<StartedLabNode> {
    const progress = this.#progress;
    const started = performance.now();
    checkNodeRuntime();
    const image = await hostReady(progress);

    const labId = this.#labId;
    const stateDir = join(STATE_ROOT, labId);
    const runDir = join(stateDir, 'run');
    // Mounted at the same path in the node, so files written by the harness
    // can be handed to node tools (mkfs.erofs, cosign) without copying.
    const shareDir = join(stateDir, 'shared');
    const name = `integrity-lab-${labId}`;
    const volume = `integrity-lab-${labId}-containerd`;
    // Whatever fails from here on, nothing of the lab stays behind: the
    // state directory holds the lab's private keys.
    const cleanupPartial = async () => {
      await removeContainer(name);
      await removeVolume(volume);
      await rm(stateDir, { recursive: true, force: true });
    };
    const files: NodeFile[] = [];
    const plugins: string[] = [];
    const runcOptions: Record<string, string | boolean> = {};
    let config: string;
    let seccompDir: string;
    try {
      await mkdir(runDir, { recursive: true, mode: 0o700 });
      await mkdir(shareDir, { recursive: true, mode: 0o700 });
      // The lab's own PKI, made per lab; its private keys never leave stateDir.
      if (this.#components.length > 0) {
        const pki = await generateLabPki(join(stateDir, 'pki'), { clock: () => new Date() });
        // Each component prepares its own files; side by side, merged in profile order.
        const preparations = await Promise.all(
          this.#components.map((component) =>
            step(progress, 'APPLY', `component ${component.name}`, () => component.prepare({ stateDir, trustedRootsPem: pki.root.certificatePem })),
          ),
        );
        for (const prepared of preparations) {
          files.push(...prepared.files);
          plugins.push(...prepared.containerdPlugins);
          Object.assign(runcOptions, prepared.runcOptions);
        }
      }
      // Localhost seccomp profiles, on every node (the vanilla control's too).
      seccompDir = await stageSeccompProfiles(stateDir);
      config = renderContainerdConfig(this.#profile, { plugins, runcOptions });
      await writeFile(join(stateDir, 'containerd.toml'), config);
      await createVolume(volume, { [LAB_LABEL]: labId }, this.#store === 'memory' ? { type: 'tmpfs', device: 'tmpfs' } : undefined);
    } catch (err) {
      await cleanupPartial();
      throw err;
    }

    const make = (mode: PrivilegeMode) => {
      const c = new NodeContainer(image.tag)
        .withName(name)
        .withHostname(`lab-${this.#profile.metadata.name}`)
        .withLabels({ [LAB_LABEL]: labId, [PROFILE_LABEL]: this.#profile.metadata.name })
        .withEnvironment({
          CONTAINERD_ADDRESS: `${CONTAINERD_SOCKET_DIR}/containerd.sock`,
          // ctr has no server-side default snapshotter (FACTS.md).
          CONTAINERD_SNAPSHOTTER: this.#profile.spec.containerd.snapshotter,
          CONTAINERD_NAMESPACE: 'k8s.io',
        })
        .withCopyContentToContainer([
          { content: config, target: '/etc/integrity-lab/containerd.toml' },
          ...files.filter((f) => f.content !== undefined).map((f) => ({ content: f.content!, target: f.target, mode: f.mode })),
        ])
        .withCopyFilesToContainer(files.filter((f) => f.source !== undefined).map((f) => ({ source: f.source!, target: f.target, mode: f.mode })))
        // withBindMounts replaces the list, so it is built once here.
        .withBindMounts([
          { source: runDir, target: CONTAINERD_SOCKET_DIR },
          { source: shareDir, target: shareDir },
          // Upperdirs cannot live on the engine's overlayfs: a volume is ext4.
          { source: volume, target: '/var/lib/containerd' },
          { source: seccompDir, target: KUBELET_SECCOMP_ROOT, mode: 'ro' },
          ...(mode === 'privileged' ? [] : [{ source: '/dev', target: '/dev' }]),
        ])
        .withPrivateCgroupNamespace()
        .withWaitStrategy(Wait.forLogMessage(/lab-node: ready/))
        .withStartupTimeout(60_000);
      if (mode === 'privileged') return c.withPrivilegedMode();
      // "ALL" minus what the host lacks: the engine may not know the names of
      // the newest capabilities (Docker 20.10 rejects CAP_PERFMON by name).
      return c
        .withAddedCapabilities('ALL')
        .withDroppedCapabilities(...hostCapabilities().missing)
        .withSecurityOpt('seccomp=unconfined', 'apparmor=unconfined')
        .withUnconfinedSystemPaths()
        .withDeviceCgroupRules('a *:* rwm');
    };


    let container: StartedTestContainer;
    let privilege: PrivilegeMode = 'privileged';
    try {
      container = await step(progress, 'START', `lab node ${name} (profile ${this.#profile.metadata.name})`, async () => {
        try {
          return await make('privileged').start();
        } catch (err) {
          if (!/unable to apply caps|operation not permitted/i.test(describeError(err))) throw err;
          // The engine refused --privileged because the host lacks a
          // capability; a container in state Created is left behind.
          await removeContainer(name);
          privilege = 'all-host-capabilities';
          if (!privilegeFallbackAnnounced) {
            privilegeFallbackAnnounced = true;
            const missing = hostCapabilities().missing;
            progress({
              phase: 'START',
              status: 'WARN',
              message: `the engine refused privileged mode (host lacks ${missing.map((m) => `CAP_${m}`).join(', ') || 'a capability'}); starting the node with every capability the host has, unconfined seccomp/apparmor, all devices`,
            });
          }
          return await make('all-host-capabilities').start();
        }
      });
    } catch (err) {
      // What the node said before it was removed: its init script tails containerd's and the registry's logs when they fail.
      const logs = await containerLogTail(name, 80).catch(() => undefined);
      await cleanupPartial();
      throw withNodeLogs(new LabError<NodeErrorCode>('NODE_START_FAILED', `lab node ${name} did not start: ${describeError(err)}`, { cause: err }), logs && `==> the node container's output <==\n${logs}`);
    }

    const node = new StartedLabNode({
      labId,
      name,
      volume,
      stateDir,
      container,
      profile: this.#profile,
      privilege,
      imageTag: image.tag,
      keep: this.#keep,
      progress,
      components: this.#components,
    });
    activeNodes.add(node);
    try {
      await step(progress, 'START', 'CRI ready and pause image in the node registry', async () => {
        await node.waitForCri();
        // The pause image goes to the node's registry while the components start (neither needs the other).
        // The start gate verifies a protected pod's sandbox from the pause image like any protected image:
        // with the node gates, the lab signs it (v2), as a kind lab signs its system images (lab/kind/lab-setup.ts).
        const pause = node
          .pushImage({ repository: PAUSE_IMAGE.repository, tag: PAUSE_IMAGE.tag, layers: [{ busybox: true }], entrypoint: ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'] })
          .then(async () => {
            if (!this.#components.some((c) => c.name.includes('gate'))) return;
            await signImageInRegistry({
              client: new RegistryClient(node.registryUrl),
              repository: PAUSE_IMAGE.repository,
              tag: PAUSE_IMAGE.tag,
              identity: pkiSigningIdentity(await loadLabPki(join(stateDir, 'pki'))),
              format: 'v2',
              clock: () => new Date(),
              exec: node.exec,
              workDir: node.shareDir,
            });
          });
        const settled = await Promise.allSettled([runAfterStart(this.#components, (component) => component.afterStart!(node)), pause]);
        const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      });
    } catch (err) {
      // Each daemon's log in the node (containerd, the registry, the components'), read before the node goes.
      const logs = await node.exec
        .run(['sh', '-c', `tail -n 60 ${NODE_LOG_DIR}/*.log`])
        .then((r) => r.stdout.toString() + r.stderr.toString())
        .catch(() => undefined);
      await node.stop({ force: true });
      throw withNodeLogs(err, logs);
    }
    progress({ phase: 'START', status: 'DONE', message: `lab ${labId} ready (${privilege})`, elapsedMs: performance.now() - started });
    return node;
  }
}

/** A pod refused by an admission component, with its answer. */
export class PodAdmissionDenied extends LabError<NodeErrorCode> {
  readonly answer: AdmissionAnswer;
  readonly component: string;
  constructor(pod: PodSpec, component: string, answer: AdmissionAnswer) {
    super('POD_ADMISSION_DENIED', `admission (${component}) denied pod ${pod.namespace}/${pod.name}: ${answer.reason ?? 'no reason given'}`);
    this.answer = answer;
    this.component = component;
  }
}

/** Where the node's daemons write their logs (lab-node-init and each component). */
const NODE_LOG_DIR = '/var/log/integrity-lab';

/** The node's logs as they were when its start failed, by the error that says so. */
const logsOfFailedStart = new WeakMap<object, string>();

function withNodeLogs(err: unknown, logs: string | undefined): unknown {
  if (logs && typeof err === 'object' && err !== null) logsOfFailedStart.set(err, logs);
  return err;
}

/**
 * The last lines of the node's logs, read just before a lab node that
 * failed to start was removed; undefined for any other error, or when they
 * could not be read. The node itself is gone by then, so this is all that
 * is left of it.
 */
export function nodeLogsOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? logsOfFailedStart.get(err) : undefined;
}

let hostChecked: ReturnType<typeof ensureNodeImage> | undefined;

/**
 * The Docker engine running and the node image built, checked once per
 * process: each check is a docker CLI process (about 0.1 s of the machine's
 * CPU), and a conformance run starts a lab per scenario. A failed check is
 * not kept, so the next lab tries again.
 */
function hostReady(progress: ProgressListener): ReturnType<typeof ensureNodeImage> {
  hostChecked ??= (async () => {
    await step(progress, 'PREFLIGHT', 'Docker engine', () => ensureDockerEngine(progress));
    return ensureNodeImage(progress);
  })();
  const checked = hostChecked;
  checked.catch(() => {
    if (hostChecked === checked) hostChecked = undefined;
  });
  return checked;
}

/** Nodes started by this process and not yet removed (their removal may be under way), so that Ctrl-C and the end of a run can remove them or wait for it. */
export const activeNodes = new Set<StartedLabNode>();

interface StartedLabNodeInit {
  labId: string;
  name: string;
  volume: string;
  stateDir: string;
  container: StartedTestContainer;
  profile: LabProfile;
  privilege: PrivilegeMode;
  imageTag: string;
  keep: boolean;
  progress: ProgressListener;
  components: NodeComponent[];
}

export interface NodeStatus {
  labId: string;
  container: string;
  profile: string;
  components: string[];
  privilege: PrivilegeMode;
  containerdVersion: string;
  snapshotter: string;
  registry: string;
  /** Whether kernel dm-verity can be used on this node, and why. */
  verity: { mode: 'kernel' | 'userspace'; reason: string };
}

export class StartedLabNode implements LabNodeHandle {
  readonly labId: string;
  readonly name: string;
  readonly profile: LabProfile;
  readonly privilege: PrivilegeMode;
  readonly stateDir: string;
  /** A directory at the same path on the host and in the node. */
  readonly shareDir: string;
  readonly imageTag: string;
  readonly cri: CriClient;
  /** Runs commands inside the node (docker exec), with stdin support. */
  readonly exec: Exec;
  readonly #volume: string;
  readonly #container: StartedTestContainer;
  readonly #keep: boolean;
  readonly #progress: ProgressListener;
  readonly #registry = new NodeRegistry(() => this.registryUrl, () => ofNodeImage(this.imageTag, 'busybox', () => this.readFile('/bin/busybox')));
  /** The integrity components installed on this node. */
  readonly components: readonly NodeComponent[];
  /** The teardown once begun: a second caller (Ctrl-C while a failed start tears down) waits for the same one. */
  #stopping: Promise<void> | undefined;

  constructor(init: StartedLabNodeInit) {
    this.labId = init.labId;
    this.name = init.name;
    this.profile = init.profile;
    this.privilege = init.privilege;
    this.stateDir = init.stateDir;
    this.shareDir = join(init.stateDir, 'shared');
    this.imageTag = init.imageTag;
    this.#volume = init.volume;
    this.#container = init.container;
    this.#keep = init.keep;
    this.#progress = init.progress;
    this.components = init.components;
    this.cri = new CriClient(join(init.stateDir, 'run', 'containerd.sock'));
    this.exec = containerExec(init.container.getId());
  }

  /** The node's registry as the harness reaches it (the node's bridge address). */
  get registryUrl(): string {
    return `http://${this.#container.getIpAddress(this.#container.getNetworkNames()[0] ?? 'bridge')}:5000`;
  }

  /** An image reference as containerd on the node pulls it. */
  imageRef(repository: string, tag: string): string {
    return `${REGISTRY_HOST}/${repository}:${tag}`;
  }

  /** The pause image the lab node pushes to its registry at start (containerd's `sandbox` setting). */
  get sandboxImage(): string {
    return this.imageRef(PAUSE_IMAGE.repository, PAUSE_IMAGE.tag);
  }

  async run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    return runChecked(this.exec, argv, options);
  }

  async readFile(path: string): Promise<Buffer> {
    return (await this.run(['cat', path])).stdout;
  }

  /** lab-node-init started containerd and keeps its pid: root kills it and starts it again the same way. */
  async restartContainerd(environment: Readonly<Record<string, string>> = {}): Promise<void> {
    const words = environmentWords(environment);
    await this.run(['sh', '-c', [
      'pid=$(cat /run/lab-containerd.pid); kill "$pid"',
      'for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done',
      `${words.length ? `env ${words.join(' ')} ` : ''}setsid containerd >>/var/log/integrity-lab/containerd.log 2>&1 < /dev/null & echo $! >/run/lab-containerd.pid`,
      CTR_ANSWERS_WITHIN_30S,
    ].join('\n')]);
  }

  async waitForCri(timeoutMs = 30_000): Promise<void> {
    const r = await poll(() => this.cri.version(), () => true, { timeoutMs, intervalMs: 200, retryOnError: true });
    if (!r.ok) throw new LabError<NodeErrorCode>('NODE_NOT_READY', `CRI on ${this.name} not ready after ${timeoutMs} ms: ${describeError(r.error)}`);
  }

  /** Builds an image from local content and pushes it to the node registry (once per lab). */
  pushImage(image: Workload['spec']['image']): Promise<BuiltImage> {
    return this.#registry.push(image);
  }

  /** The core/v1 Pod a workload runs as, with the image as this node pulls it: what the apiserver would hold. */
  podObjectOf(workload: Workload): V1Pod {
    const image = workload.spec.image;
    return podOfWorkload(workload, this.imageRef(image.repository, image.tag));
  }

  /** The CRI pod a workload runs as (its Pod object converted as the kubelet would; lab/cri/pod-object.ts). */
  podSpecOf(workload: Workload): PodSpec {
    return criPodOf(this.podObjectOf(workload)).spec;
  }

  /** A pod over CRI, as root on the node starts one; a lab node has no kubelet. */
  runCriPod(spec: PodSpec, hooks?: RunPodHooks): Promise<RunningPod> {
    return runPod(this.cri, spec, hooks);
  }

  /**
   * Builds and pushes the workload's image, then creates its pod the way a
   * user would: through admission (when a component provides it), then CRI.
   * A denial throws PodAdmissionDenied with the answer.
   */
  async startWorkload(workload: Workload, options: { pushImage?: boolean } = {}): Promise<RunningPod> {
    if (options.pushImage !== false) await this.pushImage(workload.spec.image);
    const object = this.podObjectOf(workload);
    const { spec: pod, notCarried } = criPodOf(object);
    if (notCarried.length > 0) {
      this.#progress({ phase: 'START', status: 'INFO', message: `pod ${pod.namespace}/${pod.name}: not applied on a single node (no kubelet): ${notCarried.join(', ')}` });
    }
    for (const c of this.components) {
      if (!c.admitPod) continue;
      const answer = await c.admitPod(this, pod, object);
      if (!answer.allowed) throw new PodAdmissionDenied(pod, c.name, answer);
    }
    return runPod(this.cri, pod);
  }

  /** Everything the installed components reported since `since`. */
  async detections(since: Date): Promise<Detection[]> {
    const out: Detection[] = [];
    for (const c of this.components) if (c.detections) out.push(...(await c.detections(this, since)));
    return out;
  }

  async status(): Promise<NodeStatus> {
    const version = (await ofNodeImage(this.imageTag, 'containerd-version', async () => (await this.run(['containerd', '--version'])).stdout)).toString().split(' ')[2] ?? 'unknown';
    return {
      labId: this.labId,
      container: this.name,
      profile: this.profile.metadata.name,
      components: this.profile.spec.components,
      privilege: this.privilege,
      containerdVersion: version,
      snapshotter: this.profile.spec.containerd.snapshotter,
      registry: this.registryUrl,
      verity: await detectVerityMode(this.exec),
    };
  }

  /**
   * Removes everything the lab created: pods, immutable flags, the node
   * container, its volume and the state directory (with the lab's keys).
   * With `keep` (the builder's, or this call's: `--keep-failed` keeps only
   * the nodes of failed scenarios), leaves the node running unless `force`.
   */
  async stop(options: { force?: boolean; keep?: boolean } = {}): Promise<void> {
    if (this.#stopping) return this.#stopping;
    if ((options.keep ?? this.#keep) && !options.force) {
      activeNodes.delete(this);
      this.#progress({ phase: 'CLEANUP', status: 'INFO', message: `keeping lab ${this.labId}: \`integrity-lab lab shell ${this.labId}\`, then \`integrity-lab lab down ${this.labId}\`` });
      this.cri.close();
      return;
    }
    this.#stopping = step(this.#progress, 'CLEANUP', `lab ${this.labId}`, async () => {
      // A frozen sidecar would hang the components' cleanup commands.
      await thawContainersLabelled(`${LAB_LABEL}=${this.labId}`, this.#progress);
      // Each component stops what it started; they do not depend on each other, so side by side.
      await Promise.all(
        this.components.map((c) =>
          c.beforeStop?.(this).catch((err) => this.#progress({ phase: 'CLEANUP', status: 'WARN', message: `component ${c.name}: ${describeError(err)}` })),
        ),
      );
      this.cri.close();
      await teardownLab(this.labId);
    }).finally(() => {
      // Only once it is gone: Ctrl-C or the end of a run that finds it still
      // being removed waits for that removal (stop() returns it again).
      activeNodes.delete(this);
    });
    return this.#stopping;
  }
}

/**
 * Removes a lab by id, whether or not this process started it: used by
 * `stop()`, by `lab down` and on Ctrl-C.
 */
export async function teardownLab(labId: string, exec: Exec = localExec): Promise<void> {
  const name = `integrity-lab-${labId}`;
  const volume = `integrity-lab-${labId}-containerd`;
  const problems: string[] = [];
  await thawContainersLabelled(`${LAB_LABEL}=${labId}`, toStderr);
  // A component's sidecar gets SIGTERM and time to undo what it set on the
  // host before it is removed: the audit daemon removes its kernel rules and
  // puts back the kernel's audit state. Removed at once, it leaves them.
  const sidecars = (await containersLabelled(`${LAB_LABEL}=${labId}`)).filter((c) => c.name !== name && c.state === 'running');
  await Promise.all(sidecars.map((c) => stopContainer(c.id, 10).catch(() => undefined)));
  if ((await inspectContainer(name))?.running) {
    // Stop pods first so no mount keeps a layer busy, then clear immutable
    // flags: a volume holding immutable files cannot be removed.
    await containerExec(name).run(['sh', '-c',
      'ctr -n k8s.io tasks ls -q 2>/dev/null | xargs -r -n1 ctr -n k8s.io tasks kill -s KILL 2>/dev/null; ' +
      'find /var/lib/containerd -xdev -name layer.erofs -exec chattr -i {} + 2>/dev/null; true'], { timeoutMs: 60_000 });
    // A stop that fails is not a leftover: the forced remove below takes the container either way, and reports if it cannot.
    await stopContainer(name, 5).catch(() => undefined);
  }
  // The node and any sidecar a component started carry the lab's label.
  const labelled = (await containersLabelled(`${LAB_LABEL}=${labId}`)).map((c) => c.id);
  for (const id of new Set([name, ...labelled])) {
    const refused = await removeContainer(id);
    if (refused) problems.push(refused);
  }
  let volumeRefused = await removeVolume(volume);
  if (volumeRefused && /operation not permitted|immutable|permission/i.test(volumeRefused)) {
    // The node died before its flags were cleared: clear them with the node
    // image itself (no pull), then retry.
    const image = (await exec.run(['docker', 'image', 'ls', '-q', '--filter', 'reference=integrity-lab/node'])).stdout.toString().split('\n')[0];
    if (image) {
      await exec.run(['docker', 'run', '--rm', '--cap-add', 'LINUX_IMMUTABLE', '-v', `${volume}:/v`, '--entrypoint', 'chattr', image, '-R', '-i', '/v'], { timeoutMs: 120_000 });
      volumeRefused = await removeVolume(volume);
    }
  }
  if (volumeRefused) problems.push(volumeRefused);
  const leaked = await releaseLeakedLoopDevices(exec);
  if (leaked.failed.length) problems.push(`loop devices not released: ${leaked.failed.join(', ')}`);
  await rm(join(STATE_ROOT, labId), { recursive: true, force: true });
  if (problems.length) {
    throw new LabError<NodeErrorCode>('NODE_EXEC_FAILED', `teardown of lab ${labId} left something behind: ${problems.join('; ')}`);
  }
}

/** The containers of every lab on this engine, by label: its node (role `node`) and sidecars. */
export async function listLabs(): Promise<{ labId: string; name: string; profile: string; state: string; role: string }[]> {
  return (await containersLabelled(LAB_LABEL)).map((c) => ({
    labId: c.labels[LAB_LABEL] ?? '',
    name: c.name,
    profile: c.labels[PROFILE_LABEL] ?? '',
    state: c.state,
    role: c.labels[ROLE_LABEL] || 'node',
  }));
}

/**
 * What every node of one image holds alike (its busybox, its containerd's
 * version), read from the first node of that image this process starts:
 * each read is a command in the node, about 35 ms of the machine's CPU, and
 * the suite starts one node per scenario. A failed read is not kept.
 */
const nodeImageFacts = new Map<string, Promise<Buffer>>();

function ofNodeImage(imageTag: string, fact: string, read: () => Promise<Buffer>): Promise<Buffer> {
  const key = `${imageTag}\0${fact}`;
  let known = nodeImageFacts.get(key);
  if (!known) {
    known = read();
    nodeImageFacts.set(key, known);
    known.catch(() => nodeImageFacts.delete(key));
  }
  return known;
}

/**
 * Kernel dm-verity needs device-mapper with the verity target. This host's
 * kernel has neither (FACTS.md), so layers are verified in userspace.
 */
export async function detectVerityMode(exec: Exec): Promise<NodeStatus['verity']> {
  const r = await exec.run(['sh', '-c', 'test -e /dev/mapper/control && echo control; grep -w device-mapper /proc/devices >/dev/null && echo dm; test -d /sys/module/dm_verity && echo verity; true']);
  const found = r.stdout.toString();
  if (found.includes('control') && found.includes('dm') && found.includes('verity')) {
    return { mode: 'kernel', reason: 'device-mapper and the dm-verity target are present' };
  }
  const missing = [
    found.includes('control') ? '' : '/dev/mapper/control',
    found.includes('dm') ? '' : 'device-mapper in /proc/devices',
    found.includes('verity') ? '' : 'the dm_verity module',
  ].filter(Boolean);
  return { mode: 'userspace', reason: `kernel dm-verity unavailable: missing ${missing.join(', ')}` };
}
