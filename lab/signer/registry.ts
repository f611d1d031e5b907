/**
 * A minimal OCI distribution client: manifests by tag or digest, blobs,
 * monolithic uploads (POST, then PUT ?digest=). Spec: OCI
 * distribution-spec v1.1, "Pulling manifests", "Pulling blobs",
 * "Pushing blobs" (POST then PUT), "Pushing manifests".
 *
 * The base URL is the caller's: in the lab always loopback or the node's
 * registry. Redirects are followed only within that origin.
 *
 * Trust boundary: the registry is not trusted. Content fetched by digest is
 * hashed and compared before it is returned; a manifest fetched by tag is
 * returned with the digest of the exact bytes received.
 */
import { LabError } from '../errors.ts';
import { isSha256Digest, quote, sha256Digest } from './encoding.ts';
import type { SignerErrorCode } from './errors.ts';
import { MEDIA_TYPES } from './manifest.ts';

/** What a manifest GET accepts: image manifests and indexes, OCI and Docker. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList].join(', ');

/** distribution's own cap on manifest size (registry/handlers: 4 MiB). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 3;

const REPOSITORY = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export interface RegistryClientOptions {
  /** Per request. Default 60000 ms. */
  timeoutMs?: number;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof fetch;
}

export interface FetchedManifest {
  bytes: Buffer;
  /** Content-Type the registry gave. */
  mediaType: string;
  /** sha256 of `bytes`, computed here. */
  digest: string;
}

/** `repo`, `repo:tag` or `repo@sha256:…` (no registry host: that is the base URL). */
export interface RepositoryReference {
  repository: string;
  /** A tag or a digest. */
  reference: string;
}

/** Splits `repo[:tag|@digest]`; the tag defaults to `latest`. Throws REGISTRY_BAD_REFERENCE. */
export function parseRepositoryReference(text: string): RepositoryReference {
  const at = text.indexOf('@');
  let repository: string;
  let reference: string;
  if (at >= 0) {
    repository = text.slice(0, at);
    reference = text.slice(at + 1);
  } else {
    const colon = text.lastIndexOf(':');
    const slash = text.lastIndexOf('/');
    repository = colon > slash ? text.slice(0, colon) : text;
    reference = colon > slash ? text.slice(colon + 1) : 'latest';
  }
  checkRepository(repository);
  checkReference(reference);
  return { repository, reference };
}

export class RegistryClient {
  readonly baseUrl: URL;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(baseUrl: string, options: RegistryClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch (err) {
      throw new LabError<SignerErrorCode>('REGISTRY_BAD_URL', `registry: expected an http(s) base URL, got ${quote(baseUrl)}`, { cause: err });
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.search !== '' || url.hash !== '') {
      throw new LabError<SignerErrorCode>('REGISTRY_BAD_URL', `registry: expected an http(s) base URL without credentials, query or fragment, got ${quote(baseUrl)}`);
    }
    this.baseUrl = url;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#fetch = options.fetch ?? fetch;
  }

  /** GET a manifest by tag or digest. By digest, the bytes must hash to it. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    checkRepository(repository);
    checkReference(reference);
    const what = `manifest ${repository}:${reference}`;
    const res = await this.#request('GET', `/v2/${repository}/manifests/${reference}`, what, [200], { headers: { accept: MANIFEST_ACCEPT } });
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256Digest(bytes);
    if (isSha256Digest(reference) && digest !== reference) {
      throw new LabError<SignerErrorCode>('REGISTRY_DIGEST_MISMATCH', `${what}: expected bytes hashing to ${reference}, the registry sent ${bytes.length} bytes hashing to ${digest}`);
    }
    const claimed = res.headers.get('docker-content-digest');
    if (claimed !== null && claimed !== digest) {
      throw new LabError<SignerErrorCode>('REGISTRY_DIGEST_MISMATCH', `${what}: Docker-Content-Digest says ${quote(claimed)}, the ${bytes.length} bytes received hash to ${digest}`);
    }
    return { bytes, mediaType: res.headers.get('content-type') ?? '', digest };
  }

  /** PUT a manifest under a tag (or its digest). Returns the digest of the bytes sent. */
  async putManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    checkRepository(repository);
    checkReference(reference);
    const digest = sha256Digest(bytes);
    const what = `manifest ${repository}:${reference}`;
    const res = await this.#request('PUT', `/v2/${repository}/manifests/${reference}`, what, [201], {
      headers: { 'content-type': mediaType },
      body: new Uint8Array(bytes),
    });
    await res.arrayBuffer();
    const claimed = res.headers.get('docker-content-digest');
    if (claimed !== null && claimed !== digest) {
      throw new LabError<SignerErrorCode>('REGISTRY_DIGEST_MISMATCH', `${what}: pushed ${bytes.length} bytes hashing to ${digest}, the registry says it stored ${quote(claimed)}`);
    }
    return digest;
  }

  /** HEAD a blob: true when the registry has it. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    checkRepository(repository);
    checkDigest(digest);
    const res = await this.#request('HEAD', `/v2/${repository}/blobs/${digest}`, `blob ${repository}@${digest}`, [200, 404]);
    await res.arrayBuffer();
    return res.status === 200;
  }

  /** GET a blob; its bytes must hash to `digest`. */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    checkRepository(repository);
    checkDigest(digest);
    const what = `blob ${repository}@${digest}`;
    const res = await this.#request('GET', `/v2/${repository}/blobs/${digest}`, what, [200]);
    const bytes = await readBody(res, Number.POSITIVE_INFINITY, what);
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw new LabError<SignerErrorCode>('REGISTRY_DIGEST_MISMATCH', `${what}: the registry sent ${bytes.length} bytes hashing to ${actual}`);
    }
    return bytes;
  }

  /** Uploads a blob monolithically unless the registry already has it. Returns its digest. */
  async putBlob(repository: string, bytes: Uint8Array): Promise<string> {
    checkRepository(repository);
    const digest = sha256Digest(bytes);
    if (await this.hasBlob(repository, digest)) return digest;
    const what = `upload ${repository}@${digest}`;
    const start = await this.#request('POST', `/v2/${repository}/blobs/uploads/`, what, [202]);
    await start.arrayBuffer();
    const location = start.headers.get('location');
    if (location === null) throw new LabError<SignerErrorCode>('REGISTRY_HTTP_ERROR', `${what}: POST answered 202 without a Location header`);
    const target = this.#sameOrigin(location, what);
    target.searchParams.set('digest', digest); // keeps any query the registry put in Location
    const done = await this.#request('PUT', target, what, [201], {
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(bytes),
    });
    await done.arrayBuffer();
    return digest;
  }

  #sameOrigin(location: string, what: string): URL {
    const url = new URL(location, this.baseUrl);
    if (url.origin !== this.baseUrl.origin) {
      throw new LabError<SignerErrorCode>('REGISTRY_HTTP_ERROR', `${what}: the registry pointed to another origin ${quote(url.origin)}; only ${this.baseUrl.origin} is used`);
    }
    return url;
  }

  async #request(
    method: string,
    path: string | URL,
    what: string,
    expected: number[],
    init: { headers?: Record<string, string>; body?: Uint8Array<ArrayBuffer> } = {},
  ): Promise<Response> {
    let url = typeof path === 'string' ? new URL(this.baseUrl.pathname.replace(/\/$/, '') + path, this.baseUrl) : path;
    for (let hop = 0; ; hop++) {
      let res: Response;
      try {
        res = await this.#fetch(url, {
          method,
          headers: init.headers,
          body: init.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
      } catch (err) {
        throw new LabError<SignerErrorCode>('REGISTRY_UNREACHABLE', `${what}: ${method} ${url.href} failed: ${(err as Error).message}`, { cause: err });
      }
      const location = res.headers.get('location');
      if ([301, 302, 303, 307, 308].includes(res.status) && location !== null && (method === 'GET' || method === 'HEAD')) {
        await res.arrayBuffer().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) throw new LabError<SignerErrorCode>('REGISTRY_HTTP_ERROR', `${what}: more than ${MAX_REDIRECTS} redirects from ${this.baseUrl.origin}`);
        url = this.#sameOrigin(location, what);
        continue;
      }
      if (expected.includes(res.status)) return res;
      const body = method === 'HEAD' ? '' : await res.text().catch(() => '');
      const detail = body === '' ? '' : `: ${quote(body, 300)}`;
      const code: SignerErrorCode = res.status === 404 ? 'REGISTRY_NOT_FOUND' : 'REGISTRY_HTTP_ERROR';
      throw new LabError<SignerErrorCode>(code, `${what}: ${method} ${url.href} answered ${res.status}, expected ${expected.join(' or ')}${detail}`);
    }
  }
}

async function readBody(res: Response, limit: number, what: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(length) && length > limit) {
    throw new LabError<SignerErrorCode>('REGISTRY_HTTP_ERROR', `${what}: expected at most ${limit} bytes, Content-Length says ${length}`);
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > limit) throw new LabError<SignerErrorCode>('REGISTRY_HTTP_ERROR', `${what}: expected at most ${limit} bytes, got ${bytes.length}`);
  return bytes;
}

function checkRepository(repository: string): void {
  if (!REPOSITORY.test(repository) || repository.length > 255) {
    throw new LabError<SignerErrorCode>('REGISTRY_BAD_REFERENCE', `registry: expected a repository name like "lab/app" (distribution-spec name grammar), got ${quote(repository)}`);
  }
}

function checkReference(reference: string): void {
  if (!TAG.test(reference) && !isSha256Digest(reference)) {
    throw new LabError<SignerErrorCode>('REGISTRY_BAD_REFERENCE', `registry: expected a tag or a sha256 digest, got ${quote(reference)}`);
  }
}

function checkDigest(digest: string): void {
  if (!isSha256Digest(digest)) {
    throw new LabError<SignerErrorCode>('REGISTRY_BAD_REFERENCE', `registry: expected a sha256 digest, got ${quote(digest)}`);
  }
}
