/**
 * The pull gate: an executable for containerd's bindir image verifier
 * (docs/image-verification.md in containerd). containerd calls it on every
 * transfer-service pull and CRI PullImage with `-name REF -digest DIGEST
 * -stdin-media-type TYPE` and the image descriptor on stdin; exit 0 admits
 * the image, anything else refuses it, and stdout is the reason.
 *
 * An image in the protected set is admitted only with a valid attached
 * signature chaining to the node's trusted roots.
 */
import type { VersionRecord } from './versions.ts';
import { appendFileSync, mkdirSync } from 'node:fs';
import { LabError, describeError } from '../errors.ts';
import { GATE_CONFIG_PATH, globMatch, loadGateConfig, loadTrustedRootsPem, type GateConfig, type GateErrorCode } from './config.ts';
import { isPinRefusal, type DefenceReader } from './pins.ts';
import { decideImageTrust } from './image-trust.ts';
import { recordPull } from './pull-record.ts';
import { stageTimer } from './stages.ts';

export interface PullRequest {
  name: string;
  digest: string;
  mediaType: string;
  descriptor: { mediaType?: string; digest?: string; size?: number };
}

export interface PullJudgement {
  allow: boolean;
  reason: string;
}

export type ManifestFetcher = (name: string, digest: string) => Promise<{ bytes: Buffer; mediaType: string }>;

/** Parses the verifier's argv; containerd passes Go-style `-flag value`. */
export function parsePullArgs(argv: readonly string[]): Omit<PullRequest, 'descriptor'> {
  const get = (flag: string) => {
    const i = argv.findIndex((a) => a === `-${flag}` || a === `--${flag}`);
    const inline = argv.find((a) => a.startsWith(`-${flag}=`) || a.startsWith(`--${flag}=`));
    return i >= 0 ? argv[i + 1] : inline?.slice(inline.indexOf('=') + 1);
  };
  const name = get('name');
  const digest = get('digest');
  if (!name || !digest) {
    throw new LabError<GateErrorCode>('GATE_REFUSED', `pull gate: expected -name REF -digest DIGEST, got ${JSON.stringify(argv)}`);
  }
  return { name, digest, mediaType: get('stdin-media-type') ?? '' };
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/** Fetches a manifest by digest from the registry named in the reference (the node's own, over HTTP). */
export const registryFetcher: ManifestFetcher = async (name, digest) => {
  const slash = name.indexOf('/');
  const host = name.slice(0, slash);
  const repo = name.slice(slash + 1).replace(/[:@].*$/, '');
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${digest}`, {
    headers: {
      accept: [
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.docker.distribution.manifest.v2+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
      ].join(', '),
    },
    signal: AbortSignal.timeout(5_000),
  });
  if (res.status !== 200) throw new Error(`registry answered ${res.status} for ${repo}@${digest}`);
  return { bytes: Buffer.from(await res.arrayBuffer()), mediaType: res.headers.get('content-type') ?? '' };
};

export async function judgePull(
  request: PullRequest,
  config: GateConfig,
  trustedRoots: string[],
  fetchManifest: ManifestFetcher,
  /** The node's newest signed release per repository (versions.ts): an older v2 release is refused, an admitted one noted. */
  versions?: VersionRecord,
  /** Called after each step with its name (`manifest`, `signature`), for the decision's timings. */
  stage: (name: string) => void = () => undefined,
): Promise<PullJudgement> {
  if (!config.protectedImages.some((p) => globMatch(p, request.name))) {
    return { allow: true, reason: `${request.name}: not in the protected set; admitted without signature check` };
  }
  let { bytes, mediaType } = await fetchManifest(request.name, request.digest);
  let digest = request.digest;
  if (INDEX_TYPES.has(mediaType) || INDEX_TYPES.has(request.descriptor.mediaType ?? '')) {
    const index = JSON.parse(bytes.toString()) as { manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[] };
    const entry = index.manifests?.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64');
    if (!entry) return { allow: false, reason: `${request.name}: image index has no linux/amd64 manifest to verify` };
    digest = entry.digest;
    ({ bytes, mediaType } = await fetchManifest(request.name, digest));
  }
  stage('manifest');
  const decision = await decideImageTrust(request.name, bytes, digest, config, trustedRoots, undefined, versions);
  stage('signature');
  if (decision.ok && decision.binding) versions?.note(request.name, digest, decision.binding);
  return decision.ok
    ? { allow: true, reason: `${request.name}@${digest}: signature valid (${decision.format}), ${decision.rootHashes.length} signed layer root hashes${decision.binding ? `, signed for ${decision.binding.repository} release ${decision.binding.version}` : ''}` }
    : { allow: false, reason: `integrity pull gate refused ${request.name}@${digest}: ${decision.reason}` };
}

export const PULL_DECISION_LOG = '/var/log/integrity-lab/pull-decisions.jsonl';

function logDecision(entry: Record<string, unknown>): void {
  try {
    mkdirSync('/var/log/integrity-lab', { recursive: true });
    appendFileSync(PULL_DECISION_LOG, JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
  } catch {
    // containerd still gets the reason on stdout
  }
}

/** The executable's body. Any error refuses: the gate never fails open. */
/** `read` reads the configuration and trusted roots (the daemon's refuses bytes that differ from their pins: pins.ts). */
export async function pullGateMain(argv: readonly string[], stdin: Buffer, out: (line: string) => void, read?: DefenceReader, versions?: VersionRecord): Promise<number> {
  let name: string | undefined;
  const started = performance.now();
  const { stagesMs, stage } = stageTimer();
  try {
    const args = parsePullArgs(argv);
    name = args.name;
    const descriptor = stdin.length ? (JSON.parse(stdin.toString()) as PullRequest['descriptor']) : {};
    const config = loadGateConfig(GATE_CONFIG_PATH, read);
    const roots = loadTrustedRootsPem(config.trustedRootsFile, read);
    stage('pins');
    const judgement = await judgePull({ ...args, descriptor }, config, roots, registryFetcher, versions, stage);
    const durationMs = Math.round(performance.now() - started);
    logDecision({ action: judgement.allow ? 'allow' : 'refuse', image: args.name, digest: args.digest, reason: judgement.reason, durationMs, stagesMs });
    // The digest the registry resolved: the application tier's reference for a tag (pull-record.ts).
    if (judgement.allow && !recordPull(args.name, args.digest, new Date())) {
      logDecision({ action: 'note', image: args.name, digest: args.digest, reason: 'the pull record is unreadable and was left as it is: application containers are refused until it is repaired' });
    }
    out(judgement.reason);
    return judgement.allow ? 0 : 1;
  } catch (err) {
    const reason = `integrity pull gate refused the image: ${describeError(err)}`;
    // A changed pinned file is a finding; anything else is the gate's own failure (still refused).
    logDecision({ action: 'refuse', image: name, reason, ...(isPinRefusal(err) ? {} : { internalError: true }) });
    out(reason);
    return 1;
  }
}
