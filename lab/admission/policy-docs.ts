/**
 * Policy documents made at run time, for keys that exist only in a lab
 * (cosign key pairs are generated per lab; no private key is committed, so
 * a SecurityPolicy naming one cannot be a file in scenarios/policies).
 * The shape is the seed's "verify-image-test" SecurityPolicy (seed 003,
 * "Image signature verification").
 */
import { stringify } from 'yaml';
import type { SourceText } from './loader.ts';

export interface CosignPolicyInput {
  /** SecurityPolicy name (also the file name). */
  name: string;
  /** The namespace it applies to (matched by kubernetes.io/metadata.name). */
  namespace: string;
  /** An image reference, optionally ending in `*`, e.g. `127.0.0.1:5000/lab/*`. */
  reference: string;
  /** PEM public keys; an image must verify with one of them. */
  publicKeys: string[];
}

/** A SecurityPolicy that requires cosign signatures by `publicKeys` for images under `reference`. */
export function cosignPolicyDocument(input: CosignPolicyInput): SourceText {
  const doc = {
    apiVersion: 'deckhouse.io/v1alpha1',
    kind: 'SecurityPolicy',
    metadata: { name: input.name },
    spec: {
      enforcementAction: 'Deny',
      match: { namespaceSelector: { labelSelector: { matchLabels: { 'kubernetes.io/metadata.name': input.namespace } } } },
      policies: { verifyImageSignatures: [{ reference: input.reference, publicKeys: input.publicKeys.map((k) => k.trim()) }] },
    },
  };
  return { file: `${input.name}.yaml`, text: `# yaml-language-server: $schema=../schemas/securitypolicy.schema.json\n${stringify(doc)}` };
}
