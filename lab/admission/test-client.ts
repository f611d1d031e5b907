/**
 * A minimal HTTPS client for tests, the fuzzer and the benchmark: posts raw
 * bytes and returns status and body, verifying the server against a CA.
 */
import { Agent, request } from 'node:https';

export interface RawResponse {
  status: number;
  text: string;
}

export function httpsAgent(caPem: string, maxSockets = 64): Agent {
  return new Agent({ keepAlive: true, ca: caPem, maxSockets });
}

export function rawRequest(
  agent: Agent,
  url: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string | number> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'POST', agent, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs JSON text to the webhook. */
export function postReview(agent: Agent, url: string, body: string | Buffer, contentType = 'application/json'): Promise<RawResponse> {
  return rawRequest(agent, url, { body, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } });
}
