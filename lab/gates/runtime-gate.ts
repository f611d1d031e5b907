/**
 * The run-time gate: a wrapper that containerd's runc shim calls as its OCI
 * runtime (`BinaryName`). On `create`, after the shim has mounted the
 * container's rootfs and before runc starts anything, it decides for
 * containers in protected namespaces:
 *
 * 1. the image's manifest (from containerd's content store) must carry a
 *    valid attached signature; an unsigned image is treated as corrupted:
 *    it is removed and pulled again from the registry (through the pull gate);
 * 2. every layer under the rootfs must be the erofs mount of its layer.erofs,
 *    whose dm-verity root hash equals the signed one (userspace hashing, or
 *    kernel dm-verity devices where the node has device-mapper);
 * 3. the rootfs is remounted read-only from the verified layers plus the
 *    standard mount-points layer (pinned root hash), with no upperdir.
 *
 * A pod's sandbox (its pause container) in a protected namespace is
 * verified the same way, from the pause image: it shares its namespaces
 * with every container of the pod, so a forged pause image is code running
 * inside the protected pod.
 *
 * A refusal is written to runc's JSON log, so containerd reports it to the
 * CRI caller as the reason StartContainer (or RunPodSandbox) failed.
 * Everything else (other runc commands, unprotected namespaces, sandboxes
 * outside the system tier) passes through.
 */
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, dirname } from 'node:path';
import { describeError } from '../errors.ts';
import { localExec, type Exec } from '../exec.ts';
import { parseMountinfo } from '../node/rootfs.ts';
import { GATE_CONFIG_PATH, loadGateConfig, loadTrustedRootsPem, type GateConfig } from './config.ts';
import { checkRuntimeEnvironment, isPinRefusal, type DefenceReader, type PinnedProgram, type RuntimeCheck } from './pins.ts';
import { blobFiles, manifestOf, type ContentStore } from './content-store.ts';
import { ctrRecords, type ContainerRecord, type ContainerdRecords } from './containerd-records.ts';
import type { CreatedTasks } from './created-tasks.ts';
import { checkSignedConfig, decideImageTrust, quarantineWarranted } from './image-trust.ts';
import { kernelVerityAvailable, RootHashCache } from './layer-check.ts';
import { bindLayers, LAYER_BIND, type BoundLayer, type LayerToBind } from './layer-mount.ts';
import { Refusal } from './refusal.ts';
import { stageTimer } from './stages.ts';
import type { VersionRecord } from './versions.ts';
import type { AppCheckCode } from './app-image.ts';
import { gateApplication } from './app-gate.ts';
import { tierOf, type Tier } from './tiers.ts';
import { CRI_ANNOTATIONS } from '../cri/annotations.ts';
import { askedEarly, identityDifferences, type CriIdentity, type CriIdentitySource, type RequestedProcess } from '../cri/identity.ts';
import { gatedSpec, hooksIn, noexecWritableMounts, specDifferences } from './bundle-spec.ts';
import { seccompDepartures, type LocalhostSeccomp, type SeccompProfile, type SeccompReferences } from './seccomp-reference.ts';
import { departuresFromRequest, sandboxEvidence, type NodeFacts, sandboxNamespaceDepartures, userDepartures, type ImageAccounts, type ImageProcess, type RecordedProcessAndMounts } from './cri-request.ts';

export { CRI_ANNOTATIONS, noexecWritableMounts };

/** The containerd namespace CRI keeps its pods in: a task bundle at `<task root>/k8s.io/<id>` belongs to CRI. */
export const CRI_CONTAINERD_NAMESPACE = 'k8s.io';

/** A bundle directory (`…/io.containerd.runtime.v2.task/<namespace>/<id>`) in CRI's containerd namespace. */
export const isCriBundle = (bundle: string) => basename(dirname(bundle)) === CRI_CONTAINERD_NAMESPACE;

export interface RuncInvocation {
  command: string | undefined;
  bundle?: string;
  logFile?: string;
  id?: string;
}

/** Finds runc's subcommand and the options the gate needs in its argv. */
export function parseRuncArgs(argv: readonly string[]): RuncInvocation {
  const withValue = new Set(['--root', '--log', '--log-format', '--criu', '--rootless', '--bundle', '-b', '--pid-file', '--console-socket']);
  let command: string | undefined;
  let bundle: string | undefined;
  let logFile: string | undefined;
  let id: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (withValue.has(flag)) {
      const value = inline ?? argv[++i];
      if (flag === '--bundle' || flag === '-b') bundle = value;
      if (flag === '--log') logFile = value;
      continue;
    }
    if (a.startsWith('-')) continue;
    if (command === undefined) command = a;
    else id ??= a;
  }
  return { command, bundle, logFile, id };
}

interface OciSpec {
  root?: { path?: string; readonly?: boolean };
  annotations?: Record<string, string>;
  mounts?: { destination: string; type?: string; source?: string; options?: string[] }[];
  process?: { args?: string[] };
}

export interface GateDecision {
  time: string;
  action: 'pass' | 'allow' | 'refuse';
  container?: string;
  /** The decision is about a pod's sandbox (pause container), not a workload container. */
  sandbox?: boolean;
  namespace?: string;
  pod?: string;
  image?: string;
  reason: string;
  /**
   * The refusal came from the gate's own failure (an unexpected error), not
   * from a check that found something: fail-closed, but no verdict is earned
   * by it (lab/attacks/outcome.ts).
   */
  internalError?: true;
  layers?: { digest: string; layerFile: string; signed: string; actual: string; cached: boolean; mountPoint: string; device: string; majmin: string; backing: string }[];
  /** The signed manifest and config digests the container was bound to. */
  manifestDigest?: string;
  configDigest?: string;
  corrupted?: { removed: boolean; repull: string };
  verityMode?: 'kernel' | 'userspace';
  /** The namespace's integrity tier (tiers.ts) and the rule that chose it. */
  tier?: Tier;
  tierRule?: string;
  /** Where the bundle's config.json departed from containerd's record of the container (bundle-spec.ts). */
  bundleEdits?: string[];
  /** Where containerd's record of a workload container names another pod than CRI's own state (lab/cri/identity.ts). */
  recordChanges?: string[];
  /** The OCI hooks a protected task's spec asked runc to run (bundle-spec.ts `hooksIn`). */
  hooks?: string[];
  /** Application tier: which check refused (app-image.ts codes). */
  check?: AppCheckCode;
  /** Application tier: each layer file against the reference rebuilt from its verified blob. */
  applicationLayers?: { digest: string; layerFile: string; reference: string; actual: string; cached: boolean }[];
  /** Time the decision took, in the gate process. */
  durationMs?: number;
  /** Where a protected decision's time went, in ms per stage (the bench's breakdown). */
  stagesMs?: Record<string, number>;
}

export interface RuntimeGateDeps {
  exec: Exec;
  readFile(path: string): string;
  writeFile(path: string, data: string): void;
  mountinfo(): string;
  cache: RootHashCache;
  kernelVerity(): boolean;
  /** Kernel dm-verity mode: where hash trees are written (default /run/integrity-lab/verity). */
  verityWorkDir?: string;
  clock(): Date;
  /** containerd's content store, every blob checked against its digest. */
  content: ContentStore;
  /** containerd's image and container records (namespace k8s.io): the daemon asks over one kept-open API connection. */
  records: ContainerdRecords;
  /** CRI's own state of a workload container's pod (the daemon's kept-open connection); absent: the record is believed. */
  cri?: CriIdentitySource;
  /** The daemon's memory of what each allowed or passed create established, for the start that follows (created-tasks.ts). */
  created?: CreatedTasks;
  /** Reads the configuration and trusted roots; the daemon's refuses bytes that differ from their pins (pins.ts). */
  readDefence?: DefenceReader;
  /** Checks the OCI runtime a protected container is handed over to against the daemon's pin (pins.ts runtimeChecker). */
  runtime?: RuntimeCheck;
  /** The layer-bind helper checked against the host's pin, as the program to run (pins.ts pinnedProgram). Default: LAYER_BIND by path, unchecked. */
  layerBind?: PinnedProgram;
  /** The node's newest signed release per repository (versions.ts): an older v2 release is refused. */
  versions?: VersionRecord;
  /** The loader variables the runtime wrapper found in its environment (pins.ts checkRuntimeEnvironment); none when not given. */
  runtimeLoaderVariables?: readonly string[];
  /**
   * containerd's RuntimeDefault seccomp profile for a bounding set, from the pinned helper
   * (seccomp-reference.ts); absent: a RuntimeDefault container's profile is held to its presence and
   * default action only.
   */
  seccompReferences?: SeccompReferences;
  /**
   * A Localhost profile's reference, from the bytes pinned at the daemon's start (seccomp-reference.ts);
   * absent: such a container's profile is held to its presence and default action only.
   */
  localhostSeccomp?: LocalhostSeccomp;
  /** What containerd's CRI found on this node that decides part of a spec (cri-request.ts NodeFacts); absent: not known. */
  nodeFacts?(): NodeFacts;
}

/** `cache`: the daemon passes its own, kept for its life; a new one reads the cache file. */
export const nodeDeps = (cache: RootHashCache = new RootHashCache('/run/integrity-lab/root-hash-cache.json')): RuntimeGateDeps => ({
  exec: localExec,
  readFile: (p) => readFileSync(p, 'utf8'),
  writeFile: (p, d) => writeFileSync(p, d),
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
  cache,
  kernelVerity: () => kernelVerityAvailable(),
  clock: () => new Date(),
  content: blobFiles(),
  records: ctrRecords(localExec, { namespace: 'k8s.io' }),
  nodeFacts: () => ({ swapController: swapControllerAvailable() }),
});

let swapController: boolean | undefined;
/**
 * containerd's `SwapControllerAvailable` (internal/cri/opts), asked the same way on the same node:
 * cgroup v1's `memory.memsw.limit_in_bytes` at the memory controller's root, or, on cgroup v2,
 * `memory.swap.max` in this process's own cgroup (the root has none).
 */
export function swapControllerAvailable(): boolean {
  if (swapController !== undefined) return swapController;
  let path = '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes';
  try {
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      const own = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
      path = join('/sys/fs/cgroup', own, 'memory.swap.max');
    }
  } catch {
    // as containerd: not detected, not available
  }
  swapController = existsSync(path);
  return swapController;
}

/** An unsigned image on the node is corrupted: remove it and pull it again through the pull gate. */
async function quarantine(exec: Exec, image: string): Promise<NonNullable<GateDecision['corrupted']>> {
  const removed = (await exec.run(['ctr', '-n', 'k8s.io', 'images', 'rm', image])).exitCode === 0;
  // Detached, so that the refusal is not delayed by the pull.
  await exec.run(['sh', '-c', `setsid ctr -n k8s.io images pull --plain-http ${JSON.stringify(image)} >>/var/log/integrity-lab/repull.log 2>&1 &`]);
  return { removed, repull: `ctr images pull ${image} started (log /var/log/integrity-lab/repull.log)` };
}

function rootOverlay(mountinfo: string, rootfs: string): { lowerdirs: string[]; upperdir?: string } {
  const entry = parseMountinfo(mountinfo).filter((m) => m.mountPoint === rootfs).pop();
  if (!entry) throw new Refusal(`rootfs ${rootfs} is not mounted`);
  if (entry.fstype !== 'overlay') throw new Refusal(`rootfs ${rootfs} is ${entry.fstype}, expected an overlay of EROFS layers`);
  const opt = (k: string) => entry.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
  return { lowerdirs: (opt('lowerdir') ?? '').split(':').filter(Boolean), upperdir: opt('upperdir') };
}

/**
 * Decides, and on `allow` rewires the rootfs. Never throws: an internal
 * error refuses the protected container.
 */
export async function gateCreate(bundle: string, containerId: string, config: GateConfig | Error, deps: RuntimeGateDeps): Promise<GateDecision> {
  const decision = await decideCreate(bundle, containerId, config, deps);
  // A refused create leaves no task to start.
  if (decision.action === 'refuse') deps.created?.take(containerId);
  return decision;
}

async function decideCreate(bundle: string, containerId: string, config: GateConfig | Error, deps: RuntimeGateDeps): Promise<GateDecision> {
  const time = deps.clock().toISOString();
  let spec: OciSpec;
  try {
    spec = JSON.parse(deps.readFile(join(bundle, 'config.json'))) as OciSpec;
  } catch (err) {
    return { time, action: 'refuse', reason: `cannot read the OCI spec of bundle ${bundle}: ${describeError(err)}` };
  }
  const { stagesMs: stages, stage } = stageTimer();
  // What CRI holds of a workload container is asked for beside containerd's
  // record, not after it. The bundle's word on what the task is decides only
  // what is asked early; the decision takes nothing from it.
  const claimed = spec.annotations ?? {};
  const early =
    isCriBundle(bundle) && deps.cri && claimed[CRI_ANNOTATIONS.containerType] === 'container'
      ? askedEarly(deps.cri, containerId, { request: !(config instanceof Error) && tierOf(config, claimed[CRI_ANNOTATIONS.namespace] ?? '').tier === 'system' })
      : undefined;
  // Which pod and namespace the task belongs to is containerd's word, not the
  // bundle's: config.json is root's to edit before runc reads it.
  let record: ContainerRecord | undefined;
  let recorded: OciSpec | undefined;
  if (isCriBundle(bundle)) {
    try {
      record = await deps.records.container(containerId);
      recorded = record.spec() as OciSpec;
    } catch (err) {
      return { time, action: 'refuse', reason: `cannot compare the bundle ${bundle} with containerd's record of container ${containerId}, so it is refused: ${describeError(err)}` };
    }
  }
  stage('record');
  const a = (recorded ?? spec).annotations ?? {};
  const base: GateDecision = {
    time,
    action: 'pass',
    container: a[CRI_ANNOTATIONS.containerName],
    namespace: a[CRI_ANNOTATIONS.namespace],
    pod: a[CRI_ANNOTATIONS.podName],
    image: a[CRI_ANNOTATIONS.imageName],
    reason: '',
  };
  const type = a[CRI_ANNOTATIONS.containerType];
  if (type !== 'container' && type !== 'sandbox') return { ...base, reason: 'not a CRI workload container or pod sandbox' };
  const sandbox = type === 'sandbox';
  if (sandbox) Object.assign(base, { sandbox: true, image: a[CRI_ANNOTATIONS.sandboxImageName] });
  // A workload container's pod is, above all, CRI's word: the record too can
  // be rewritten, through containerd's API (lab/cri/identity.ts).
  let criIdentity: CriIdentity | undefined;
  const cri = recorded && !sandbox ? (early ?? deps.cri) : undefined;
  if (cri) {
    const checked = await checkCriIdentity(base, containerId, a, cri);
    if (checked.refusal) return checked.refusal;
    criIdentity = checked.identity;
    stage('criIdentity');
  }
  if (record) deps.created?.note(containerId, { recorded: record.spec(), identity: criIdentity });
  if (config instanceof Error) return { ...base, action: 'refuse', reason: `the gate configuration is unusable, so every container is refused: ${describeError(config)}` };
  const namespace = base.namespace ?? '';
  const tier = tierOf(config, namespace);
  Object.assign(base, { tier: tier.tier, tierRule: tier.rule });
  if (recorded && tier.tier !== 'none') {
    const edits = specDifferences(spec, recorded);
    if (edits.length > 0) return { ...base, action: 'refuse', reason: `the bundle's config.json is not the spec containerd recorded for this container: ${edits.join('; ')}; it was edited on the node after containerd wrote it`, bundleEdits: edits };
  }
  if (tier.tier !== 'none') {
    const hooks = hooksIn(recorded ?? spec);
    if (hooks.length > 0) return { ...base, action: 'refuse', reason: `the spec asks runc to run ${hooks.length === 1 ? 'a hook' : `${hooks.length} hooks`} (${hooks.join('; ')}): CRI puts none into a protected task's spec, so ${hooks.length === 1 ? 'it was' : 'they were'} added on the node`, hooks };
  }
  // The application tier checks workload images against their digests; the pause image is the node's own, verified in the system tier only.
  if (sandbox && tier.tier !== 'system') return { ...base, reason: `pod sandbox in namespace "${namespace}": the pause image is verified in the system tier only (${tier.rule})` };
  if (tier.tier === 'application') {
    return gateApplication(base, isAbsolute(spec.root?.path ?? 'rootfs') ? spec.root!.path! : join(bundle, spec.root?.path ?? 'rootfs'), deps.exec);
  }
  if (tier.tier !== 'system') return { ...base, reason: `namespace "${namespace}" is not protected (${tier.rule})` };
  const image = base.image ?? '';
  try {
    // What runs after an allow is runc: a replaced runc could undo everything below.
    deps.runtime?.(config.runtime);
    checkRuntimeEnvironment(deps.runtimeLoaderVariables ?? []);
    // So is the helper whose word on loop devices the layer binding takes.
    const layerBind = deps.layerBind?.() ?? LAYER_BIND;
    const roots = loadTrustedRootsPem(config.trustedRootsFile, deps.readDefence);
    stage('pins');
    const { bytes, digest } = await manifestOf(deps.records, image, deps.content);
    stage('manifest');
    const trust = await decideImageTrust(image, bytes, digest, config, roots, deps.clock, deps.versions);
    stage('signature');
    if (!trust.ok) {
      // An expired certificate is the signer's clock, not a corrupted image:
      // removing it would take every workload on it down with no way back.
      if (!quarantineWarranted(trust)) {
        return { ...base, action: 'refuse', reason: `image ${image}@${digest} cannot be trusted now (${trust.reason}); refused, the image is kept on the node` };
      }
      const corrupted = await quarantine(deps.exec, image);
      return {
        ...base,
        action: 'refuse',
        reason: `image ${image}@${digest} is not validly signed (${trust.reason}); treated as corrupted: removed from the node and pulled again from the registry`,
        corrupted,
      };
    }
    // The config (entrypoint, command, env, user, working directory) is signed
    // through the manifest's config digest: its bytes must still hash to it.
    const configBlob = checkSignedConfig(image, trust.configDigest, deps.content);
    // The name is looked up again now, at start; the container's process was
    // built at CreateContainer from whatever the name pointed to then. A name
    // re-pointed in between (an unsigned config over the same layers) would
    // start the attacker's command from verified layers: bind to the image
    // CRI actually used.
    // The image CRI created a workload container from, in the record read above.
    const created = sandbox ? undefined : record ? record.criImageId() : await deps.records.criImageId(containerId);
    if (created !== undefined && created !== trust.configDigest) {
      throw new Refusal(`the container was created from image ${created}, not from the verified ${image}@${digest} (config ${trust.configDigest}): the name was pointed at another image between CreateContainer and the start`);
    }
    // And the process and mounts runc will get must follow from the request and that config.
    const requested = criIdentity && cri ? await checkCriRequest(spec, configBlob, containerId, criIdentity, cri, deps) : undefined;
    // A sandbox is in no CRI memory yet, but CRI builds its spec from the pause image alone.
    if (sandbox && recorded) checkSandboxSpec(recorded, configBlob, containerId);
    stage('config');

    const rootfs = isAbsolute(spec.root?.path ?? 'rootfs') ? spec.root!.path! : join(bundle, spec.root?.path ?? 'rootfs');
    const overlay = rootOverlay(deps.mountinfo(), rootfs);
    if (overlay.lowerdirs.length !== trust.rootHashes.length) {
      throw new Refusal(`rootfs has ${overlay.lowerdirs.length} layers, the signed manifest ${trust.rootHashes.length}`);
    }
    const useKernel = config.verityMode === 'kernel' || (config.verityMode === 'auto' && deps.kernelVerity());
    // The shim's lower mounts are never trusted (their source string is free
    // text): only which snapshot holds which layer file is taken from them.
    // Manifest layers are base first; overlay lowerdirs are top first.
    const toBind: LayerToBind[] = trust.rootHashes.map((signed, i) => ({
      file: join(dirname(overlay.lowerdirs[overlay.lowerdirs.length - 1 - i]!), 'layer.erofs'),
      signed,
      name: String(i),
      label: `layer ${i} (${trust.layerDigests[i]})`,
    }));
    toBind.push({ file: config.standardLayer.path, signed: config.standardLayer.rootHash, name: 'standard', label: 'the standard layer (pinned root hash)' });
    // Each layer on the gate's own mount point, from the bytes it hashed, and
    // the read-only overlay of the standard layer over them: no upperdir.
    const bound = await bindLayers(containerId, toBind, rootfs, {
      exec: deps.exec,
      mountinfo: deps.mountinfo,
      hasher: deps.cache,
      kernel: useKernel ? { workDir: deps.verityWorkDir ?? '/run/integrity-lab/verity' } : undefined,
      helper: layerBind,
    });
    stage('bindLayers');
    // User and group names, and group memberships, are resolved in the image's own /etc/passwd and /etc/group:
    // read now, from the rootfs just mounted from the verified bytes, not from the shim's mounts (accountsIn).
    if (requested) checkCriUser(spec, requested, configBlob, accountsIn(rootfs, deps.readFile));
    const std = bound.pop()!;
    const layers = bound.map((b, i) => layerRecord(b, trust.layerDigests[i]!, trust.rootHashes[i]!));

    deps.writeFile(join(bundle, 'config.json'), JSON.stringify(gatedSpec(spec)));
    stage('spec');
    if (trust.binding) deps.versions?.note(image, digest, trust.binding);
    return {
      ...base,
      action: 'allow',
      reason: `signature valid (${trust.format}); config ${trust.configDigest} intact; ${layers.length} layers match their signed root hashes and are mounted from the verified bytes; rootfs read-only with the standard layer, no upperdir, writable mounts noexec${overlay.upperdir ? ` (the prepared upperdir ${overlay.upperdir} is not mounted)` : ''}`,
      layers: [...layers, layerRecord(std, 'standard-layer', config.standardLayer.rootHash)],
      manifestDigest: digest,
      configDigest: trust.configDigest,
      verityMode: useKernel ? 'kernel' : 'userspace',
      stagesMs: stages,
    };
  } catch (err) {
    // Whatever was mounted for a refused container goes again now, by the helper (a helper that is not the pinned bytes has mounted nothing).
    if (containerId) await releaseContainer(containerId, deps);
    if (err instanceof Refusal || isPinRefusal(err)) return { ...base, action: 'refuse', reason: err.message };
    return { ...base, action: 'refuse', reason: `internal error, refusing: ${describeError(err)}`, internalError: true };
  }
}

/**
 * Holds containerd's record of a workload container to the pod CRI created
 * it in: `base` then names CRI's pod; a record that names another, or a CRI
 * that cannot be asked, refuses. A container CRI does not know (made with
 * containerd's own API) is left to its record.
 */
export async function checkCriIdentity<D extends GateDecision>(
  base: D,
  containerId: string,
  recorded: Readonly<Record<string, string>>,
  cri: CriIdentitySource,
): Promise<{ refusal?: D; identity?: CriIdentity }> {
  let identity: CriIdentity | undefined;
  try {
    identity = await cri.ofContainer(containerId);
  } catch (err) {
    return { refusal: { ...base, action: 'refuse', reason: `cannot ask CRI which pod container ${containerId} belongs to, so it is refused: ${describeError(err)}` } };
  }
  if (!identity) return {};
  const changed = identityDifferences(identity, recorded);
  Object.assign(base, { namespace: identity.namespace, pod: identity.pod, container: identity.container });
  if (changed.length === 0) return { identity };
  return { identity, refusal: { ...base, action: 'refuse', reason: `containerd's record of this container is not the pod CRI created it in: ${changed.join('; ')}; the record was changed through containerd's API`, recordChanges: changed } };
}

/**
 * Refuses (throws) a protected workload container whose recorded command,
 * process, namespaces or mounts do not follow from the request CRI holds and
 * the signed image config (cri-request.ts). Nothing to hold it to when CRI has no request.
 */
async function checkCriRequest(spec: OciSpec, configBlob: Buffer, containerId: string, identity: CriIdentity, cri: CriIdentitySource, deps: Pick<RuntimeGateDeps, 'readFile' | 'seccompReferences' | 'localhostSeccomp' | 'nodeFacts'>): Promise<RequestedProcess | undefined> {
  let request;
  try {
    request = await cri.requestOf(containerId);
  } catch (err) {
    throw new Refusal(`cannot ask CRI what was requested for container ${containerId}: ${describeError(err)}`);
  }
  if (!request) return undefined;
  const departures = departuresFromRequest(spec, request, imageProcessOf(configBlob), { containerId, sandboxId: identity.sandboxId, sandbox: sandboxEvidence(identity.sandboxId, deps.readFile) }, realpathSync, deps.nodeFacts?.() ?? {});
  const asked = request.process;
  if (asked && !asked.privileged && asked.seccomp === 'runtime-default' && deps.seccompReferences) {
    const bounding = (spec as RecordedProcessAndMounts).process?.capabilities?.bounding ?? [];
    let reference;
    try {
      reference = await deps.seccompReferences(bounding);
    } catch (err) {
      throw new Refusal(`cannot compute containerd's RuntimeDefault seccomp profile to hold container ${containerId}'s record to: ${describeError(err)}`);
    }
    departures.push(...seccompDepartures((spec as RecordedProcessAndMounts).linux?.seccomp as SeccompProfile | null | undefined, reference));
  }
  if (asked && !asked.privileged && asked.seccomp === 'localhost' && deps.localhostSeccomp) {
    const path = asked.seccompLocalhostRef ?? '';
    let reference;
    try {
      reference = await deps.localhostSeccomp(path);
    } catch (err) {
      throw new Refusal(`cannot hold container ${containerId}'s seccomp profile to the Localhost profile ${JSON.stringify(path)} its request names: ${describeError(err)}`);
    }
    const localhost = seccompDepartures((spec as RecordedProcessAndMounts).linux?.seccomp as SeccompProfile | null | undefined, reference, path);
    // containerd read the file at CreateContainer: a rewritten file gives the same departure as an edited record.
    if (localhost.length > 0) throw new Refusal(`${RECORD_CHANGED_PREFIX}${[...departures, ...localhost].join('; ')}; the record was changed after CreateContainer, or the profile's file before it`);
  }
  if (departures.length > 0) throw new Refusal(`${RECORD_CHANGED_PREFIX}${departures.join('; ')}${RECORD_CHANGED_SUFFIX}`);
  return request.process;
}

const RECORD_CHANGED_PREFIX = "containerd's record of this container does not follow from what the kubelet asked CRI for and the signed image config: ";
const RECORD_CHANGED_SUFFIX = '; the record was changed after CreateContainer';

/** Refuses (throws) a protected workload container whose recorded user or groups the request and the verified image do not give (cri-request.ts `userDepartures`). */
function checkCriUser(spec: OciSpec, requested: RequestedProcess, configBlob: Buffer, accounts: ImageAccounts): void {
  const departures = userDepartures(spec, requested, imageProcessOf(configBlob), accounts);
  if (departures.length > 0) throw new Refusal(`${RECORD_CHANGED_PREFIX}${departures.join('; ')}${RECORD_CHANGED_SUFFIX}`);
}

/**
 * The image's /etc/passwd and /etc/group under a rootfs the gate mounted,
 * each path resolved inside the rootfs as containerd resolves it there
 * (resolveInRoot); absent, unreadable or not a regular file: undefined,
 * and names in it do not resolve.
 */
export function accountsIn(rootfs: string, readFile: (path: string) => string): ImageAccounts {
  const read = (path: string) => {
    try {
      const resolved = resolveInRoot(rootfs, path);
      // A FIFO or a device there would hold the decision (and runc create) for as long as nobody writes to it.
      return statSync(resolved).isFile() ? readFile(resolved) : undefined;
    } catch {
      return undefined;
    }
  };
  return { passwd: read('/etc/passwd'), group: read('/etc/group') };
}

/**
 * A path inside `root` with every symlink on the way resolved as if `root`
 * were `/` (an absolute target starts again at `root`, `..` stops at it),
 * as containerd's `fs.RootPath` does: read on the node, a symlink in the
 * image would otherwise name the node's file. More than 40 links: ELOOP.
 */
export function resolveInRoot(root: string, path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  for (let links = 0; parts.length > 0; ) {
    const part = parts.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let target: string | undefined;
    try {
      if (lstatSync(here).isSymbolicLink()) target = readlinkSync(here);
    } catch {
      // Absent: the rest is taken as it stands, and reading it will fail.
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > 40) throw Object.assign(new Error(`too many symlinks resolving ${path} in ${root}`), { code: 'ELOOP' });
    if (target.startsWith('/')) done.length = 0;
    parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(root, ...done);
}

/** The process fields of a signed image config (its bytes already checked against the signed digest). */
function imageProcessOf(configBlob: Buffer): ImageProcess {
  try {
    return (JSON.parse(configBlob.toString('utf8')) as { config?: ImageProcess }).config ?? {};
  } catch (err) {
    throw new Refusal(`the signed image config is not JSON: ${describeError(err)}`);
  }
}

/**
 * Refuses (throws) a protected pod sandbox whose recorded command or mounts
 * do not follow from the signed pause image config alone. containerd's CRI
 * builds a sandbox's spec from the image (its entrypoint, then its cmd) and
 * the runtime's defaults, with no command or mount from the kubelet; only
 * its own /dev/shm is bound in. CRI has no memory of the sandbox to ask
 * until it has started (lab/cri/identity.ts), so this is what holds the
 * record: a pause image with a shell would otherwise run whatever command a
 * rewritten record named, in the pod's namespaces. Its namespaces must have
 * the shape CRI gives a sandbox (cri-request.ts `sandboxNamespaceDepartures`):
 * every container of the pod joins them.
 */
function checkSandboxSpec(recorded: RecordedProcessAndMounts, configBlob: Buffer, sandboxId: string): void {
  const departures = [
    ...departuresFromRequest(recorded, { command: [], args: [], mounts: [] }, imageProcessOf(configBlob), { containerId: sandboxId, sandboxId }, realpathSync),
    ...sandboxNamespaceDepartures(recorded),
  ];
  if (departures.length > 0) {
    throw new Refusal(`containerd's record of this pod sandbox does not follow from the signed pause image config (a sandbox's request asks for no command and no mount): ${departures.join('; ')}; the record was changed after RunPodSandbox created it`);
  }
}

/** `layer-bind release ID`: the container's gate mounts, verity devices and directory go; failures are the watchdog's to see. */
async function releaseContainer(containerId: string, deps: RuntimeGateDeps): Promise<void> {
  let helper: string;
  try {
    helper = deps.layerBind ? deps.layerBind() : LAYER_BIND;
  } catch {
    return;
  }
  await deps.exec.run([helper, 'release', containerId]).catch(() => undefined);
}

function layerRecord(b: BoundLayer, digest: string, signed: string): NonNullable<GateDecision['layers']>[number] {
  return { digest, layerFile: b.file, signed, actual: b.actual, cached: b.cached, mountPoint: b.mountPoint, device: b.device, majmin: b.majmin, backing: b.backing };
}

/** Writes the refusal where containerd reads runc's errors, and to `out`. */
export function reportRefusal(logFile: string | undefined, message: string, clock: () => Date, out: (line: string) => void): void {
  out(message);
  if (!logFile) return;
  try {
    appendFileSync(logFile, JSON.stringify({ level: 'error', msg: message, time: clock().toISOString() }) + '\n');
  } catch {
    // stderr still carries it
  }
}

/** The executable's body for `runc create`; returns the exit code (0: hand over to runc). */
export async function runtimeGateMain(
  argv: readonly string[],
  deps: RuntimeGateDeps = nodeDeps(),
  out: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Promise<number> {
  const inv = parseRuncArgs(argv);
  if (inv.command !== 'create' || !inv.bundle) return 0;
  let config: GateConfig | Error;
  try {
    config = loadGateConfig(GATE_CONFIG_PATH, deps.readDefence);
  } catch (err) {
    config = err as Error;
  }
  const started = performance.now();
  const decision = await gateCreate(inv.bundle, inv.id ?? '', config, deps);
  decision.durationMs = Math.round(performance.now() - started);
  const logPath = config instanceof Error ? '/var/log/integrity-lab/gate-decisions.jsonl' : config.decisionLog;
  try {
    mkdirSync(dirname(logPath), { recursive: true });
    appendFileSync(logPath, JSON.stringify({ ...decision, id: inv.id }) + '\n');
  } catch {
    // the decision still reaches containerd through runc's log
  }
  if (decision.action === 'refuse') {
    const who = [decision.namespace, decision.pod, decision.container].filter(Boolean).join('/');
    reportRefusal(inv.logFile, `integrity start gate refused ${who || inv.id} (image ${decision.image ?? 'unknown'}): ${decision.reason}`, deps.clock, out);
    return 1;
  }
  return 0;
}
