import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AdmissionDispatcher, exemptedProtectedNamespaces, loadWebhookConfiguration, parseWebhookConfiguration, ruleMatches } from './dispatcher.ts';
import { createEngine } from './engine.ts';
import { loadLabStateFromTexts } from './loader.ts';
import { type StartedWebhookServer, WebhookServer } from './server.ts';
import { createThrowawayPki, type ThrowawayPki } from './test-pki.ts';
import { StaticImageVerifier } from './verifiers.ts';

const MANIFEST = new URL('./manifests/validating-webhook.yaml', import.meta.url).pathname;

const state = loadLabStateFromTexts([
  {
    file: 'ns.yaml',
    text: [
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: kube-system, labels: { security.deckhouse.io/pod-policy: privileged } }',
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: warn-ns, labels: { security.deckhouse.io/pod-policy: restricted, security.deckhouse.io/pod-policy-action: warn } }',
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: integrity-admission }',
    ].join('\n---\n'),
  },
]);

const podWith = (image: string, extra: Record<string, unknown> = {}, labels?: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', ...(labels === undefined ? {} : { labels }) },
  spec: { containers: [{ name: 'a', image, ...extra }] },
});

/** A one-webhook configuration pointing at `url`. */
function config(url: string, extra: string, caPem: string) {
  const text = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: t }
webhooks:
  - name: t.lab
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: { url: "${url}" }
${extra}`;
  return parseWebhookConfiguration(text, 't.yaml', { caBundlePem: caPem });
}
const RULES = `    rules:
      - { apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods], scope: Namespaced }
`;

/** An HTTPS server that answers with `handler` (or never answers). */
async function fakeWebhook(pki: ThrowawayPki, handler: ((body: Record<string, unknown>) => unknown) | 'hang'): Promise<{ url: string; server: Server }> {
  const server = createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (handler === 'hang') return;
      const out = JSON.stringify(handler(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/validate`, server };
}

describe('AdmissionDispatcher.dispatch', () => {
  let pki: ThrowawayPki;
  let webhook: StartedWebhookServer;
  let dispatcher: AdmissionDispatcher;

  before(async () => {
    pki = await createThrowawayPki();
    const engine = createEngine(state, { imageVerifier: new StaticImageVerifier(['signed:1']) });
    webhook = await new WebhookServer({ engine, cert: pki.certPem, key: pki.keyPem }).start();
    const cfg = await loadWebhookConfiguration(MANIFEST, { caBundlePem: pki.caPem });
    dispatcher = new AdmissionDispatcher(cfg, { namespaces: state.namespaces, serviceUrl: () => webhook.url });
  });
  after(async () => {
    dispatcher.close();
    await webhook.close();
  });

  describe('when the shipped manifest routes a pod to the real webhook', () => {
    it('denies an unsigned pod in kube-system the way kube-apiserver reports it', async () => {
      const r = await dispatcher.dispatch({ object: podWith('nginx:1.17.2'), namespace: 'kube-system' });
      assert.equal(r.allowed, false);
      assert.equal(r.webhookCalled, true);
      assert.equal(r.code, 403);
      assert.match(r.reason ?? '', /^admission webhook "pods\.integrity-lab\.deckhouse\.io" denied the request: \[verify-image-signatures\] Image signature verification failed: nginx:1\.17\.2/);
    });
    it('admits a signed pod', async () => {
      const r = await dispatcher.dispatch({ object: podWith('signed:1'), namespace: 'kube-system' });
      assert.deepEqual([r.allowed, r.webhookCalled], [true, true]);
    });
    it('passes warnings through', async () => {
      const r = await dispatcher.dispatch({ object: podWith('x:1', { securityContext: { privileged: true } }), namespace: 'warn-ns' });
      assert.equal(r.allowed, true);
      assert.match(r.warnings[0] ?? '', /would violate PodSecurity/);
    });
    it('sends ephemeral containers (UPDATE pods/ephemeralcontainers) to the webhook', async () => {
      const object = { ...podWith('signed:1'), spec: { containers: [{ name: 'a', image: 'signed:1' }], ephemeralContainers: [{ name: 'dbg', image: 'debian:12' }] } };
      const r = await dispatcher.dispatch({ object, namespace: 'kube-system', operation: 'UPDATE', subResource: 'ephemeralcontainers' });
      assert.deepEqual([r.allowed, r.webhookCalled], [false, true]);
    });
  });

  describe('when the serving certificate does not name the service', () => {
    it('refuses, as kube-apiserver verifies <service>.<namespace>.svc', async () => {
      const wrongName = await createThrowawayPki({ dnsNames: ['localhost'] });
      const other = await new WebhookServer({ engine: createEngine(state), cert: wrongName.certPem, key: wrongName.keyPem }).start();
      const cfg = await loadWebhookConfiguration(MANIFEST, { caBundlePem: wrongName.caPem });
      const d = new AdmissionDispatcher(cfg, { namespaces: state.namespaces, serviceUrl: () => other.url });
      try {
        const r = await d.dispatch({ object: podWith('signed:1'), namespace: 'kube-system' });
        assert.equal(r.allowed, false);
        assert.match(r.reason ?? '', /integrity-webhook\.integrity-admission\.svc/);
      } finally {
        d.close();
        await other.close();
      }
    });
  });

  describe('when the request is outside the registration', () => {
    it('skips the webhook namespace (namespaceSelector)', async () => {
      const r = await dispatcher.dispatch({ object: podWith('nginx:1.17.2'), namespace: 'integrity-admission' });
      assert.deepEqual([r.allowed, r.webhookCalled], [true, false]);
      assert.match(r.webhooks[0]?.skipped ?? '', /namespaceSelector/);
    });
    it('skips DELETE and unregistered subresources (rules)', async () => {
      assert.equal((await dispatcher.dispatch({ oldObject: podWith('nginx:1'), namespace: 'kube-system', operation: 'DELETE' })).webhookCalled, false);
      assert.equal((await dispatcher.dispatch({ object: podWith('nginx:1'), namespace: 'kube-system', operation: 'UPDATE', subResource: 'status' })).webhookCalled, false);
    });
  });
});

describe('AdmissionDispatcher failurePolicy', () => {
  let pki: ThrowawayPki;
  const servers: Server[] = [];
  before(async () => {
    pki = await createThrowawayPki();
  });
  after(() => {
    for (const s of servers) s.close();
  });

  const dispatch = async (url: string, extra: string, caPem = pki.caPem) => {
    const d = new AdmissionDispatcher(config(url, extra, caPem), { namespaces: state.namespaces });
    try {
      return await d.dispatch({ object: podWith('x:1'), namespace: 'apps' });
    } finally {
      d.close();
    }
  };

  describe('when an exchange listener is set', () => {
    it('sees the AdmissionReview sent and the answer, or the failure', async () => {
      const echo = await fakeWebhook(pki, (body) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (body['request'] as { uid: string }).uid, allowed: false, status: { code: 403, message: 'no' } } }));
      servers.push(echo.server);
      for (const [url, expectAnswer] of [[echo.url, true], ['https://127.0.0.1:1/validate', false]] as const) {
        const seen: import('./dispatcher.ts').WebhookExchange[] = [];
        const d = new AdmissionDispatcher(config(url, RULES, pki.caPem), { namespaces: state.namespaces, uid: () => 'uid-1', onExchange: (e) => seen.push(e) });
        try {
          await d.dispatch({ object: podWith('x:1'), namespace: 'apps' });
        } finally {
          d.close();
        }
        assert.equal(seen.length, 1);
        assert.deepEqual((seen[0]?.request as { request: { uid: string; namespace: string } }).request.uid, 'uid-1');
        if (expectAnswer) {
          assert.equal(seen[0]?.status, 200);
          assert.deepEqual((seen[0]?.response as { response: { allowed: boolean } }).response.allowed, false);
        } else {
          assert.match(seen[0]?.error ?? '', /ECONNREFUSED/);
          assert.equal(seen[0]?.response, undefined);
        }
      }
    });
  });

  describe('when the webhook is unreachable', () => {
    it('denies with Fail and admits with Ignore', async () => {
      const closed = 'https://127.0.0.1:1/validate';
      const fail = await dispatch(closed, `    failurePolicy: Fail\n${RULES}`);
      assert.deepEqual([fail.allowed, fail.code, fail.webhookCalled], [false, 500, true]);
      assert.match(fail.reason ?? '', /^Internal error occurred: failed calling webhook "t.lab": .*ECONNREFUSED/);
      const ignore = await dispatch(closed, `    failurePolicy: Ignore\n${RULES}`);
      assert.equal(ignore.allowed, true);
      assert.match(ignore.webhooks[0]?.error ?? '', /ECONNREFUSED/);
    });
  });

  describe('when the webhook does not answer within timeoutSeconds', () => {
    it('denies with Fail', async () => {
      const hang = await fakeWebhook(pki, 'hang');
      servers.push(hang.server);
      const r = await dispatch(hang.url, `    timeoutSeconds: 1\n${RULES}`);
      assert.equal(r.allowed, false);
      assert.match(r.reason ?? '', /no answer within 1000 ms/);
      hang.server.closeAllConnections();
    });
  });

  describe('when the server certificate is not signed by caBundle', () => {
    it('denies with Fail', async () => {
      const ok = await fakeWebhook(pki, (b) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (b['request'] as { uid: string }).uid, allowed: true } }));
      servers.push(ok.server);
      const other = await createThrowawayPki();
      const r = await dispatch(ok.url, RULES, other.caPem);
      assert.equal(r.allowed, false);
      assert.match(r.reason ?? '', /certificate|self.signed|unable to verify/i);
      // Same server, right CA: admitted. The failure above was the CA, nothing else.
      assert.equal((await dispatch(ok.url, RULES)).allowed, true);
    });
  });

  describe('when the webhook answers with a wrong uid or garbage', () => {
    it('treats it as a failed call', async () => {
      const wrongUid = await fakeWebhook(pki, () => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'other', allowed: true } }));
      const garbage = await fakeWebhook(pki, () => ({ allowed: true }));
      servers.push(wrongUid.server, garbage.server);
      assert.match((await dispatch(wrongUid.url, RULES)).reason ?? '', /does not match request uid/);
      assert.match((await dispatch(garbage.url, RULES)).reason ?? '', /expected an AdmissionReview/);
    });
  });

  describe('when selectors and matchPolicy decide', () => {
    it('calls only objects matched by objectSelector', async () => {
      let calls = 0;
      const ok = await fakeWebhook(pki, (b) => { calls++; return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (b['request'] as { uid: string }).uid, allowed: false, status: { code: 403, message: 'no' } } }; });
      servers.push(ok.server);
      const extra = `${RULES}    objectSelector: { matchLabels: { check: "yes" } }\n`;
      const d = new AdmissionDispatcher(config(ok.url, extra, pki.caPem), { namespaces: state.namespaces });
      assert.equal((await d.dispatch({ object: podWith('x:1'), namespace: 'apps' })).allowed, true);
      assert.equal((await d.dispatch({ object: podWith('x:1', {}, { check: 'yes' }), namespace: 'apps' })).reason, 'admission webhook "t.lab" denied the request: no');
      d.close();
      assert.equal(calls, 1);
    });
    it('with Exact, skips a rule for another version; with Equivalent, calls it', async () => {
      const ok = await fakeWebhook(pki, (b) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: (b['request'] as { uid: string }).uid, allowed: true } }));
      servers.push(ok.server);
      const rules = `    rules:\n      - { apiGroups: [""], apiVersions: [v1beta1], operations: ["*"], resources: ["pods"] }\n`;
      assert.equal((await dispatch(ok.url, `    matchPolicy: Exact\n${rules}`)).webhookCalled, false);
      assert.equal((await dispatch(ok.url, `    matchPolicy: Equivalent\n${rules}`)).webhookCalled, true);
    });
  });
});

describe('ruleMatches', () => {
  const attr = { group: '', version: 'v1', resource: 'pods', subResource: 'ephemeralcontainers', operation: 'UPDATE' as const, namespaced: true };
  const rule = (resources: string[], scope?: '*' | 'Cluster' | 'Namespaced') => ({ operations: ['*'], apiGroups: [''], apiVersions: ['v1'], resources, ...(scope === undefined ? {} : { scope }) });
  describe('when resources use wildcards', () => {
    it('follows kube-apiserver: * excludes subresources, */* and pods/* include them', () => {
      assert.equal(ruleMatches(rule(['*']), attr), false);
      assert.equal(ruleMatches(rule(['*/*']), attr), true);
      assert.equal(ruleMatches(rule(['pods/*']), attr), true);
      assert.equal(ruleMatches(rule(['pods']), attr), false);
    });
  });
  describe('when scope is Cluster', () => {
    it('does not match namespaced pods', () => assert.equal(ruleMatches(rule(['*/*'], 'Cluster'), attr), false));
  });
});

describe('exemptedProtectedNamespaces', () => {
  let ca = '';
  before(async () => {
    ca = (await createThrowawayPki()).caPem;
  });
  const manifest = (values: string[]) => `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: w }
webhooks:
  - name: pods.example.io
    admissionReviewVersions: ["v1"]
    sideEffects: None
    clientConfig: { url: "https://127.0.0.1:1/validate" }
    rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] }]
    namespaceSelector:
      matchExpressions: [{ key: kubernetes.io/metadata.name, operator: NotIn, values: ${JSON.stringify(values)} }]
`;
  describe('when the selector exempts a namespace the protected pattern covers', () => {
    it('names it, known to the lab or not', () => {
      const config = parseWebhookConfiguration(manifest(['d8-admission-policy-engine', 'tools']), 'w.yaml', { caBundlePem: ca });
      assert.deepEqual(exemptedProtectedNamespaces(config, ['d8-*', 'kube-system'], []), ['d8-admission-policy-engine']);
    });
  });
  describe('when it exempts only unprotected namespaces', () => {
    it('finds none, for the shipped manifest too', async () => {
      assert.deepEqual(exemptedProtectedNamespaces(parseWebhookConfiguration(manifest(['tools']), 'w.yaml', { caBundlePem: ca }), ['d8-*', 'kube-system'], state.namespaces.values()), []);
      const shipped = await loadWebhookConfiguration(MANIFEST, { caBundlePem: ca });
      assert.deepEqual(exemptedProtectedNamespaces(shipped, ['d8-*', 'kube-system'], state.namespaces.values()), []);
    });
  });
});
