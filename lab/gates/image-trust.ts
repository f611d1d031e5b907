/**
 * The one decision both gates make: is this manifest signed by the lab's
 * trust roots, and what are its signed per-layer root hashes?
 *
 * The manifest bytes are attacker-controlled until verifyManifestBytes says
 * ok; only then are its layer annotations believed.
 */
import { ANNOTATIONS, bindingOf, parseManifestBytes, repositoryPath, verifyManifestBytes, type ImageBinding, type VerificationFinding } from '../signer/index.ts';
import type { GateConfig } from './config.ts';
import type { ContentStore } from './content-store.ts';
import { Refusal } from './refusal.ts';
import type { VersionRecord } from './versions.ts';

export type TrustDecision =
  | { ok: true; rootHashes: string[]; layerDigests: string[]; format: string; configDigest: string; binding?: ImageBinding }
  | { ok: false; reason: string; findings: VerificationFinding[] };

export async function decideImageTrust(
  name: string,
  manifestBytes: Uint8Array,
  digest: string,
  config: Pick<GateConfig, 'allowedFormats'>,
  trustedRoots: string[],
  clock: () => Date = () => new Date(),
  versions?: VersionRecord,
): Promise<TrustDecision> {
  const result = await verifyManifestBytes(manifestBytes, {
    trustedRoots,
    clock,
    expectedDigest: digest,
    allowedFormats: config.allowedFormats,
    requireLayerRootHashes: true,
    name,
  });
  const errors = result.findings.filter((f) => f.severity === 'error');
  if (!result.ok || errors.length > 0) {
    const codes = [...new Set(errors.map((f) => f.code))].join(', ') || 'verification failed';
    return { ok: false, reason: `${codes}: ${errors[0]?.message ?? 'no detail'}`, findings: result.findings };
  }
  const manifest = parseManifestBytes(manifestBytes, name);
  const rootHashes = manifest.layers.map((l) => l.annotations?.[ANNOTATIONS.rootHash] ?? '');
  if (rootHashes.some((h) => !/^[0-9a-f]{64}$/.test(h))) {
    return { ok: false, reason: `LAYER_ROOT_HASH_MISSING: ${name} has a layer without a signed dm-verity root hash`, findings: result.findings };
  }
  const decided = { ok: true as const, rootHashes, layerDigests: manifest.layers.map((l) => l.digest), format: result.format ?? 'unknown', configDigest: manifest.config.digest };
  if (result.format !== 'v2') return decided;
  // v2 binds the repository and a release version (lab/signer/binding.ts); delivery-kit binds neither.
  const binding = bindingOf(manifest);
  if (binding === undefined) return { ok: false, reason: `IMAGE_BINDING_MISSING: ${name} is signed v2 without the repository and version the v2 signature must bind`, findings: result.findings };
  if (typeof binding === 'string') return { ok: false, reason: `IMAGE_BINDING_INVALID: ${name}: ${binding}`, findings: result.findings };
  const wanted = repositoryPath(name);
  if (binding.repository !== wanted) {
    return { ok: false, reason: `IMAGE_REPOSITORY_MISMATCH: ${name} is signed for repository ${binding.repository}, not ${wanted ?? '(not a reference)'}: another signed image served under this name`, findings: result.findings };
  }
  if (versions) {
    try {
      versions.check(name, digest, binding);
    } catch (err) {
      if (err instanceof Refusal) return { ok: false, reason: err.message, findings: result.findings };
      throw err;
    }
  }
  return { ...decided, binding };
}

/** Findings that say "not trusted now" rather than "not this image": the bytes are still the signed ones. */
const TIME_ONLY: ReadonlySet<string> = new Set(['CERT_EXPIRED', 'CERT_NOT_YET_VALID']);

/**
 * Whether a failed decision means the image on the node is corrupted (remove
 * it and pull it again) or only that it cannot be trusted at this time (an
 * expired certificate): then the image is refused but kept, since a re-pull
 * would be refused the same way and every workload on it would be lost.
 */
export function quarantineWarranted(decision: Extract<TrustDecision, { ok: false }>): boolean {
  const errors = decision.findings.filter((f) => f.severity === 'error');
  return errors.length === 0 || errors.some((f) => !TIME_ONLY.has(f.code));
}

/**
 * The image config is signed through the manifest's config digest: its
 * bytes in the content store must still hash to it. Throws a Refusal.
 */
export function checkSignedConfig(image: string, configDigest: string, content: ContentStore): Buffer {
  try {
    return content.blob(configDigest);
  } catch (err) {
    throw new Refusal(`image ${image}: its config (entrypoint, command, env, user) is not the signed one: ${(err as Error).message}`);
  }
}
