/**
 * Verifiers that need no signer: a static table (for offline suites and
 * tests) and a refuse-all default. The real ones come from lab/signer and
 * are wired in by the lead; these keep the engine honest until then.
 */
import { createPublicKey } from 'node:crypto';
import type { CosignVerifier, ImageSignatureVerifier, VerifyResult } from './types.ts';

/** Refuses everything: the default when no verifier is wired, so protected namespaces fail closed. */
export const refuseAllImageVerifier: ImageSignatureVerifier = {
  verify: async () => ({ ok: false, reason: 'no attached-signature verifier is configured' }),
};

/** Refuses everything: the default when no Cosign verifier is wired. */
export const refuseAllCosignVerifier: CosignVerifier = {
  verify: async () => ({ ok: false, reason: 'no cosign verifier is configured' }),
};

/** Attached signatures that "verify": exactly the images listed, compared as written. */
export class StaticImageVerifier implements ImageSignatureVerifier {
  readonly #signed: ReadonlySet<string>;

  constructor(signedImages: Iterable<string>) {
    this.#signed = new Set(signedImages);
  }

  async verify(image: string): Promise<VerifyResult> {
    return this.#signed.has(image) ? { ok: true } : { ok: false, reason: 'no valid attached signature' };
  }
}

/** The DER SubjectPublicKeyInfo of a PEM public key, base64: equal keys compare equal whatever the PEM line wrapping. */
export function canonicalPublicKey(pem: string): string {
  return createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Cosign signatures that "verify": exactly the (image, key) pairs listed. */
export class StaticCosignVerifier implements CosignVerifier {
  readonly #pairs = new Set<string>();

  constructor(signatures: Iterable<{ image: string; publicKey: string }>) {
    for (const sig of signatures) this.#pairs.add(`${sig.image}\u0000${canonicalPublicKey(sig.publicKey)}`);
  }

  async verify(image: string, publicKeyPem: string): Promise<VerifyResult> {
    let key: string;
    try {
      key = canonicalPublicKey(publicKeyPem);
    } catch {
      return { ok: false, reason: 'public key does not parse' };
    }
    return this.#pairs.has(`${image}\u0000${key}`) ? { ok: true } : { ok: false, reason: 'no signature by the given key' };
  }
}
