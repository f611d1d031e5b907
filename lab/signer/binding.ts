/**
 * What a v2 signature binds besides the manifest's content (issue 11 §3,
 * optional identity): the repository the image is published under and a
 * monotonic version (the signing time in milliseconds). Both are manifest
 * annotations, so the v2 payload (the canonical JSON of the whole manifest)
 * covers them; a verifier that checks them stops a registry it does not
 * control from serving another signed image, or an older signed release,
 * under a protected name.
 *
 * delivery-kit (v1) manifests are not given these annotations: its payload
 * covers manifest annotations too, but with no separators between fields
 * (payload.ts), so a value could be shifted into a neighbouring key. A v1
 * signature binds the content only: any image the trusted roots ever
 * signed, at any version, verifies under any name.
 *
 * The repository is the path of the reference without the registry host
 * (`127.0.0.1:5000/system/agent:1.0` → `system/agent`): the same image is
 * pushed to a node's registry under one address and pulled under another,
 * and mirrors serve it under other hosts. The host is therefore not bound.
 */
import { LabError } from '../errors.ts';
import { quote } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { ANNOTATIONS, type OciManifest } from './manifest.ts';

export interface ImageBinding {
  /** Repository path, without the registry host: `system/agent`. */
  repository: string;
  /** Monotonic release version: the signing time in ms since the epoch. */
  version: number;
}

const PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/**
 * The repository path of an image reference: the registry host (a first
 * component with `.` or `:`, or `localhost`) and the tag or digest removed.
 * Undefined for text that is not a reference.
 */
export function repositoryPath(reference: string): string | undefined {
  let rest = reference.split('@')[0]!;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) rest = rest.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && !rest.slice(colon).includes('/')) rest = rest.slice(0, colon);
  return PATH.test(rest) ? rest : undefined;
}

function bad(message: string): never {
  throw new LabError<SignerErrorCode>('MANIFEST_INVALID', message);
}

/** The annotations that carry a binding; the values are checked. */
export function bindingAnnotations(binding: ImageBinding): Record<string, string> {
  if (!PATH.test(binding.repository)) bad(`image binding: repository ${quote(binding.repository)} is not a repository path (lowercase, no registry host, no tag)`);
  if (!Number.isSafeInteger(binding.version) || binding.version < 0) bad(`image binding: version ${binding.version} is not a non-negative integer`);
  return { [ANNOTATIONS.repository]: binding.repository, [ANNOTATIONS.version]: String(binding.version) };
}

/**
 * The binding a manifest carries: undefined when it has neither annotation,
 * an error message when it has one without the other or a malformed value.
 * Only meaningful once the signature over the manifest has verified.
 */
export function bindingOf(manifest: OciManifest): ImageBinding | string | undefined {
  const a = manifest.annotations ?? {};
  const repository = a[ANNOTATIONS.repository];
  const version = a[ANNOTATIONS.version];
  if (repository === undefined && version === undefined) return undefined;
  if (repository === undefined || !PATH.test(repository)) return `annotation ${ANNOTATIONS.repository}: expected a repository path, got ${quote(repository ?? '(absent)')}`;
  if (version === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(version) || !Number.isSafeInteger(Number(version))) return `annotation ${ANNOTATIONS.version}: expected a decimal version, got ${quote(version ?? '(absent)')}`;
  return { repository, version: Number(version) };
}
