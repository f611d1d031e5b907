/**
 * Pushes a built image to an OCI distribution registry over HTTP
 * (distribution-spec v1.1: monolithic blob upload, then the manifest).
 * The registry is always the lab node's, reached on the node's address.
 */
import { LabError } from '../errors.ts';
import { buildImage, type BuiltImage } from './build.ts';
import type { Workload } from '../spec/schemas.ts';

export type PushErrorCode = 'REGISTRY_UNREACHABLE' | 'REGISTRY_REJECTED';

async function call(url: string, init: RequestInit, expected: number[], what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (cause) {
    throw new LabError<PushErrorCode>('REGISTRY_UNREACHABLE', `${what}: cannot reach ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!expected.includes(res.status)) {
    const body = (await res.text().catch(() => '')).slice(0, 300);
    throw new LabError<PushErrorCode>('REGISTRY_REJECTED', `${what}: ${init.method ?? 'GET'} ${url} answered ${res.status}, expected ${expected.join(' or ')}: ${body}`);
  }
  return res;
}

export async function pushBlob(baseUrl: string, repository: string, digest: string, data: Buffer): Promise<void> {
  const head = await fetch(`${baseUrl}/v2/${repository}/blobs/${digest}`, { method: 'HEAD' }).catch(() => undefined);
  if (head?.status === 200) return;
  const start = await call(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST' }, [202], `upload ${digest}`);
  const location = start.headers.get('location');
  if (!location) throw new LabError<PushErrorCode>('REGISTRY_REJECTED', `upload ${digest}: the registry gave no Location header`);
  const url = new URL(location, baseUrl);
  url.searchParams.set('digest', digest);
  await call(
    url.toString(),
    { method: 'PUT', body: new Uint8Array(data), headers: { 'content-type': 'application/octet-stream' } },
    [201],
    `upload ${digest}`,
  );
}

export async function pushManifest(baseUrl: string, repository: string, reference: string, mediaType: string, bytes: Buffer): Promise<void> {
  await call(
    `${baseUrl}/v2/${repository}/manifests/${reference}`,
    { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': mediaType } },
    [201],
    `manifest ${repository}:${reference}`,
  );
}

/** Pushes every blob, then the manifest under the image's tag. */
export async function pushImage(baseUrl: string, image: BuiltImage): Promise<void> {
  for (const [digest, data] of image.blobs) await pushBlob(baseUrl, image.repository, digest, data);
  await pushManifest(baseUrl, image.repository, image.tag, image.manifest.mediaType, image.manifestBytes);
}

/**
 * One node's registry as a lab pushes to it: each workload image is built
 * from its recipe and pushed once; later asks return the same image. The
 * node's static busybox is read once, when an image first needs it.
 */
export class NodeRegistry {
  readonly #url: () => string;
  readonly #readBusybox: () => Promise<Buffer>;
  readonly #images = new Map<string, BuiltImage>();
  #busybox?: Buffer;

  constructor(url: () => string, readBusybox: () => Promise<Buffer>) {
    this.#url = url;
    this.#readBusybox = readBusybox;
  }

  async push(recipe: Workload['spec']['image']): Promise<BuiltImage> {
    const key = `${recipe.repository}:${recipe.tag}`;
    const cached = this.#images.get(key);
    if (cached) return cached;
    const built = await buildImage(recipe, { busybox: async () => (this.#busybox ??= await this.#readBusybox()) });
    await pushImage(this.#url(), built);
    this.#images.set(key, built);
    return built;
  }
}
