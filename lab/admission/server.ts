/**
 * The validating webhook over HTTPS (node:https), as kube-apiserver calls it:
 *
 *   POST /validate   AdmissionReview admission.k8s.io/v1 in, AdmissionReview out
 *   GET  /healthz    200 "ok"
 *
 * A malformed request (not JSON, wrong content type, wrong apiVersion/kind,
 * missing uid, an object that is not a Pod or pod workload, a body over
 * 3 MiB) gets HTTP 400 with a Status explaining why, and the server keeps
 * serving. An exception anywhere after parsing is a denial (allowed=false,
 * status.code 500), never an admit.
 *
 * Lifecycle lives in the types: a configured `WebhookServer` starts into a
 * `StartedWebhookServer`, which is the only thing that can be closed.
 */
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { describeError } from '../errors.ts';
import type { AdmissionEngine } from './engine.ts';
import { admissionError } from './errors.ts';
import { admissionResponse, parseAdmissionReview } from './review.ts';
import type { Decision } from './types.ts';

export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface WebhookServerOptions {
  engine: AdmissionEngine;
  /** PEM serving certificate (chain), from the lab CA. */
  cert: string | Buffer;
  /** PEM private key of the serving certificate. */
  key: string | Buffer;
  /** Default 127.0.0.1: loopback only unless asked. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  maxBodyBytes?: number;
  /** Time caps per connection; see DEFAULT_CONNECTION_LIMITS. */
  limits?: ConnectionLimits;
}

/**
 * Caps that keep a client from holding the webhook: a connection that never
 * finishes TLS (Node's own default waits 120 s), one that never sends its
 * headers or body, and too many connections at once. Every time is well
 * under kube-apiserver's 10 s webhook timeout.
 */
export interface ConnectionLimits {
  /** TLS handshake must finish within. Default 3000 ms. */
  handshakeTimeoutMs?: number;
  /** Request headers must arrive within. Default 3000 ms. */
  headersTimeoutMs?: number;
  /** The whole request (headers and body) must arrive within. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after. Default 30000 ms. */
  keepAliveTimeoutMs?: number;
  /** Open connections at most; further ones are refused. Default 1024. */
  maxConnections?: number;
}

export const DEFAULT_CONNECTION_LIMITS: Required<ConnectionLimits> = {
  handshakeTimeoutMs: 3_000,
  headersTimeoutMs: 3_000,
  requestTimeoutMs: 5_000,
  keepAliveTimeoutMs: 30_000,
  maxConnections: 1024,
};

export interface WebhookStats {
  requests: number;
  /** HTTP 400 answers. */
  malformed: number;
  admitted: number;
  denied: number;
  /** Denials caused by an internal error. */
  internalErrors: number;
}

/** A configured, not yet listening, webhook. */
export class WebhookServer {
  readonly #options: WebhookServerOptions;
  #host: string;
  #port: number;

  constructor(options: WebhookServerOptions) {
    this.#options = options;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
  }

  withHost(host: string): this {
    this.#host = host;
    return this;
  }

  withPort(port: number): this {
    this.#port = port;
    return this;
  }

  async start(): Promise<StartedWebhookServer> {
    const stats: WebhookStats = { requests: 0, malformed: 0, admitted: 0, denied: 0, internalErrors: 0 };
    const handler = makeHandler(this.#options.engine, this.#options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, stats);
    const limits = { ...DEFAULT_CONNECTION_LIMITS, ...this.#options.limits };
    let server: Server;
    try {
      server = createServer(
        {
          cert: this.#options.cert,
          key: this.#options.key,
          minVersion: 'TLSv1.2',
          handshakeTimeout: limits.handshakeTimeoutMs,
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.requestTimeoutMs,
          keepAliveTimeout: limits.keepAliveTimeoutMs,
          // Node checks the header and request timeouts on this period (30 s by default).
          connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
        },
        handler,
      );
    } catch (err) {
      throw admissionError('ADMISSION_TLS_INVALID', `webhook: the serving certificate or key is unusable: ${describeError(err)}`, err);
    }
    server.maxConnections = limits.maxConnections;
    const sockets = new Set<Socket>();
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    // A failed TLS handshake or a client that hangs up must never stop the server.
    server.on('tlsClientError', () => {});
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(admissionError('ADMISSION_LISTEN_FAILED', `webhook: cannot listen on ${this.#host}:${this.#port}: ${err.message}`, err));
      server.once('error', onError);
      server.listen(this.#port, this.#host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return new StartedWebhookServer(server, sockets, stats);
  }
}

/** A listening webhook. */
export class StartedWebhookServer {
  readonly host: string;
  readonly port: number;
  readonly #server: Server;
  readonly #sockets: Set<Socket>;
  readonly #stats: WebhookStats;
  #closing: Promise<void> | undefined;

  constructor(server: Server, sockets: Set<Socket>, stats: WebhookStats) {
    this.#server = server;
    this.#sockets = sockets;
    this.#stats = stats;
    const addr = server.address() as AddressInfo;
    this.host = addr.address;
    this.port = addr.port;
  }

  /** Base URL, e.g. `https://127.0.0.1:40123`. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `https://${host}:${this.port}`;
  }

  /** URL of the validating endpoint. */
  get validateUrl(): string {
    return `${this.url}/validate`;
  }

  stats(): WebhookStats {
    return { ...this.#stats };
  }

  /** Stops accepting, lets in-flight requests finish, drops idle keep-alive sockets. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      // Sockets still busy after a grace period are cut.
      const timer = setTimeout(() => {
        for (const s of this.#sockets) s.destroy();
      }, 2_000);
      timer.unref();
    });
    return this.#closing;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

/** A Kubernetes `Status` for HTTP errors. */
function statusBody(code: number, message: string): unknown {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason: code === 400 ? 'BadRequest' : code === 404 ? 'NotFound' : 'MethodNotAllowed', message };
}

function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const media = header.split(';')[0]?.trim().toLowerCase();
  return media === 'application/json';
}

function makeHandler(engine: AdmissionEngine, maxBody: number, stats: WebhookStats) {
  const bad = (res: ServerResponse, message: string, close = false) => {
    stats.malformed++;
    sendJson(res, 400, statusBody(400, message), close);
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    stats.requests++;
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendJson(res, 405, statusBody(405, `/healthz: method ${req.method} is not allowed, use GET`));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end(req.method === 'HEAD' ? undefined : 'ok');
      return;
    }
    if (path !== '/validate') {
      req.resume();
      sendJson(res, 404, statusBody(404, `${path}: no such endpoint; the webhook serves POST /validate and GET /healthz`));
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      sendJson(res, 405, statusBody(405, `/validate: method ${req.method} is not allowed, use POST`));
      return;
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      req.resume();
      bad(res, `/validate: content-type should be application/json, got ${JSON.stringify(req.headers['content-type'] ?? '')}`);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > maxBody) {
      // Refuse before reading; close so the unread body is not parsed as the next request.
      bad(res, `/validate: body of ${declared} bytes exceeds the ${maxBody}-byte limit`, true);
      res.on('finish', () => req.destroy());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBody) {
        refused = true;
        chunks.length = 0;
        bad(res, `/validate: body exceeds the ${maxBody}-byte limit (read ${size} bytes so far)`, true);
        res.on('finish', () => req.destroy());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {
      refused = true;
    });
    req.on('end', () => {
      if (refused) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
      } catch (err) {
        bad(res, `/validate: body is not JSON: ${describeError(err)}`);
        return;
      }
      const parsed = parseAdmissionReview(body);
      if (!parsed.ok) {
        bad(res, `/validate: malformed AdmissionReview: ${parsed.reason}`);
        return;
      }
      const { request } = parsed;
      engine
        .review({ uid: request.uid, operation: request.operation, namespace: request.namespace, object: request.object })
        .catch((err: unknown): Decision => {
          // Never admit-by-error: whatever broke, the answer is no.
          const message = `internal error while evaluating policies, refusing: ${describeError(err)}`;
          return { allowed: false, code: 500, message, warnings: [], violations: [{ policy: 'engine', mode: 'deny', message }] };
        })
        .then((decision) => {
          if (decision.allowed) stats.admitted++;
          else stats.denied++;
          if (decision.code === 500) stats.internalErrors++;
          if (!res.destroyed) sendJson(res, 200, admissionResponse(request.uid, decision));
        })
        .catch(() => {
          if (!res.headersSent && !res.destroyed) {
            sendJson(res, 200, admissionResponse(request.uid, { allowed: false, code: 500, message: 'internal error while answering, refusing', warnings: [], violations: [] }));
          }
        });
    });
  };
}
