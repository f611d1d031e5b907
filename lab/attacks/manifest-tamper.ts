/**
 * Changes an attacker can make to a signed manifest after signing. Each is
 * pure: it returns a new manifest and says what it changed. The manifest is
 * attacker-controlled: verification must catch every one of these (or, for
 * the delivery-kit key/value boundary shift, the documented finding is that
 * it does not).
 */
import { LabError } from '../errors.ts';
import { ANNOTATIONS, SIGNATURE_ANNOTATION_KEYS, type OciManifest } from '../signer/index.ts';

export type ManifestTamperErrorCode = 'TAMPER_NOT_APPLICABLE';

export const MANIFEST_TAMPERINGS = ['annotation-edit', 'layer-digest-swap', 'root-hash-edit', 'key-value-shift'] as const;
export type ManifestTampering = (typeof MANIFEST_TAMPERINGS)[number];

export interface TamperedManifest {
  manifest: OciManifest;
  change: string;
}

function clone(m: OciManifest): OciManifest {
  return JSON.parse(JSON.stringify(m)) as OciManifest;
}

function unsignedAnnotationKeys(m: OciManifest): string[] {
  const signatureKeys = new Set<string>(SIGNATURE_ANNOTATION_KEYS);
  return Object.keys(m.annotations ?? {}).filter((k) => !signatureKeys.has(k) && !k.startsWith('io.integrity-lab.'));
}

function notApplicable(what: string): never {
  throw new LabError<ManifestTamperErrorCode>('TAMPER_NOT_APPLICABLE', what);
}

/**
 * @param otherLayerDigest for `layer-digest-swap`: the digest of another
 *   blob the attacker has in the same repository.
 */
export function tamperManifest(signed: OciManifest, how: ManifestTampering, otherLayerDigest?: string): TamperedManifest {
  const m = clone(signed);
  switch (how) {
    case 'annotation-edit': {
      const key = unsignedAnnotationKeys(m)[0] ?? notApplicable('annotation-edit: the manifest has no unsigned-for annotation to edit');
      const before = m.annotations![key]!;
      m.annotations![key] = `${before} (edited)`;
      return { manifest: m, change: `manifest annotation ${key}: "${before}" → "${m.annotations![key]}"` };
    }
    case 'layer-digest-swap': {
      const layer = m.layers[m.layers.length - 1] ?? notApplicable('layer-digest-swap: the manifest has no layers');
      if (!otherLayerDigest || otherLayerDigest === layer.digest) notApplicable('layer-digest-swap: needs the digest of a different blob');
      const before = layer.digest;
      layer.digest = otherLayerDigest;
      return { manifest: m, change: `top layer digest ${before} → ${otherLayerDigest}` };
    }
    case 'root-hash-edit': {
      const layer = m.layers.find((l) => l.annotations?.[ANNOTATIONS.rootHash]) ?? notApplicable('root-hash-edit: no layer carries a root-hash annotation');
      const before = layer.annotations![ANNOTATIONS.rootHash]!;
      const flipped = (before[0] === '0' ? '1' : '0') + before.slice(1);
      layer.annotations![ANNOTATIONS.rootHash] = flipped;
      return { manifest: m, change: `layer ${layer.digest} root hash ${before.slice(0, 12)}… → ${flipped.slice(0, 12)}…` };
    }
    case 'key-value-shift': {
      // Move the first character of the value to the end of the key:
      // "k" = "vw" becomes "kv" = "w". The concatenation is unchanged.
      const key = unsignedAnnotationKeys(m).find((k) => (m.annotations![k] ?? '').length >= 2) ?? notApplicable('key-value-shift: needs an annotation whose value has 2+ characters');
      const value = m.annotations![key]!;
      const newKey = key + value[0];
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.annotations!)) {
        if (k === key) annotations[newKey] = value.slice(1);
        else annotations[k] = v;
      }
      m.annotations = annotations;
      return { manifest: m, change: `annotation "${key}"="${value}" → "${newKey}"="${value.slice(1)}"` };
    }
  }
}
