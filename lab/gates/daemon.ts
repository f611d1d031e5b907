/**
 * The resident gate daemon: the pull gate and the start gate as one
 * long-running process on a unix socket, so that a decision costs no
 * process start-up, and layer files are hashed as soon as containerd writes
 * them (the start gate's check is then a cache hit keyed by device, inode,
 * size, mtime and ctime; any later change misses the cache and is hashed
 * again).
 *
 * Wire format: NUL-terminated arguments (the first is `pull`, `create` or
 * `start`), an empty argument, then stdin bytes until the client
 * half-closes: for `pull` the verifier's stdin, for `create` the loader
 * variables the runtime wrapper removed from runc's environment. The
 * answer is one byte (the exit code) and the reason text.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { appendFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../errors.ts';
import { localExec } from '../exec.ts';
import { pullGateMain } from './pull-gate.ts';
import { nodeDeps, runtimeGateMain } from './runtime-gate.ts';
import { apiRecords, DEFAULT_CONTAINERD_SOCKET, type ContainerdRecords } from './containerd-records.ts';
import { CreatedTasks } from './created-tasks.ts';
import { criIdentities, type CriIdentitySource } from '../cri/identity.ts';
import { KUBELET_SECCOMP_ROOT } from '../cri/types.ts';
import { RootHashCache } from './layer-check.ts';
import { loadGatePins, parseLoaderVariables, pinnedProgram, pinnedReader, pinPreload, pinRuntime, runtimeChecker, type DefenceReader, type PinnedProgram, type RuntimeCheck, type RuntimePin } from './pins.ts';
import { LAYER_BIND } from './layer-mount.ts';
import { localhostSeccomp, pinLocalhostProfiles, SECCOMP_DEFAULT, seccompReferences, type LocalhostSeccomp, type SeccompReferences } from './seccomp-reference.ts';
import { DEFAULT_CAPABILITIES } from './cri-request.ts';
import { pinRuntimeLibraries } from './runtime-libraries.ts';
import { GATE_CONFIG_PATH, loadGateConfig, loadTrustedRootsPem } from './config.ts';
import { warmUpVerifier } from '../signer/index.ts';
import { versionRecord, type VersionRecord } from './versions.ts';
import { gateStart, nodeStartDeps, observeHold, pinnedHoldShell, START_DECISION_LOG, type StartDeps } from './start-hold-gate.ts';

export const GATE_SOCKET = '/run/integrity-lab/gate.sock';
const SNAPSHOTS = '/var/lib/containerd/io.containerd.snapshotter.v1.erofs/snapshots';

/** Splits a request into its arguments and its stdin. */
export function parseRequest(data: Buffer): { args: string[]; stdin: Buffer } {
  const args: string[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== 0) continue;
    if (i === start) return { args, stdin: data.subarray(i + 1) };
    args.push(data.subarray(start, i).toString('utf8'));
    start = i + 1;
  }
  return { args, stdin: Buffer.alloc(0) };
}

/** What the daemon decides with, made once at its start (startDaemon). */
export interface DaemonDeps {
  cache: RootHashCache;
  /** Reads the configuration and trusted roots against the pins the daemon loaded at its start. */
  readDefence: DefenceReader;
  runtime: RuntimeCheck;
  versions?: VersionRecord;
  hold: StartDeps;
  records?: ContainerdRecords;
  layerBind?: PinnedProgram;
  cri?: CriIdentitySource;
  seccompReferences?: SeccompReferences;
  localhostSeccomp?: LocalhostSeccomp;
}

/** One request's answer: the exit code the client returns and the reason text. */
export async function answer(args: string[], stdin: Buffer, deps: DaemonDeps): Promise<{ code: number; text: string }> {
  const { cache, readDefence, runtime, versions = versionRecord(), hold, records = nodeDeps().records, layerBind, cri, seccompReferences, localhostSeccomp } = deps;
  const [mode, ...rest] = args;
  const lines: string[] = [];
  try {
    if (mode === 'pull') return { code: await pullGateMain(rest, stdin, (l) => lines.push(l), readDefence, versions), text: lines.join('\n') };
    if (mode === 'create') {
      const errors: string[] = [];
      // After a create's arguments, the wrapper sends the loader variables it removed from runc's environment.
      const runtimeLoaderVariables = parseLoaderVariables(stdin);
      // What the create establishes is kept for the start that follows (created-tasks.ts).
      const code = await runtimeGateMain(rest, { ...nodeDeps(cache), readDefence, runtime, versions, records, cri, layerBind, runtimeLoaderVariables, created: hold.created, ...(seccompReferences ? { seccompReferences } : {}), ...(localhostSeccomp ? { localhostSeccomp } : {}) }, (l) => errors.push(l));
      return { code, text: errors.join('\n') };
    }
    if (mode === 'start') return await answerStart(rest, readDefence, hold);
    return { code: 2, text: `unknown gate request "${mode}"` };
  } catch (err) {
    return { code: 1, text: `integrity gate refused: internal error: ${describeError(err)}` };
  }
}

/** `runc start`: a system-tier container's memfd policy and the audit start hold (start-hold-gate.ts); every decision goes to START_DECISION_LOG. */
async function answerStart(argv: string[], readDefence: DefenceReader, hold: StartDeps): Promise<{ code: number; text: string }> {
  let config;
  try {
    config = loadGateConfig(GATE_CONFIG_PATH, readDefence);
  } catch (err) {
    config = err as Error;
  }
  const started = performance.now();
  const decision = await gateStart(argv, config, hold);
  if (!decision) return { code: 0, text: '' };
  decision.durationMs = Math.round(performance.now() - started);
  try {
    appendFileSync(START_DECISION_LOG, JSON.stringify(decision) + '\n');
  } catch {
    // the refusal still reaches containerd through stderr
  }
  if (decision.action !== 'refuse') return { code: 0, text: '' };
  const who = [decision.namespace, decision.pod, decision.container].filter(Boolean).join('/');
  return { code: 1, text: `integrity start gate refused to start ${who || decision.id}: ${decision.reason}` };
}

/** Hashes new layer files in the background so that start-time checks hit the cache. */
function prewarm(cache: RootHashCache): void {
  const busy = { on: false };
  setInterval(() => {
    if (busy.on) return;
    busy.on = true;
    void (async () => {
      try {
        for (const dir of readdirSync(SNAPSHOTS)) {
          const file = join(SNAPSHOTS, dir, 'layer.erofs');
          let s;
          try {
            s = statSync(file);
          } catch {
            continue;
          }
          // Still being written: leave it for the next round.
          if (Date.now() - s.mtimeMs < 200) continue;
          await cache.rootHash(file).catch(() => undefined);
        }
      } catch {
        // no snapshots yet
      } finally {
        busy.on = false;
      }
    })();
  }, 250).unref();
}

/**
 * First-use costs paid at the daemon's start, not inside the first
 * container's decision: the first hash of the runtime and of the layer-bind
 * helper (later checks are a stat while their identity is unchanged), the
 * helper's first run, and the
 * connections to containerd and its CRI with the codecs of their answers
 * (lab/grpc-warm-up.ts). Neither
 * changes a decision: a failed warm-up is ignored, and each decision checks
 * again.
 */
function warmUp(runtime: RuntimeCheck, pin: RuntimePin | Error, layerBind: PinnedProgram, records: { warmUp(): Promise<void> }, cri: { warmUp(): Promise<void> }, readDefence: DefenceReader): void {
  try {
    if (!(pin instanceof Error)) runtime(pin.path);
    // Its first run too (the exec path's code, the program's pages): with no arguments it prints its usage and exits.
    void localExec.run([layerBind()]).catch(() => undefined);
  } catch {
    // the first decision refuses and says why
  }
  void records.warmUp().catch(() => undefined);
  void cri.warmUp().catch(() => undefined);
  // The signature verifier (X.509, WebCrypto) on the trusted roots, and Node's HTTP client, which the pull gate asks the registry with.
  try {
    void warmUpVerifier(loadTrustedRootsPem(loadGateConfig(GATE_CONFIG_PATH, readDefence).trustedRootsFile, readDefence)).catch(() => undefined);
  } catch {
    // an unusable configuration refuses every decision anyway
  }
  void warmUpHttpClient().catch(() => undefined);
}

/**
 * Node's fetch (undici and its HTTP parser) loads on its first request:
 * 20–60 ms measured here for the first of three requests to a loopback
 * server. One request to a server of the daemon's own, on loopback, pays
 * that at start instead of inside the first pull decision.
 */
async function warmUpHttpClient(): Promise<void> {
  const server = createHttpServer((_, res) => res.end('{}'));
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) })).arrayBuffer();
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

export function startDaemon(socketPath = GATE_SOCKET): void {
  const cache = new RootHashCache('/run/integrity-lab/root-hash-cache.json');
  // containerd's records over one connection for the daemon's life, not a `ctr` process per decision.
  const records = apiRecords({ address: process.env.CONTAINERD_ADDRESS || undefined, namespace: 'k8s.io' });
  // And CRI's own state of a workload container's pod, which that record must name.
  const cri = criIdentities(process.env.CONTAINERD_ADDRESS || DEFAULT_CONTAINERD_SOCKET);
  // Loaded once: editing the pin file later changes nothing until a restart.
  const pins = loadGatePins();
  const readDefence = pinnedReader(pins);
  // The runtime named by the (pinned) configuration, hashed once, now.
  let runtimePin;
  try {
    runtimePin = pinRuntime(loadGateConfig(GATE_CONFIG_PATH, readDefence).runtime, new Date());
  } catch (err) {
    runtimePin = err as Error;
  }
  // And the loader's preload list as it is now (normally absent): a library there runs inside runc;
  // and what the loader maps into runc (its libraries, the loader, the loader's cache).
  const libraries = runtimePin instanceof Error ? [] : pinRuntimeLibraries(runtimePin.path, new Date());
  const runtime = runtimeChecker(runtimePin, {}, { pin: pinPreload(new Date()) }, libraries);
  // The helper whose loop status the layer binding believes, against the host's pin.
  const layerBind = pinnedProgram(LAYER_BIND, pins, "the start gate's layer-bind helper");
  // containerd's RuntimeDefault seccomp profiles, from the helper built from containerd's own code, against the host's pin.
  const seccompHelper = pinnedProgram(SECCOMP_DEFAULT, pins, "the start gate's seccomp reference helper");
  const seccomp = seccompReferences(seccompHelper);
  // The Localhost profiles the node holds now, as the runtime is pinned: a later rewrite changes what containerd loads, not the reference.
  const localhostProfiles = pinLocalhostProfiles();
  const localhost = localhostSeccomp(seccompHelper, localhostProfiles);
  warmUp(runtime, runtimePin, layerBind, records, cri, readDefence);
  // The default capability set's profile, which most protected containers have, before the first decision.
  void seccomp(DEFAULT_CAPABILITIES).catch(() => undefined);
  // The shell the hold runs in, hashed once, now, as the runtime is; layer-bind also sets each container's memfd policy.
  const hold = { ...nodeStartDeps(readDefence, pinnedHoldShell(), layerBind, records, cri), created: new CreatedTasks() };
  // Latch as soon as the audit daemon offers its hold, not at the first start.
  setInterval(() => {
    try {
      observeHold(loadGateConfig(GATE_CONFIG_PATH, readDefence).startHold, hold);
    } catch {
      // an unusable configuration refuses every start anyway
    }
  }, 250).unref();
  process.stdout.write(runtimePin instanceof Error ? `integrity gate daemon: ${runtimePin.message}; every protected container is refused\n` : `integrity gate daemon: OCI runtime ${runtimePin.path} pinned (sha256 ${runtimePin.sha256})\n`);
  for (const l of libraries) process.stdout.write(l instanceof Error ? `integrity gate daemon: ${l.message}; every protected container is refused\n` : `integrity gate daemon: ${l.path} pinned (sha256 ${l.sha256}), loaded into the OCI runtime\n`);
  process.stdout.write(`integrity gate daemon: ${localhostProfiles.size} Localhost seccomp profile(s) pinned under ${KUBELET_SECCOMP_ROOT}${localhostProfiles.size ? `: ${[...localhostProfiles.keys()].join(', ')}` : ''}\n`);
  process.stdout.write(pins instanceof Error ? `integrity gate daemon: ${pins.message}; every decision is refused\n` : `integrity gate daemon: ${Object.keys(pins.files).length} files pinned at ${pins.pinnedAt}: ${Object.keys(pins.files).join(', ')}\n`);
  rmSync(socketPath, { force: true });
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => socket.destroy());
    socket.on('end', () => {
      const { args, stdin } = parseRequest(Buffer.concat(chunks));
      void answer(args, stdin, { cache, readDefence, runtime, hold, records, layerBind, cri, seccompReferences: seccomp, localhostSeccomp: localhost }).then(({ code, text }) => {
        socket.end(Buffer.concat([Buffer.from([code & 0xff]), Buffer.from(text ? `${text}\n` : '')]));
      });
    });
  });
  server.listen(socketPath, () => process.stdout.write(`integrity gate daemon listening on ${socketPath} (pid ${process.pid})\n`));
  prewarm(cache);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
}
