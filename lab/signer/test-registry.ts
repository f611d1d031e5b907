/**
 * A tiny in-memory OCI distribution registry on 127.0.0.1 for tests: just
 * enough of distribution-spec v1.1 to exercise the client, plus switches
 * that make it misbehave the ways a hostile registry could. It is not a
 * conformance reference; the lead tests against the real registry on the node.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRegistry {
  url: string;
  blobs: Map<string, Buffer>;
  manifests: Map<string, { bytes: Buffer; mediaType: string }>;
  /** Every request seen: method, path and the headers that matter. */
  requests: Array<{ method: string; path: string; accept?: string; contentType?: string }>;
  /** Misbehaviour switches. */
  evil: { wrongBlobBytes?: boolean; wrongManifestBytes?: boolean; redirectElsewhere?: boolean; uploadLocationWithQuery?: boolean };
  /** Clears the misbehaviour switches and the request log (content stays). */
  reset(): void;
  close(): Promise<void>;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>(); // key: repo@ref
  const requests: FakeRegistry['requests'] = [];
  const evil: FakeRegistry['evil'] = {};
  const uploads = new Map<string, string>();

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const entry: FakeRegistry['requests'][number] = { method, path: url.pathname };
    if (req.headers.accept !== undefined) entry.accept = req.headers.accept;
    if (req.headers['content-type'] !== undefined) entry.contentType = req.headers['content-type'];
    requests.push(entry);
    const send = (status: number, headers: Record<string, string> = {}, payload?: Buffer): void => {
      res.writeHead(status, headers);
      res.end(method === 'HEAD' ? undefined : payload);
    };

    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const [, repo, ref] = m as unknown as [string, string, string];
      if (method === 'PUT') {
        const bytes = await body(req);
        const digest = digestOf(bytes);
        const stored = { bytes, mediaType: req.headers['content-type'] ?? '' };
        manifests.set(`${repo}@${ref}`, stored);
        manifests.set(`${repo}@${digest}`, stored);
        return send(201, { 'docker-content-digest': digest, location: `/v2/${repo}/manifests/${digest}` });
      }
      const found = manifests.get(`${repo}@${ref}`);
      if (!found) return send(404, { 'content-type': 'application/json' }, Buffer.from('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'));
      const bytes = evil.wrongManifestBytes ? Buffer.concat([found.bytes, Buffer.from(' ')]) : found.bytes;
      return send(200, { 'content-type': found.mediaType, 'docker-content-digest': digestOf(found.bytes), 'content-length': String(bytes.length) }, bytes);
    }

    m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (m) {
      const found = blobs.get(m[2] as string);
      if (evil.redirectElsewhere && method === 'GET') return send(307, { location: `http://203.0.113.9/blob/${m[2]}` });
      if (!found) return send(404);
      const bytes = evil.wrongBlobBytes ? Buffer.from('not the blob') : found;
      return send(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }, bytes);
    }

    m = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname);
    if (m && method === 'POST') {
      const id = randomUUID();
      uploads.set(id, m[1] as string);
      const location = `/v2/${m[1]}/blobs/uploads/${id}${evil.uploadLocationWithQuery ? '?_state=opaque' : ''}`;
      return send(202, { location, 'docker-upload-uuid': id });
    }

    m = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f-]+)$/.exec(url.pathname);
    if (m && method === 'PUT') {
      if (!uploads.has(m[2] as string)) return send(404);
      if (evil.uploadLocationWithQuery && url.searchParams.get('_state') !== 'opaque') return send(400, {}, Buffer.from('lost _state'));
      const bytes = await body(req);
      const digest = url.searchParams.get('digest');
      if (digest !== digestOf(bytes)) return send(400, {}, Buffer.from('{"errors":[{"code":"DIGEST_INVALID"}]}'));
      blobs.set(digest, bytes);
      return send(201, { location: `/v2/${m[1]}/blobs/${digest}`, 'docker-content-digest': digest });
    }
    send(404);
  };

  const server = createServer((req, res) => {
    handler(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    blobs,
    manifests,
    requests,
    evil,
    reset: () => {
      evil.wrongBlobBytes = evil.wrongManifestBytes = evil.redirectElsewhere = evil.uploadLocationWithQuery = false;
      requests.length = 0;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
