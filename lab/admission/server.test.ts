import assert from 'node:assert/strict';
import type { Agent } from 'node:https';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { createEngine, DecisionLog } from './engine.ts';
import { loadLabStateFromTexts } from './loader.ts';
import { type StartedWebhookServer, WebhookServer } from './server.ts';
import { httpsAgent, postReview, rawRequest } from './test-client.ts';
import { createThrowawayPki, type ThrowawayPki } from './test-pki.ts';
import { StaticImageVerifier } from './verifiers.ts';

const state = loadLabStateFromTexts([
  {
    file: 'ns.yaml',
    text: [
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: kube-system, labels: { security.deckhouse.io/pod-policy: privileged } }',
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: warn-ns, labels: { security.deckhouse.io/pod-policy: restricted, security.deckhouse.io/pod-policy-action: warn } }',
    ].join('\n---\n'),
  },
]);

function review(overrides: { uid?: string; namespace?: string; spec?: Record<string, unknown>; operation?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: overrides.uid ?? 'uid-1',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      operation: overrides.operation ?? 'CREATE',
      namespace: overrides.namespace ?? 'kube-system',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: overrides.spec ?? { containers: [{ name: 'a', image: 'signed:1' }] } },
    },
  };
}

describe('WebhookServer.start', () => {
  let pki: ThrowawayPki;
  let server: StartedWebhookServer;
  let agent: Agent;
  const log = new DecisionLog();

  before(async () => {
    pki = await createThrowawayPki();
    const engine = createEngine(state, { imageVerifier: new StaticImageVerifier(['signed:1']) });
    engine.onDecision(log.listener);
    server = await new WebhookServer({ engine, cert: pki.certPem, key: pki.keyPem }).start();
    agent = httpsAgent(pki.caPem);
  });
  after(async () => {
    agent.destroy();
    await server.close();
  });

  const post = (body: unknown, contentType?: string) => postReview(agent, server.validateUrl, typeof body === 'string' ? body : JSON.stringify(body), contentType);

  describe('when started without a host', () => {
    it('listens on loopback only', () => assert.equal(server.host, '127.0.0.1'));
  });

  describe('when asked for /healthz', () => {
    it('answers 200 ok over TLS verified by the CA', async () => {
      const r = await rawRequest(agent, `${server.url}/healthz`, { method: 'GET' });
      assert.deepEqual(r, { status: 200, text: 'ok' });
    });
  });

  describe('when a well-formed review arrives', () => {
    it('admits a signed pod and echoes the uid', async () => {
      const r = await post(review({ uid: 'abc' }));
      assert.equal(r.status, 200);
      const body = JSON.parse(r.text);
      assert.deepEqual(body, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'abc', allowed: true, status: { code: 200, message: 'admitted' }, warnings: [] } });
    });
    it('denies an unsigned pod with 403 and the Deckhouse message', async () => {
      const r = await post(review({ spec: { containers: [{ name: 'a', image: 'nginx:1.17.2' }] } }));
      const body = JSON.parse(r.text);
      assert.equal(body.response.allowed, false);
      assert.equal(body.response.status.code, 403);
      assert.match(body.response.status.message, /^\[verify-image-signatures\] Image signature verification failed: nginx:1\.17\.2/);
    });
    it('admits with warnings in warn mode', async () => {
      const r = await post(review({ namespace: 'warn-ns', spec: { containers: [{ name: 'a', image: 'x:1', securityContext: { privileged: true } }] } }));
      const body = JSON.parse(r.text);
      assert.equal(body.response.allowed, true);
      assert.match(body.response.warnings[0], /would violate PodSecurity "restricted:latest"/);
    });
    it('records each decision', () => {
      assert.ok(log.records.some((rec) => rec.uid === 'abc' && rec.outcome === 'admitted' && rec.namespace === 'kube-system'));
    });
  });

  describe('when the request is malformed', () => {
    const cases: [string, () => Promise<{ status: number; text: string }>, RegExp][] = [
      ['not JSON', () => post('{"apiVersion":'), /body is not JSON/],
      ['wrong content type', () => post(review(), 'text/plain'), /content-type should be application\/json/],
      ['wrong apiVersion', () => post({ ...review(), apiVersion: 'admission.k8s.io/v1beta1' }), /apiVersion should be "admission.k8s.io\/v1"/],
      ['wrong kind', () => post({ ...review(), kind: 'Pod' }), /kind should be "AdmissionReview"/],
      ['missing uid', () => post(review({ uid: '' })), /request.uid should be a non-empty string/],
      ['object not a Pod', () => post({ ...review(), request: { ...(review().request as object), object: { kind: 'Secret', data: {} } } }), /object kind should be Pod/],
      ['DELETE operation', () => post(review({ operation: 'DELETE' })), /request.operation should be "CREATE" or "UPDATE"/],
      ['namespace mismatch', () => post({ ...review(), request: { ...(review().request as object), object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'apps' }, spec: { containers: [{ name: 'a', image: 'x' }] } } } }), /should agree/],
      ['mistyped image', () => post(review({ spec: { containers: [{ name: 'a', image: ['x'] }] } })), /spec.containers\[0\].image: should be a string/],
    ];
    for (const [what, send, message] of cases) {
      it(`answers 400 for ${what}`, async () => {
        const r = await send();
        assert.equal(r.status, 400, r.text);
        const status = JSON.parse(r.text);
        assert.equal(status.kind, 'Status');
        assert.match(status.message, message);
      });
    }
    it('answers 400 for a body over 3 MiB and keeps serving', async () => {
      const big = JSON.stringify({ ...review(), padding: 'x'.repeat(3 * 1024 * 1024) });
      const r = await post(big);
      assert.equal(r.status, 400);
      assert.match(JSON.parse(r.text).message, /exceeds the 3145728-byte limit/);
      assert.equal((await post(review())).status, 200);
    });
    it('answers 400 for an oversized chunked body without content-length', async () => {
      const r = await rawRequest(agent, server.validateUrl, { body: Buffer.alloc(3 * 1024 * 1024 + 10, 0x20), headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
      assert.equal(r.status, 400);
      assert.match(JSON.parse(r.text).message, /read \d+ bytes so far/);
    });
    it('answers 404 and 405 for other paths and methods', async () => {
      assert.equal((await rawRequest(agent, `${server.url}/mutate`, { body: '{}' })).status, 404);
      assert.equal((await rawRequest(agent, server.validateUrl, { method: 'GET' })).status, 405);
    });
    it('counts them and still serves', async () => {
      assert.ok(server.stats().malformed >= 10);
      assert.equal((await rawRequest(agent, `${server.url}/healthz`, { method: 'GET' })).status, 200);
    });
  });
});

describe('StartedWebhookServer.close', () => {
  describe('when closed with an idle keep-alive connection', () => {
    it('stops promptly and refuses new connections', async () => {
      const pki = await createThrowawayPki();
      const server = await new WebhookServer({ engine: createEngine(state), cert: pki.certPem, key: pki.keyPem }).start();
      const agent = httpsAgent(pki.caPem);
      assert.equal((await rawRequest(agent, `${server.url}/healthz`, { method: 'GET' })).status, 200);
      await server.close();
      await server.close(); // idempotent
      await assert.rejects(rawRequest(agent, `${server.url}/healthz`, { method: 'GET' }), /ECONNREFUSED|ECONNRESET|socket hang up/);
      agent.destroy();
    });
  });
});

describe('WebhookServer', () => {
  describe('when the key does not belong to the certificate', () => {
    it('fails with ADMISSION_TLS_INVALID', async () => {
      const [a, b] = await Promise.all([createThrowawayPki(), createThrowawayPki()]);
      await assert.rejects(new WebhookServer({ engine: createEngine(state), cert: a.certPem, key: b.keyPem }).start(), (err: unknown) => isLabError(err, 'ADMISSION_TLS_INVALID'));
    });
  });
  describe('when the port is taken', () => {
    it('fails with ADMISSION_LISTEN_FAILED', async () => {
      const pki = await createThrowawayPki();
      const first = await new WebhookServer({ engine: createEngine(state), cert: pki.certPem, key: pki.keyPem }).start();
      try {
        await assert.rejects(new WebhookServer({ engine: createEngine(state), cert: pki.certPem, key: pki.keyPem }).withPort(first.port).start(), (err: unknown) => isLabError(err, 'ADMISSION_LISTEN_FAILED'));
      } finally {
        await first.close();
      }
    });
  });
});

describe('WebhookServer connection limits', () => {
  /** Opens a TCP connection, optionally writes, and resolves with how long the server kept it open. */
  const heldFor = (port: number, write?: string) =>
    new Promise<number>((resolve, reject) => {
      const started = Date.now();
      const socket = connect(port, '127.0.0.1', () => {
        if (write !== undefined) socket.write(write);
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(Date.now() - started));
      setTimeout(() => {
        socket.destroy();
        reject(new Error('still open after 10000 ms'));
      }, 10_000).unref();
    });

  describe('when a client connects and never starts TLS', () => {
    it('drops it after the handshake timeout, not 120 s', async () => {
      const pki = await createThrowawayPki();
      const server = await new WebhookServer({ engine: createEngine(state), cert: pki.certPem, key: pki.keyPem, limits: { handshakeTimeoutMs: 300 } }).start();
      try {
        const ms = await heldFor(server.port);
        assert.ok(ms >= 250 && ms < 3_000, `held for ${ms} ms`);
      } finally {
        await server.close();
      }
    });
  });
  describe('when a client finishes TLS but sends its headers too slowly', () => {
    it('closes the connection after the headers timeout', async () => {
      const pki = await createThrowawayPki();
      const server = await new WebhookServer({ engine: createEngine(state), cert: pki.certPem, key: pki.keyPem, limits: { headersTimeoutMs: 400, requestTimeoutMs: 600 } }).start();
      try {
        const started = Date.now();
        const closed = await new Promise<number>((resolve) => {
          const socket = tlsConnect({ port: server.port, host: '127.0.0.1', ca: pki.caPem, servername: 'localhost' }, () => socket.write('POST /validate HTTP/1.1\r\nHost: x\r\n'));
          socket.on('error', () => {});
          socket.on('close', () => resolve(Date.now() - started));
        });
        assert.ok(closed < 3_000, `held for ${closed} ms`);
      } finally {
        await server.close();
      }
    });
  });
});
