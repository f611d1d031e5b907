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
 * A refusal is written to runc's JSON log, so containerd reports it to the
 * CRI caller as the reason StartContainer failed. Everything else (other
 * runc commands, sandboxes, unprotected namespaces) passes through.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { describeError } from '../errors.ts';
import { localExec, runChecked, type Exec } from '../exec.ts';
import { parseMountinfo } from '../node/rootfs.ts';
import { loadGateConfig, loadTrustedRootsPem, type GateConfig } from './config.ts';
import { decideImageTrust } from './image-trust.ts';
import { kernelVerityAvailable, openKernelVerity, RootHashCache } from './layer-check.ts';
import type { AppCheckCode } from './app-image.ts';
import { gateApplication } from './app-gate.ts';
import { tierOf, type Tier } from './tiers.ts';

export const CRI_ANNOTATIONS = {
  containerType: 'io.kubernetes.cri.container-type',
  namespace: 'io.kubernetes.cri.sandbox-namespace',
  podName: 'io.kubernetes.cri.sandbox-name',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

/** Where the standard layer is mounted on the node. */
export const STANDARD_LAYER_MOUNT = '/run/integrity-lab/standard-layer';

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
}

export interface GateDecision {
  time: string;
  action: 'pass' | 'allow' | 'refuse';
  container?: string;
  namespace?: string;
  pod?: string;
  image?: string;
  reason: string;
  layers?: { digest: string; layerFile: string; signed: string; actual: string; cached: boolean }[];
  corrupted?: { removed: boolean; repull: string };
  verityMode?: 'kernel' | 'userspace';
  /** The namespace's integrity tier (tiers.ts) and the rule that chose it. */
  tier?: Tier;
  tierRule?: string;
  /** Application tier: which check refused (app-image.ts codes). */
  check?: AppCheckCode;
  /** Application tier: each layer file against the reference rebuilt from its verified blob. */
  applicationLayers?: { digest: string; layerFile: string; reference: string; actual: string; cached: boolean }[];
  /** Time the decision took, in the gate process. */
  durationMs?: number;
}

export interface RuntimeGateDeps {
  exec: Exec;
  readFile(path: string): string;
  writeFile(path: string, data: string): void;
  mountinfo(): string;
  cache: RootHashCache;
  kernelVerity(): boolean;
  clock(): Date;
}

export const nodeDeps = (): RuntimeGateDeps => ({
  exec: localExec,
  readFile: (p) => readFileSync(p, 'utf8'),
  writeFile: (p, d) => writeFileSync(p, d),
  mountinfo: () => readFileSync('/proc/self/mountinfo', 'utf8'),
  cache: new RootHashCache('/run/integrity-lab/root-hash-cache.json'),
  kernelVerity: () => kernelVerityAvailable(),
  clock: () => new Date(),
});

class Refusal extends Error {}

/** containerd's image record: `ctr images ls` prints REF TYPE DIGEST …. */
async function imageTarget(exec: Exec, image: string): Promise<{ digest: string; mediaType: string }> {
  const r = await runChecked(exec, ['ctr', '-n', 'k8s.io', 'images', 'ls', `name==${image}`]);
  const line = r.stdout.toString().split('\n').slice(1).find((l) => l.startsWith(`${image} `));
  const fields = line?.trim().split(/\s+/) ?? [];
  if (!fields[2]?.startsWith('sha256:')) throw new Refusal(`image ${image} is not in containerd's image store`);
  return { digest: fields[2], mediaType: fields[1] ?? '' };
}

async function manifestFor(exec: Exec, image: string): Promise<{ bytes: Buffer; digest: string }> {
  const target = await imageTarget(exec, image);
  let digest = target.digest;
  let bytes = (await runChecked(exec, ['ctr', '-n', 'k8s.io', 'content', 'get', digest])).stdout;
  const parsed = JSON.parse(bytes.toString()) as { manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[] };
  if (parsed.manifests) {
    const entry = parsed.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
    if (!entry) throw new Refusal(`image ${image}: index has no linux/amd64 manifest`);
    digest = entry.digest;
    bytes = (await runChecked(exec, ['ctr', '-n', 'k8s.io', 'content', 'get', digest])).stdout;
  }
  return { bytes, digest };
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
export async function gateCreate(bundle: string, config: GateConfig | Error, deps: RuntimeGateDeps): Promise<GateDecision> {
  const time = deps.clock().toISOString();
  let spec: OciSpec;
  try {
    spec = JSON.parse(deps.readFile(join(bundle, 'config.json'))) as OciSpec;
  } catch (err) {
    return { time, action: 'refuse', reason: `cannot read the OCI spec of bundle ${bundle}: ${describeError(err)}` };
  }
  const a = spec.annotations ?? {};
  const base: GateDecision = {
    time,
    action: 'pass',
    container: a[CRI_ANNOTATIONS.containerName],
    namespace: a[CRI_ANNOTATIONS.namespace],
    pod: a[CRI_ANNOTATIONS.podName],
    image: a[CRI_ANNOTATIONS.imageName],
    reason: '',
  };
  if (a[CRI_ANNOTATIONS.containerType] !== 'container') return { ...base, reason: 'not a CRI workload container (sandbox or other)' };
  if (config instanceof Error) return { ...base, action: 'refuse', reason: `the gate configuration is unusable, so every container is refused: ${describeError(config)}` };
  const namespace = base.namespace ?? '';
  const tier = tierOf(config, namespace);
  Object.assign(base, { tier: tier.tier, tierRule: tier.rule });
  if (tier.tier === 'application') {
    return gateApplication(base, isAbsolute(spec.root?.path ?? 'rootfs') ? spec.root!.path! : join(bundle, spec.root?.path ?? 'rootfs'), deps.exec);
  }
  if (tier.tier !== 'system') return { ...base, reason: `namespace "${namespace}" is not protected (${tier.rule})` };
  const image = base.image ?? '';
  try {
    const roots = loadTrustedRootsPem(config.trustedRootsFile);
    const { bytes, digest } = await manifestFor(deps.exec, image);
    const trust = await decideImageTrust(image, bytes, digest, config, roots, deps.clock);
    if (!trust.ok) {
      const corrupted = await quarantine(deps.exec, image);
      return {
        ...base,
        action: 'refuse',
        reason: `image ${image}@${digest} is not validly signed (${trust.reason}); treated as corrupted: removed from the node and pulled again from the registry`,
        corrupted,
      };
    }

    const rootfs = isAbsolute(spec.root?.path ?? 'rootfs') ? spec.root!.path! : join(bundle, spec.root?.path ?? 'rootfs');
    const mountinfo = deps.mountinfo();
    const overlay = rootOverlay(mountinfo, rootfs);
    if (overlay.lowerdirs.length !== trust.rootHashes.length) {
      throw new Refusal(`rootfs has ${overlay.lowerdirs.length} layers, the signed manifest ${trust.rootHashes.length}`);
    }
    const mounts = parseMountinfo(mountinfo);
    const useKernel = config.verityMode === 'kernel' || (config.verityMode === 'auto' && deps.kernelVerity());
    const layers: NonNullable<GateDecision['layers']> = [];
    const verifiedDirs: string[] = [];
    // Manifest layers are base first; overlay lowerdirs are top first.
    for (const [i, signed] of trust.rootHashes.entries()) {
      const lowerdir = overlay.lowerdirs[overlay.lowerdirs.length - 1 - i]!;
      const layerFile = join(dirname(lowerdir), 'layer.erofs');
      const m = mounts.filter((x) => x.mountPoint === lowerdir).pop();
      if (!m || m.fstype !== 'erofs' || m.source !== layerFile || !m.options.includes('ro')) {
        throw new Refusal(`layer ${i} (${trust.layerDigests[i]}): ${lowerdir} is not a read-only erofs mount of ${layerFile}: ${m?.line ?? 'not mounted'}`);
      }
      if (useKernel) {
        const dev = await openKernelVerity(deps.exec, layerFile, signed, '/run/integrity-lab/verity', `${trust.layerDigests[i]!.slice(7, 19)}-${Date.now()}`);
        layers.push({ digest: trust.layerDigests[i]!, layerFile, signed, actual: signed, cached: false });
        verifiedDirs.push(dev.mountPoint);
        continue;
      }
      const actual = await deps.cache.rootHash(layerFile);
      layers.push({ digest: trust.layerDigests[i]!, layerFile, signed, actual: actual.hex, cached: actual.cached });
      if (actual.hex !== signed) {
        throw new Refusal(`layer ${i} (${trust.layerDigests[i]}): ${layerFile} has dm-verity root hash ${actual.hex}, the signed manifest says ${signed}`);
      }
      verifiedDirs.push(lowerdir);
    }

    const std = await mountStandardLayer(config, deps);
    // Read-only overlay of the standard layer over the verified layers: no upperdir.
    await runChecked(deps.exec, ['umount', rootfs]);
    // busybox mount uses mount(2): util-linux 2.41's fsconfig path fails
    // with four or more lowerdirs on this kernel (measured on the lab node).
    await runChecked(deps.exec, ['busybox', 'mount', '-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[std, ...[...verifiedDirs].reverse()].join(':')}`, rootfs]);
    spec.root = { ...spec.root, readonly: true };
    if (!(spec.mounts ?? []).some((m) => m.destination === '/tmp')) {
      spec.mounts = [...(spec.mounts ?? []), { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'] }];
    }
    deps.writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
    return {
      ...base,
      action: 'allow',
      reason: `signature valid (${trust.format}); ${layers.length} layers match their signed root hashes; rootfs read-only with the standard layer, no upperdir${overlay.upperdir ? ` (the prepared upperdir ${overlay.upperdir} is not mounted)` : ''}`,
      layers,
      verityMode: useKernel ? 'kernel' : 'userspace',
    };
  } catch (err) {
    return { ...base, action: 'refuse', reason: err instanceof Refusal ? err.message : `internal error, refusing: ${describeError(err)}` };
  }
}

/** Verifies the standard layer against its pinned root hash and mounts it (once). */
async function mountStandardLayer(config: GateConfig, deps: RuntimeGateDeps): Promise<string> {
  const { hex } = await deps.cache.rootHash(config.standardLayer.path);
  if (hex !== config.standardLayer.rootHash) {
    throw new Refusal(`the standard layer ${config.standardLayer.path} has root hash ${hex}, the node configuration pins ${config.standardLayer.rootHash}`);
  }
  // mount(8) attaches an image file through a loop device: the mount's
  // source is then /dev/loopN, whose backing file sysfs names.
  const backing = (source: string) => {
    try {
      return readFileSync(`/sys/block/${source.replace(/^\/dev\//, '')}/loop/backing_file`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const mounted = parseMountinfo(deps.mountinfo()).some(
    (m) => m.mountPoint === STANDARD_LAYER_MOUNT && (m.source === config.standardLayer.path || (m.source.startsWith('/dev/loop') && backing(m.source) === config.standardLayer.path)),
  );
  if (!mounted) {
    await runChecked(deps.exec, ['mkdir', '-p', STANDARD_LAYER_MOUNT]);
    await runChecked(deps.exec, ['mount', '-t', 'erofs', '-o', 'ro', config.standardLayer.path, STANDARD_LAYER_MOUNT]);
  }
  return STANDARD_LAYER_MOUNT;
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
    config = loadGateConfig();
  } catch (err) {
    config = err as Error;
  }
  const started = performance.now();
  const decision = await gateCreate(inv.bundle, config, deps);
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
