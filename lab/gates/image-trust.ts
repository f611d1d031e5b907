/**
 * The one decision both gates make: is this manifest signed by the lab's
 * trust roots, and what are its signed per-layer root hashes?
 *
 * The manifest bytes are attacker-controlled until verifyManifestBytes says
 * ok; only then are its layer annotations believed.
 */
import { ANNOTATIONS, parseManifestBytes, verifyManifestBytes, type VerificationFinding } from '../signer/index.ts';
import type { GateConfig } from './config.ts';

export type TrustDecision =
  | { ok: true; rootHashes: string[]; layerDigests: string[]; format: string }
  | { ok: false; reason: string; findings: VerificationFinding[] };

export async function decideImageTrust(
  name: string,
  manifestBytes: Uint8Array,
  digest: string,
  config: Pick<GateConfig, 'allowedFormats'>,
  trustedRoots: string[],
  clock: () => Date = () => new Date(),
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
  return { ok: true, rootHashes, layerDigests: manifest.layers.map((l) => l.digest), format: result.format ?? 'unknown' };
}
