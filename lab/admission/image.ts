/**
 * Container image references, parsed the way the distribution reference
 * grammar (github.com/distribution/reference, `reference.go`) and Docker's
 * normalisation (`normalize.go`) read them:
 *
 *   [domain/]path[:tag][@digest]
 *
 * The first path component is a domain when it contains `.` or `:` or is
 * `localhost`; otherwise the domain is `docker.io`, and a single-component
 * path gets the `library/` prefix. A reference with neither tag nor digest
 * means the tag `latest`.
 *
 * The image string is attacker-controlled (it comes from the pod), so this
 * parser never throws: anything it cannot read is reported as such and
 * policies treat it as failing.
 */

export interface ImageReference {
  /** The string as written in the pod. */
  raw: string;
  /** Registry host, e.g. `docker.io`, `registry.example.com:5000`. */
  domain: string;
  /** Repository path without the domain, e.g. `library/nginx`. */
  path: string;
  /** Explicit tag, if any. */
  tag?: string;
  /** Explicit digest, e.g. `sha256:…`, if any. */
  digest?: string;
  /** `domain/path`. */
  name: string;
  /** Fully qualified form: `domain/path[:tag][@digest]`, tag `latest` made explicit when neither is given. */
  normalized: string;
  /** True when the reference has no tag and no digest, so the runtime pulls `latest`. */
  implicitLatest: boolean;
}

const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_RE = /^(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

/** Parses `raw`, or returns undefined when it is not a valid reference. */
export function parseImageReference(raw: string): ImageReference | undefined {
  if (raw.length === 0 || raw.length > 4096 || raw !== raw.trim()) return undefined;
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) return undefined;
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) return undefined;
  }
  const parts = rest.split('/');
  let domain = 'docker.io';
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    parts.shift();
    if (!DOMAIN_RE.test(domain)) return undefined;
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (parts.length === 0 || !parts.every((p) => PATH_COMPONENT_RE.test(p))) return undefined;
  if (domain === 'docker.io' && parts.length === 1) parts.unshift('library');
  const path = parts.join('/');
  const name = `${domain}/${path}`;
  const implicitLatest = tag === undefined && digest === undefined;
  const normalized = `${name}${implicitLatest ? ':latest' : tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  const ref: ImageReference = { raw, domain, path, name, normalized, implicitLatest };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * The tag a runtime would pull: the explicit tag, `latest` when neither tag
 * nor digest is given, or undefined for a digest-only reference.
 */
export function effectiveTag(ref: ImageReference): string | undefined {
  if (ref.tag !== undefined) return ref.tag;
  return ref.digest === undefined ? 'latest' : undefined;
}
