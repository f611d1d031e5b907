/**
 * A kind cluster as a lab substrate: KindCluster (configured) →
 * StartedKindCluster (running), through the real kind CLI.
 *
 * - Where the engine refuses --privileged (this host), kind runs with the
 *   docker shim of lab/kind/docker-shim first on PATH, which substitutes the
 *   lab's near-privileged flag set; where it is allowed, plain kind runs.
 * - No CNI image is needed: kind's default CNI is off and each node gets a
 *   bridge configuration for its podCIDR (containernetworking-plugins from
 *   Debian), with routes to the other nodes' pod ranges.
 * - kube-proxy and CoreDNS are not installed (no image for them is built;
 *   the apiserver reaches webhooks by endpoint, --enable-aggregator-routing).
 * - The kubelet sets global sysctls on the shared VM at start; they are
 *   recorded before the cluster starts and restored after it is deleted.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describeError, LabError } from '../errors.ts';
import { poll } from '../wait.ts';
import { containersLabelled } from '../engine.ts';
import { containerExec, localExec, runChecked, type Exec, type ExecResult } from '../exec.ts';
import { hostCapabilities } from '../node/capabilities.ts';
import { STATE_ROOT } from '../node/lab-node.ts';
import { ensureDockerEngine } from '../node/preflight.ts';
import { releaseLeakedLoopDevices } from '../node/loop-devices.ts';
import { type ProgressListener, silent, step, toStderr } from '../progress.ts';
import { thawContainersLabelled } from '../cgroup-thaw.ts';
import type { LabProfile } from '../spec/schemas.ts';
import { runStreamed } from '../streamed-exec.ts';
import type { KindErrorCode } from './errors.ts';
import { ensureKindNodeImage, KIND_CONTAINERD_SOCKET_DIR, readBusybox, SANDBOX_IMAGE, type KindNodeImage } from './node-image.ts';
import { CriClient, criPodOf, runPod, type PodSpec, type RunningPod, type RunPodHooks } from '../cri/index.ts';
import { ensureKindTools, type KindTools } from './tools.ts';
import { NodeRegistry, type BuiltImage } from '../images/index.ts';
import type { Detection, NodeComponent } from '../node/component.ts';
import { CTR_ANSWERS_WITHIN_30S, environmentWords, type LabNodeHandle } from '../node/handle.ts';
import { REGISTRY_HOST } from '../node/containerd-config.ts';
import { stageSeccompProfiles } from '../node/seccomp-profiles.ts';
import { KUBELET_SECCOMP_ROOT } from '../cri/types.ts';
import { generateLabPki } from '../signer/index.ts';
import type { Workload } from '../spec/schemas.ts';
import { podOfWorkload } from '../spec/pod.ts';
import { KIND_LAB_DIR, KIND_UNSUPPORTED, writeLabDir, writeSignedSystemImages } from './lab-setup.ts';
import { buildSystemImages, SYSTEM_REGISTRY } from './system-images.ts';

/** Global sysctls the kubelet sets at start (pkg/kubelet/cm/container_manager_linux.go). */
export const KUBELET_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
] as const;

const SHIM_DIR = join(import.meta.dirname, 'docker-shim');
/** kind labels its node containers with the cluster name. */
export const KIND_CLUSTER_LABEL = 'io.x-k8s.kind.cluster';
/** The lab's kind clusters are named `il-<labId>`. */
export const CLUSTER_PREFIX = 'il-';

/** The flags that stand in for --privileged (as for the lab node: lab/node/lab-node.ts). */
export function nearPrivilegedFlags(missing = hostCapabilities().missing): string[] {
  return [
    '--cap-add=ALL',
    ...missing.map((c) => `--cap-drop=${c}`),
    '--security-opt=seccomp=unconfined',
    '--security-opt=apparmor=unconfined',
    '--security-opt=systempaths=unconfined',
    '--device-cgroup-rule=a *:* rwm',
    '--volume=/dev:/dev',
  ];
}

export interface KindMount {
  hostPath: string;
  containerPath: string;
  readOnly?: boolean;
}

export interface KindClusterConfig {
  name: string;
  image: string;
  /** Host path of the apiserver's audit policy, mounted on the control plane (enables the log backend). */
  auditPolicy?: string;
  /** One entry per node, the control plane first. */
  nodes: { role: 'control-plane' | 'worker'; extraMounts: KindMount[] }[];
  /** Extra kubeadm patches, e.g. the apiserver's audit flags. */
  kubeadmConfigPatches?: string[];
}

/** Container (and Kubernetes node) names kind gives a cluster's nodes. */
export function kindNodeNames(cluster: string, workers: number): string[] {
  return [`${cluster}-control-plane`, ...Array.from({ length: workers }, (_, i) => `${cluster}-worker${i === 0 ? '' : i + 1}`)];
}

/** The kind Cluster configuration (kind.x-k8s.io/v1alpha4). */
export function renderKindConfig(c: KindClusterConfig): string {
  return stringify({
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name: c.name,
    networking: { disableDefaultCNI: true, kubeProxyMode: 'none' },
    nodes: c.nodes.map((n) => {
      const mounts = [...n.extraMounts, ...(c.auditPolicy && n.role === 'control-plane' ? [{ hostPath: c.auditPolicy, containerPath: AUDIT_POLICY_PATH, readOnly: true }] : [])];
      return { role: n.role, image: c.image, ...(mounts.length ? { extraMounts: mounts } : {}) };
    }),
    kubeadmConfigPatches: [
      // No image is built for CoreDNS or kube-proxy: kubeadm must not deploy them.
      stringify({ kind: 'InitConfiguration', skipPhases: ['preflight', 'addon/kube-proxy', 'addon/coredns'] }),
      // Kubernetes 1.36 kubelets refuse cgroup v1 unless told (this host is v1).
      stringify({ kind: 'KubeletConfiguration', failCgroupV1: false }),
      // One ClusterConfiguration patch: kind merges patches, and a second one would replace these lists.
      stringify({
        kind: 'ClusterConfiguration',
        // The control-plane images are the lab's own, named under the node registry's system prefix (system-images.ts).
        imageRepository: SYSTEM_REGISTRY,
        apiServer: {
          extraArgs: [
            { name: 'enable-aggregator-routing', value: 'true' },
            ...(c.auditPolicy
              ? [
                  { name: 'audit-policy-file', value: AUDIT_POLICY_PATH },
                  { name: 'audit-log-path', value: `${AUDIT_LOG_DIR}/audit.log` },
                  { name: 'audit-log-maxsize', value: '100' },
                ]
              : []),
          ],
          ...(c.auditPolicy
            ? {
                extraVolumes: [
                  { name: 'audit-policy', hostPath: AUDIT_POLICY_PATH, mountPath: AUDIT_POLICY_PATH, readOnly: true, pathType: 'File' },
                  { name: 'audit-log', hostPath: AUDIT_LOG_DIR, mountPath: AUDIT_LOG_DIR, pathType: 'DirectoryOrCreate' },
                ],
              }
            : {}),
        },
      }),
      ...(c.kubeadmConfigPatches ?? []),
    ],
  });
}

/** Where the control plane keeps the apiserver's audit policy and log (the log backend writes audit.k8s.io/v1 Events, one JSON line each). */
export const AUDIT_POLICY_PATH = '/etc/kubernetes/audit-policy.yaml';
export const AUDIT_LOG_DIR = '/var/log/kubernetes/audit';

/**
 * The apiserver's audit policy: pods and their exec/attach at
 * RequestResponse (Falco's k8s_audit rules read the request object), secrets
 * and configmaps at Metadata only (their data must not reach a log), the
 * rest at Metadata.
 */
export const AUDIT_POLICY = stringify({
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'Metadata', resources: [{ group: '', resources: ['secrets', 'configmaps'] }] },
    { level: 'RequestResponse', resources: [{ group: '', resources: ['pods', 'pods/exec', 'pods/attach', 'pods/portforward', 'namespaces', 'serviceaccounts'] }, { group: 'rbac.authorization.k8s.io' }, { group: 'apps' }] },
    { level: 'Metadata' },
  ],
});

/** Reads the current values of `names` from /proc/sys. */
async function readSysctls(names: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = await readFile(`/proc/sys/${n.replace(/\./g, '/')}`, 'utf8').catch(() => undefined);
    if (v !== undefined) out[n] = v.trim();
  }
  return out;
}

/**
 * The host's values before the first of the lab's kind clusters started:
 * recorded once, restored when the last one is deleted (clusters may run
 * side by side, each kubelet setting the same values).
 */
const HOST_STATE = join(STATE_ROOT, '.kind-host-state.json');
/** The Docker network kind puts its nodes on (created by kind when missing; kind never removes it). */
const KIND_NETWORK = 'kind';

interface HostState {
  sysctls: Record<string, string>;
  /** Whether the `kind` network existed before the lab's first cluster: if not, the lab removes it after its last. */
  networkExisted: boolean;
}

async function recordHostState(): Promise<void> {
  // Another lab cluster, running or still being created, means the record is
  // already there and the host may already carry the kubelet's values.
  if (existsSync(HOST_STATE) && ((await labClusters()).length > 0 || (await kindLabIds()).length > 0)) return;
  await mkdir(STATE_ROOT, { recursive: true, mode: 0o700 });
  const networkExisted = (await localExec.run(['docker', 'network', 'inspect', KIND_NETWORK])).exitCode === 0;
  const state: HostState = { sysctls: await readSysctls(KUBELET_SYSCTLS), networkExisted };
  await writeFile(HOST_STATE, JSON.stringify(state, null, 2));
}

/**
 * The last of the lab's kind labs restores the host: the sysctls recorded
 * before the first cluster, and the `kind` network if it did not exist
 * then; the record goes once that worked. A cluster that is still being
 * created has its state directory but maybe no container yet: it counts
 * too, or removing the network would pull it from under that `kind create`.
 * The caller removes its own state directory first, so that of two labs
 * removed at once, one restores. Gives what could not be restored.
 */
async function restoreHostIfLast(): Promise<string[]> {
  const problems: string[] = [];
  const last = (await labClusters()).length === 0 && (await kindLabIds()).length === 0;
  const host = last ? await readFile(HOST_STATE, 'utf8').then((t) => JSON.parse(t) as HostState).catch(() => undefined) : undefined;
  if (!host) return problems;
  const failed = await restoreSysctls(host.sysctls);
  if (failed.length) problems.push(`host sysctls not restored: ${failed.join(', ')}`);
  if (!host.networkExisted) {
    const attached = (await localExec.run(['docker', 'network', 'inspect', '--format', '{{len .Containers}}', KIND_NETWORK])).stdout.toString().trim();
    if (attached === '0') {
      const rmNet = await localExec.run(['docker', 'network', 'rm', KIND_NETWORK]);
      if (rmNet.exitCode !== 0 && !/not found|no such network/i.test(rmNet.stderr)) problems.push(`docker network ${KIND_NETWORK} not removed: ${rmNet.stderr.trim()}`);
    }
  }
  if (failed.length === 0) await rm(HOST_STATE, { force: true });
  return problems;
}

/** Names of the lab's kind clusters that have node containers on this engine. */
export async function labClusters(): Promise<string[]> {
  return [...new Set((await kindNodeContainers()).map((c) => c.cluster).filter((n) => n.startsWith(CLUSTER_PREFIX)))];
}

/** Every kind node container on this engine, with its cluster's name (kind's label). */
export async function kindNodeContainers(): Promise<{ cluster: string; name: string }[]> {
  return (await containersLabelled(KIND_CLUSTER_LABEL)).map((c) => ({ cluster: c.labels[KIND_CLUSTER_LABEL] ?? '', name: c.name }));
}

/** Writes back recorded sysctls; returns those that could not be restored. */
export async function restoreSysctls(recorded: Record<string, string>): Promise<string[]> {
  const failed: string[] = [];
  for (const [n, v] of Object.entries(recorded)) {
    const path = `/proc/sys/${n.replace(/\./g, '/')}`;
    const now = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (now === v) continue;
    await writeFile(path, v).catch(() => failed.push(`${n} (is ${now}, was ${v})`));
  }
  return failed;
}

/**
 * One node of a kind cluster, as root on it: a node container made by kind,
 * with containerd's socket on a host directory (runDir) and the lab's shared
 * directory at the same path as on the host.
 */
/** The systemd slice of pods started over CRI on a kind node by the harness or an attack, apart from the kubelet's kubepods.slice. */
export const CRI_POD_SLICE = 'integrity-lab.slice';

export class KindLabNode implements LabNodeHandle {
  /** Container and Kubernetes node name. */
  readonly name: string;
  readonly role: 'control-plane' | 'worker';
  readonly labId: string;
  readonly profile: LabProfile;
  readonly stateDir: string;
  readonly shareDir: string;
  /** Host directory bind-mounted at /run/integrity-lab in the node. */
  readonly runDir: string;
  readonly exec: Exec;
  readonly cri: CriClient;
  components: readonly NodeComponent[] = [];
  #address?: string;
  #kubeletStopped = false;
  readonly #registry = new NodeRegistry(() => this.registryUrl, () => this.readFile('/usr/bin/busybox'));

  constructor(init: { name: string; role: 'control-plane' | 'worker'; labId: string; profile: LabProfile; stateDir: string }) {
    this.name = init.name;
    this.role = init.role;
    this.labId = init.labId;
    this.profile = init.profile;
    this.stateDir = init.stateDir;
    this.shareDir = join(init.stateDir, 'shared');
    this.runDir = join(init.stateDir, 'run', init.name);
    const container = init.name;
    this.exec = containerExec(container);
    this.cri = new CriClient(join(this.runDir, 'containerd.sock'));
  }

  /** Looks up the node's address on the kind network (after the node exists). */
  async resolveAddress(): Promise<string> {
    const r = await localExec.run(['docker', 'inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', this.name]);
    const ip = r.stdout.toString().trim().split(/\s+/)[0];
    if (r.exitCode !== 0 || !ip) throw new LabError<KindErrorCode>('KIND_CLUSTER_GONE', `node ${this.name} has no address: ${r.stderr.trim() || 'not on a network'}`);
    this.#address = ip;
    return ip;
  }

  get address(): string {
    if (!this.#address) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `the address of node ${this.name} is not known yet`);
    return this.#address;
  }

  get registryUrl(): string {
    return `http://${this.address}:5000`;
  }

  run(argv: readonly string[], options?: Parameters<Exec['run']>[1]): Promise<ExecResult> {
    return runChecked(this.exec, argv, options);
  }

  async readFile(path: string): Promise<Buffer> {
    return (await this.run(['cat', path])).stdout;
  }

  imageRef(repository: string, tag: string): string {
    return `${REGISTRY_HOST}/${repository}:${tag}`;
  }

  /** The control-plane pause image the node image preloads (pinned in containerd, never pulled). */
  get sandboxImage(): string {
    return SANDBOX_IMAGE;
  }

  /**
   * systemd runs containerd on a kind node: root restarts its unit (the
   * shims, and so the pods, keep running); an `environment` goes into a
   * drop-in of the unit first, as root would add it.
   */
  async restartContainerd(environment: Readonly<Record<string, string>> = {}): Promise<void> {
    const words = environmentWords(environment);
    const dropIn = words.length
      ? `mkdir -p /etc/systemd/system/containerd.service.d && printf '[Service]\\n%s\\n' ${words.map((w) => `'Environment=${w}'`).join(' ')} >/etc/systemd/system/containerd.service.d/zz-root.conf && systemctl daemon-reload || exit 1\n`
      : '';
    await this.run(['sh', '-c', `${dropIn}systemctl restart containerd || exit 1\n${CTR_ANSWERS_WITHIN_30S}`]);
  }

  /** Builds an image and pushes it to this node's registry (once per node). */
  pushImage(image: Workload['spec']['image']): Promise<BuiltImage> {
    return this.#registry.push(image);
  }

  /**
   * The CRI pod a workload runs as when root on this node starts it over CRI
   * (not through the kubelet): in a systemd slice of its own, since the
   * node's runc uses systemd cgroups and refuses a cgroupfs path.
   */
  podSpecOf(workload: Workload): PodSpec {
    const image = workload.spec.image;
    // The kind kubelet's runc uses systemd cgroups: a pod started over CRI needs a slice (containerd's
    // default /k8s.io parent makes runc refuse the sandbox), one of the lab's own, apart from the kubelet's.
    return { ...criPodOf(podOfWorkload(workload, this.imageRef(image.repository, image.tag))).spec, cgroupParent: CRI_POD_SLICE };
  }

  /**
   * A pod root starts over this node's CRI socket. The kubelet kills every
   * pod in the runtime that it did not start, within its 2 s housekeeping
   * (pkg/kubelet/kubelet_pods.go HandlePodCleanups: "Clean up containers for
   * orphaned pod we had not seen before", grace period 1 s), so such a pod
   * used to live only until then, and a scenario that looked later failed as
   * an error (its sandbox or container gone). Root who wants the pod to stay
   * stops the kubelet first, and so does this whenever it runs: running pods
   * keep running, and the defences under test (the gates in containerd, the
   * audit daemon, the watchdog) do not go through the kubelet. The node goes
   * NotReady after about 40 s; a scenario's cluster is deleted with it.
   */
  async runCriPod(spec: PodSpec, hooks?: RunPodHooks): Promise<RunningPod> {
    if (!this.#kubeletStopped) {
      await this.run(['systemctl', 'stop', 'kubelet']);
      this.#kubeletStopped = true;
    }
    return runPod(this.cri, spec, hooks);
  }

  /** Whether runCriPod stopped this node's kubelet (and nothing started it again). */
  get kubeletStopped(): boolean {
    return this.#kubeletStopped;
  }

  /**
   * Starts the kubelet again if runCriPod stopped it: a pod created through
   * the apiserver needs it (KindWorkloads.start). Within its next
   * housekeeping it kills the pods started over CRI, as it would have from
   * the start: a scenario that needs both starts its apiserver pods first,
   * or is done with its CRI pods (docs/kind.md).
   */
  async ensureKubelet(): Promise<void> {
    if (!this.#kubeletStopped) return;
    await this.run(['systemctl', 'start', 'kubelet']);
    this.#kubeletStopped = false;
  }

  async detections(since: Date): Promise<Detection[]> {
    const out: Detection[] = [];
    for (const c of this.components) if (c.detections) out.push(...(await c.detections(this, since)));
    return out;
  }
}

/** A component that runs once per cluster, on the control plane (the admission webhook), rather than on every node. */
function controlPlaneOnly(component: NodeComponent): boolean {
  return component.name === 'admission';
}

export class KindCluster {
  readonly #profile: LabProfile;
  #workers = 0;
  #progress: ProgressListener = silent;
  #keep = false;
  #signal: AbortSignal | undefined;
  #components: NodeComponent[] = [];
  #notInstalled: { component: string; reason: string }[] = [];

  constructor(profile: LabProfile) {
    this.#profile = profile;
  }

  /**
   * The integrity components to install on every node (the admission webhook
   * on the control plane only). Those the kind substrate cannot install yet
   * (KIND_UNSUPPORTED) are left out by name and reason: announced when the
   * cluster starts and listed in `StartedKindCluster.notInstalled`, so a
   * scenario that needs one fails visibly rather than passing without it.
   */
  withComponents(components: NodeComponent[]): this {
    this.#components = components.filter((c) => !KIND_UNSUPPORTED[c.name]);
    this.#notInstalled = components.filter((c) => KIND_UNSUPPORTED[c.name]).map((c) => ({ component: c.name, reason: KIND_UNSUPPORTED[c.name]! }));
    return this;
  }

  withWorkers(n: number): this {
    this.#workers = n;
    return this;
  }

  withProgress(listener: ProgressListener): this {
    this.#progress = listener;
    return this;
  }

  withKeep(keep: boolean): this {
    this.#keep = keep;
    return this;
  }

  /**
   * Once `signal` is aborted (Ctrl-C), the start goes no further: it is
   * checked between the preparation's steps and before `kind create`, so an
   * interrupted start removes what it made instead of creating a cluster
   * only to delete it. A cluster already being created is the interrupt
   * handler's to delete (clustersStarting).
   */
  withSignal(signal: AbortSignal): this {
    this.#signal = signal;
    return this;
  }

  async start(): Promise<StartedKindCluster> {
    const progress = this.#progress;
    const signal = this.#signal;
    signal?.throwIfAborted();
    await ensureDockerEngine(progress);
    const image = await ensureKindNodeImage(this.#profile, progress);
    signal?.throwIfAborted();
    const tools = await ensureKindTools(image.tag, progress);
    signal?.throwIfAborted();
    const labId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const name = `${CLUSTER_PREFIX}${labId}`;
    const stateDir = join(STATE_ROOT, labId);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const kubeconfig = join(stateDir, 'kubeconfig');
    const configFile = join(stateDir, 'kind.yaml');
    const shareDir = join(stateDir, 'shared');
    let env: Awaited<ReturnType<typeof kindEnvironment>>;
    try {
      await recordHostState();
      await writeFile(join(stateDir, 'substrate.json'), JSON.stringify({ substrate: 'kind', cluster: name, profile: this.#profile.metadata.name, kind: tools.kind }, null, 2));
      await mkdir(shareDir, { recursive: true, mode: 0o700 });
      // Localhost seccomp profiles, on every node (the vanilla control's too), before kubelet and the gates start.
      const seccompDir = await stageSeccompProfiles(stateDir);
      const labMounts = this.#components.length > 0 ? [{ hostPath: await prepareLabDir(this.#profile, this.#components, stateDir, image, progress, signal), containerPath: KIND_LAB_DIR, readOnly: true }] : [];
      const nodes = kindNodeNames(name, this.#workers).map((container, i) => ({
        role: i === 0 ? ('control-plane' as const) : ('worker' as const),
        extraMounts: [{ hostPath: join(stateDir, 'run', container), containerPath: KIND_CONTAINERD_SOCKET_DIR }, { hostPath: shareDir, containerPath: shareDir }, ...labMounts, { hostPath: seccompDir, containerPath: KUBELET_SECCOMP_ROOT, readOnly: true }],
      }));
      for (const n of nodes) await mkdir(n.extraMounts[0]!.hostPath, { recursive: true, mode: 0o700 });
      const auditPolicy = join(stateDir, 'audit-policy.yaml');
      await writeFile(auditPolicy, AUDIT_POLICY);
      await writeFile(configFile, renderKindConfig({ name, image: image.tag, nodes, auditPolicy }));
      env = await kindEnvironment(tools);
      signal?.throwIfAborted();
    } catch (err) {
      // No cluster exists yet; what was made for it goes, the lab's private keys (pki/) first of all,
      // and the host record it may have been the first to write.
      await rm(stateDir, { recursive: true, force: true });
      for (const problem of await restoreHostIfLast().catch((e: unknown) => [describeError(e)])) progress({ phase: 'CLEANUP', status: 'WARN', message: problem });
      throw err;
    }
    const started = new StartedKindCluster(labId, name, kubeconfig, stateDir, tools, env, this.#profile, this.#workers, this.#keep);
    for (const node of started.nodes) node.components = this.#components;
    started.notInstalled = this.#notInstalled;
    for (const n of this.#notInstalled) progress({ phase: 'START', status: 'WARN', message: `profile ${this.#profile.metadata.name}: ${n.component} is not installed on kind nodes: ${n.reason}` });
    // Known before `kind create` runs, so that Ctrl-C in the middle of it deletes what it made.
    clustersStarting.add(started);
    const create = () =>
      runStreamed<KindErrorCode>(
        [tools.kind, 'create', 'cluster', '--name', name, '--image', image.tag, '--config', configFile, '--kubeconfig', kubeconfig, '--retain', '--wait', '0s'],
        { progress, phase: 'START', label: 'kind create cluster', errorCode: 'KIND_CLUSTER_FAILED', env: { ...process.env, ...env }, everyMs: 3_000, tailLines: 30 },
      );
    try {
      await step(progress, 'START', `kind cluster ${name} (${1 + this.#workers} node${this.#workers ? 's' : ''}, Kubernetes ${image.binaries.version}${env.INTEGRITY_LAB_REAL_DOCKER ? ', near-privileged nodes' : ''})`, async () => {
        try {
          await create();
        } catch (err) {
          if (!isBootWaitTimeout(err)) throw err;
          // kind gives each node a fixed time to log systemd's boot target; on a loaded host a node
          // can miss it although nothing is wrong with it. Once, the half-made cluster goes and kind
          // starts again; a second miss is an error like any other.
          progress({ phase: 'START', status: 'WARN', message: `kind create cluster: a node did not log its boot in kind's wait (loaded host?); deleting cluster ${name} and creating it once more` });
          // Its nodes may already have preloaded (immutable) layer files: a plain delete left their volumes.
          await releaseNodeVolumes(name);
          await runStreamed<KindErrorCode>([tools.kind, 'delete', 'cluster', '--name', name], { progress, phase: 'START', label: 'kind delete cluster', errorCode: 'KIND_CLUSTER_FAILED', env: { ...process.env, ...env } });
          await create();
        }
      });
      await step(progress, 'START', 'pod network (bridge CNI per node)', () => started.configurePodNetwork());
      await step(progress, 'START', 'nodes Ready', () => started.waitReady(180_000));
      for (const node of started.nodes) await node.resolveAddress();
      for (const component of this.#components) {
        for (const node of controlPlaneOnly(component) ? [started.controlPlane] : started.nodes) {
          if (component.afterStart) await step(progress, 'START', `${component.name} on ${node.name}`, () => component.afterStart!(node));
        }
      }
    } catch (err) {
      const diagnosis = await started.diagnose().catch(() => '');
      // A cluster that failed is removed unless the user asked to keep labs for inspection.
      if (process.env.INTEGRITY_LAB_KEEP !== '1') await started.stop().catch(() => {});
      throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `kind cluster ${name} did not become ready: ${describeError(err)}${diagnosis ? `\n${diagnosis}` : ''}`, { cause: err });
    } finally {
      clustersStarting.delete(started);
    }
    progress({ phase: 'START', status: 'DONE', message: `kind cluster ${name} ready; kubeconfig ${kubeconfig}` });
    return started;
  }
}

/**
 * The lab's PKI, the components' node files and units, and (with the node
 * gates) the system images signed by the lab CA, in <stateDir>/lab for the
 * nodes' /kind/lab (lab-setup.ts).
 */
async function prepareLabDir(profile: LabProfile, components: readonly NodeComponent[], stateDir: string, image: KindNodeImage, progress: ProgressListener, signal?: AbortSignal): Promise<string> {
  const pki = await generateLabPki(join(stateDir, 'pki'), { clock: () => new Date() });
  const dir = await writeLabDir({ profile, components, stateDir, pki }, progress);
  if (components.some((c) => c.name.includes('gate'))) {
    const busybox = await readBusybox(image.tag);
    const workDir = join(stateDir, 'shared');
    signal?.throwIfAborted();
    await writeSignedSystemImages(dir, await buildSystemImages(image.binaries, busybox), pki, { exec: toolExec(image.tag, workDir), workDir }, progress, signal);
  }
  return dir;
}

/** Runs a tool of the kind node image in a throwaway container, with `workDir` at the same path. */
function toolExec(imageTag: string, workDir: string): Exec {
  return {
    run: ([tool, ...args], options) =>
      localExec.run(['docker', 'run', '--rm', '--network', 'none', '-v', `${workDir}:${workDir}`, '--entrypoint', tool!, imageTag, ...args], { timeoutMs: 120_000, ...options }),
  };
}

/**
 * Clusters whose start is under way (from just before `kind create` until
 * start() returns), for a signal handler: the caller learns of a cluster
 * only when start() returns it.
 */
export const clustersStarting = new Set<StartedKindCluster>();

/** kind's own wait for a node's systemd to log its boot target ran out ("could not find a log line that matches …"). */
export function isBootWaitTimeout(err: unknown): boolean {
  return /could not find a log line that matches/.test(describeError(err));
}

let privilegedRefused: boolean | undefined;

/** PATH and shim variables for kind (added to the environment): the shim only where the engine refuses --privileged. */
async function kindEnvironment(tools: KindTools): Promise<Record<string, string>> {
  if (privilegedRefused === undefined) {
    const probe = await localExec.run(['docker', 'run', '--rm', '--privileged', '--network', 'none', '--entrypoint', '/bin/true', tools.image], { timeoutMs: 60_000 });
    privilegedRefused = probe.exitCode !== 0 && /unable to apply caps|operation not permitted/i.test(probe.stderr);
    if (probe.exitCode !== 0 && !privilegedRefused) {
      throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `cannot run the kind node image: ${probe.stderr.trim()}`);
    }
  }
  if (!privilegedRefused) return {};
  const real = (await localExec.run(['sh', '-c', 'command -v docker'])).stdout.toString().trim();
  return {
    PATH: `${SHIM_DIR}:${process.env.PATH ?? ''}`,
    INTEGRITY_LAB_REAL_DOCKER: real,
    INTEGRITY_LAB_PRIVILEGE_FLAGS: nearPrivilegedFlags().join('\n'),
  };
}

export class StartedKindCluster {
  readonly substrate = 'kind';
  readonly nodes: KindLabNode[];
  /** Components of the profile that the kind substrate did not install, with the reason. */
  notInstalled: { component: string; reason: string }[] = [];
  #stopped = false;

  readonly labId: string;
  readonly name: string;
  readonly kubeconfigPath: string;
  readonly stateDir: string;
  readonly tools: KindTools;
  readonly env: Record<string, string>;
  readonly profile: LabProfile;
  readonly keep: boolean;

  constructor(labId: string, name: string, kubeconfigPath: string, stateDir: string, tools: KindTools, env: Record<string, string>, profile: LabProfile, workers: number, keep: boolean) {
    this.labId = labId;
    this.name = name;
    this.kubeconfigPath = kubeconfigPath;
    this.stateDir = stateDir;
    this.tools = tools;
    this.env = env;
    this.profile = profile;
    this.keep = keep;
    this.nodes = kindNodeNames(name, workers).map(
      (container, i) => new KindLabNode({ name: container, role: i === 0 ? 'control-plane' : 'worker', labId, profile, stateDir }),
    );
  }

  get controlPlane(): KindLabNode {
    return this.nodes[0]!;
  }

  /** Runs kubectl (Debian's, from the node image) against this cluster. */
  kubectl(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<ExecResult> {
    if (!existsSync(this.kubeconfigPath)) {
      throw new LabError<KindErrorCode>('KIND_CLUSTER_GONE', `the kubeconfig ${this.kubeconfigPath} of cluster ${this.name} is gone: the cluster was deleted`);
    }
    return localExec.run([this.tools.kubectl, '--kubeconfig', this.kubeconfigPath, ...args], options);
  }

  async kubectlJson<T>(args: readonly string[]): Promise<T> {
    const r = await this.kubectl([...args, '-o', 'json']);
    if (r.exitCode !== 0) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout.toString()) as T;
  }

  /**
   * A bridge CNI configuration for each node's podCIDR, and a route on each
   * node to every other node's pod range through that node's address.
   */
  async configurePodNetwork(): Promise<void> {
    type NodeList = { items: { metadata: { name: string }; spec: { podCIDR?: string }; status: { addresses: { type: string; address: string }[] } }[] };
    const polled = await poll(() => this.kubectlJson<NodeList>(['get', 'nodes']), (l) => l.items.length === this.nodes.length && l.items.every((n) => n.spec.podCIDR), { timeoutMs: 60_000, intervalMs: 500 });
    const list = polled.value!;
    if (!polled.ok) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `nodes have no podCIDR after 60000 ms: ${list.items.map((n) => `${n.metadata.name}=${n.spec.podCIDR ?? 'none'}`).join(', ')}`);
    const info = list.items.map((n) => ({ name: n.metadata.name, cidr: n.spec.podCIDR!, ip: n.status.addresses.find((a) => a.type === 'InternalIP')?.address ?? '' }));
    for (const node of this.nodes) {
      const me = info.find((i) => i.name === node.name);
      if (!me) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `node ${node.name} is not registered with the apiserver`);
      const conf = {
        cniVersion: '1.0.0',
        name: 'integrity-lab',
        plugins: [
          { type: 'bridge', bridge: 'lab0', isGateway: true, ipMasq: false, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: me.cidr }]], routes: [{ dst: '0.0.0.0/0' }] } },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      };
      const routes = info.filter((i) => i.name !== node.name).map((i) => `ip route replace ${i.cidr} via ${i.ip}`);
      const r = await node.exec.run(['sh', '-c', `mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-integrity-lab.conflist && ${['true', ...routes].join(' && ')}`], { input: JSON.stringify(conf, null, 2) });
      if (r.exitCode !== 0) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `CNI configuration on ${node.name} failed: ${r.stderr.trim()}`);
    }
  }

  /** Waits until every node reports Ready. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.kubectl(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=10s']);
      if (r.exitCode === 0) return;
      if (Date.now() > deadline) {
        throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `nodes not Ready after ${timeoutMs} ms: ${r.stderr.trim() || r.stdout.toString().trim()}`);
      }
    }
  }

  /** Names the stuck component: node conditions and the tail of the kubelet's and containerd's logs. */
  async diagnose(): Promise<string> {
    const parts: string[] = [];
    for (const node of this.nodes) {
      for (const unit of ['kubelet', 'containerd', 'integrity-lab-preload']) {
        const r = await node.exec.run(['journalctl', '-u', unit, '--no-pager', '-n', '15', '-o', 'cat'], { timeoutMs: 20_000 });
        if (r.exitCode === 0 && r.stdout.length) parts.push(`--- ${node.name}: ${unit} (last 15 lines)\n${r.stdout.toString().trimEnd()}`);
      }
    }
    const conditions = existsSync(this.kubeconfigPath) ? await this.kubectl(['get', 'nodes,pods', '-A', '-o', 'wide'], { timeoutMs: 20_000 }).catch(() => undefined) : undefined;
    if (conditions?.exitCode === 0) parts.unshift(`--- kubectl get nodes,pods -A\n${conditions.stdout.toString().trimEnd()}`);
    return parts.join('\n');
  }

  /** kube-apiserver's own audit events so far (its log backend), as audit.k8s.io/v1 Event objects. */
  async apiServerAuditLog(): Promise<string> {
    const r = await this.controlPlane.exec.run(['sh', '-c', `cat ${AUDIT_LOG_DIR}/audit.log`], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `cannot read the apiserver's audit log on ${this.controlPlane.name}: ${r.stderr.trim()}`);
    return r.stdout.toString();
  }

  /** Deletes the cluster, restores the sysctls the kubelet changed, removes the state directory. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const n of this.nodes) n.cri.close();
    await deleteKindCluster(this.labId, this.tools.kind, this.env);
  }
}

/** Lab ids of the kind clusters recorded in the state directory. */
export async function kindLabIds(): Promise<string[]> {
  const ids = (await localExec.run(['sh', '-c', `ls ${STATE_ROOT}/*/substrate.json 2>/dev/null`])).stdout.toString().split('\n').filter(Boolean);
  return ids.map((p) => p.split('/').at(-2)!);
}

/** The kind binary a lab's cluster was created with (recorded at start). */
export async function kindToolsOf(labId: string): Promise<string | undefined> {
  const state = JSON.parse(await readFile(join(STATE_ROOT, labId, 'substrate.json'), 'utf8').catch(() => '{}')) as { kind?: string };
  return state.kind;
}

/**
 * Before `kind delete cluster`: stops each node's kubelet, so that no container start (and no
 * start-gate decision, which attaches loop devices on the host's kernel) is cut short by the
 * delete, then clears the immutable flags of its layer files: Docker cannot remove a node's
 * volume while they carry them, and leaves it behind without a word.
 */
async function releaseNodeVolumes(name: string): Promise<void> {
  for (const container of (await localExec.run(['docker', 'ps', '-q', '--filter', `label=${KIND_CLUSTER_LABEL}=${name}`])).stdout.toString().split('\n').filter(Boolean)) {
    await containerExec(container).run(['sh', '-c', 'systemctl stop kubelet 2>/dev/null; sleep 1; find /var/lib/containerd -xdev -name layer.erofs -exec chattr -i {} + 2>/dev/null; true'], { timeoutMs: 60_000 });
  }
}

/** Deletes a lab's kind cluster by lab id, whether or not this process started it. */
export async function deleteKindCluster(labId: string, kind: string, env: Record<string, string> = {}): Promise<void> {
  const stateDir = join(STATE_ROOT, labId);
  const state = JSON.parse(await readFile(join(stateDir, 'substrate.json'), 'utf8').catch(() => '{}')) as { cluster?: string };
  const name = state.cluster ?? `${CLUSTER_PREFIX}${labId}`;
  const problems: string[] = [];
  // The audit sidecars beside the nodes go first, with their kernel rules
  // (checked gone), while the nodes they watch still exist. Imported here,
  // not at the top: the audit component reads this module's cluster names.
  const { stopKindAudit, KIND_LAB_LABEL } = await import('../audit/node/component.ts');
  // Root on a node may have frozen a node or a sidecar: nothing below could stop it (lab/cgroup-thaw.ts).
  for (const label of [`${KIND_CLUSTER_LABEL}=${name}`, `${KIND_LAB_LABEL}=${labId}`]) await thawContainersLabelled(label, toStderr).catch((err: unknown) => problems.push(describeError(err)));
  await stopKindAudit(labId, name).catch((err: unknown) => problems.push(describeError(err)));
  await releaseNodeVolumes(name);
  const del = await localExec.run([kind, 'delete', 'cluster', '--name', name], { env, timeoutMs: 180_000 });
  if (del.exitCode !== 0) problems.push(`kind delete cluster: ${del.stderr.trim()}`);
  const left = (await localExec.run(['docker', 'ps', '-aq', '--filter', `label=${KIND_CLUSTER_LABEL}=${name}`])).stdout.toString().trim();
  if (left) problems.push(`containers left: ${left.replace(/\n/g, ' ')}`);
  const leaked = await releaseLeakedLoopDevices();
  if (leaked.failed.length) problems.push(`loop devices not released: ${leaked.failed.join(', ')}`);
  await rm(stateDir, { recursive: true, force: true });
  problems.push(...(await restoreHostIfLast()));
  if (problems.length) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `teardown of kind cluster ${name} left something behind: ${problems.join('; ')}`);
}
