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

/** Docker Hub's other names; the runtime (distribution `normalize.go`, containerd's resolver) sends them all to Docker Hub. */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * The registry host as the runtime resolves it: DNS names are
 * case-insensitive, `:443` is the HTTPS default port, and Docker Hub has
 * several names. Two references whose canonical domains differ may still
 * reach one registry through DNS; the policies cannot know that, which is why
 * signature checks should also be bound to what the node pulls (the node gates).
 */
export function canonicalDomain(domain: string): string {
  let d = domain.toLowerCase();
  if (d.endsWith(':443')) d = d.slice(0, -':443'.length);
  return DOCKER_HUB_ALIASES.has(d) ? 'docker.io' : d;
}

/** `domain/path` with the domain made canonical (canonicalDomain). */
export function canonicalName(ref: ImageReference): string {
  return `${canonicalDomain(ref.domain)}/${ref.path}`;
}

/** A repository prefix (OperationPolicy allowedRepos): a registry, and zero or more whole path segments under it. */
export interface RepositoryPrefix {
  domain: string;
  segments: string[];
}

/**
 * Reads an allowedRepos entry the way the runtime reads the start of a
 * reference: `registry.example.com`, `registry.example.com/team/`,
 * `nginx` (Docker Hub `library/nginx`). Undefined when it cannot be read as a
 * registry and path (a tag, a digest, a `*`, an invalid component), which the
 * loader refuses and the matcher treats as matching nothing.
 */
export function parseRepositoryPrefix(text: string): RepositoryPrefix | undefined {
  const trimmed = text.replace(/\/+$/, '');
  if (trimmed.length === 0 || trimmed !== text.trim().replace(/\/+$/, '') || /[*@]/.test(trimmed)) return undefined;
  const parts = trimmed.split('/');
  const first = parts[0]!;
  const isDomain = first.includes('.') || first.includes(':') || first === 'localhost';
  if (isDomain) {
    if (!DOMAIN_RE.test(first)) return undefined;
    parts.shift();
  }
  if (!parts.every((p) => PATH_COMPONENT_RE.test(p))) return undefined;
  const domain = canonicalDomain(isDomain ? first : 'docker.io');
  // A bare Docker Hub name is an official image, as in an image reference.
  if (!isDomain && parts.length === 1) parts.unshift('library');
  return { domain, segments: parts };
}

/**
 * Whether `image` lies under the repository prefix: the same registry
 * (canonicalDomain) and the prefix's path segments, whole. So
 * `registry.deckhouse.io` allows `registry.deckhouse.io/x:1` but not
 * `registry.deckhouse.io.evil.example/x:1`, and `r.io/team` not `r.io/teamx/y`.
 */
export function underRepositoryPrefix(prefix: string, image: string): boolean {
  const p = parseRepositoryPrefix(prefix);
  const ref = parseImageReference(image);
  if (p === undefined || ref === undefined || canonicalDomain(ref.domain) !== p.domain) return false;
  const segments = ref.path.split('/');
  return p.segments.length <= segments.length && p.segments.every((s, i) => segments[i] === s);
}

/**
 * Whether `image` falls under a cosign `reference` pattern (SecurityPolicy
 * verifyImageSignatures), both normalised as the runtime resolves them
 * (Docker Hub short names, canonicalDomain). A pattern is an exact reference
 * (a reference without tag or digest covers all of its tags and digests) or
 * a prefix ending in a single `*`. Undefined when the pattern or the image
 * cannot be normalised: the caller must then refuse, never skip the check.
 */
export function matchesReferencePattern(pattern: string, image: string): boolean | undefined {
  const ref = parseImageReference(image);
  if (ref === undefined) return undefined;
  const name = canonicalName(ref);
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) {
    const prefix = normalisePatternPrefix(pattern.slice(0, -1));
    if (prefix === undefined) return undefined;
    const forms = [name, `${name}:${effectiveTag(ref) ?? ''}`, ref.digest === undefined ? name : `${name}@${ref.digest}`];
    return forms.some((f) => f.startsWith(prefix));
  }
  const want = parseImageReference(pattern);
  if (want === undefined) return undefined;
  if (canonicalName(want) !== name) return false;
  if (want.tag !== undefined && want.tag !== ref.tag) return false;
  if (want.digest !== undefined && want.digest !== ref.digest) return false;
  return true;
}

/**
 * The part of a `prefix*` pattern before the star, with its domain made
 * canonical: `REGISTRY.example.com:443/labs/` → `registry.example.com/labs/`,
 * `myrepo/` → `docker.io/myrepo/`. Undefined when the domain itself is cut
 * by the star (`registry.exa*`), which no normalisation can read.
 */
export function normalisePatternPrefix(prefix: string): string | undefined {
  if (prefix.includes('*')) return undefined;
  const slash = prefix.indexOf('/');
  if (slash < 0) {
    // No complete first component: only a Docker Hub short-name prefix (`ngin`) is readable.
    return /^[a-z0-9._-]*$/.test(prefix) && !prefix.includes('.') ? `docker.io/library/${prefix}` : undefined;
  }
  const first = prefix.slice(0, slash);
  const rest = prefix.slice(slash + 1);
  const isDomain = first.includes('.') || first.includes(':') || first === 'localhost';
  if (isDomain) return DOMAIN_RE.test(first) ? `${canonicalDomain(first)}/${rest}` : undefined;
  if (!PATH_COMPONENT_RE.test(first)) return undefined;
  return `docker.io/${prefix}`;
}
