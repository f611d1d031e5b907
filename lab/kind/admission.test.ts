import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { isLabError } from '../errors.ts';
import { renderWebhookManifest } from '../admission/component.ts';
import { CA_BUNDLE_PLACEHOLDER } from '../admission/dispatcher.ts';
import { classifyProbeAnswer, decisionFor, registerAdmissionWebhook, renderRegistration, WebhookRegistrationError, WEBHOOK_PORT_NAME, type RegistrationInput, type WebhookNode } from './admission.ts';
import type { DecisionRecord } from '../admission/types.ts';

const MANIFEST_FILE = join(import.meta.dirname, '../admission/manifests/validating-webhook.yaml');
const SHIPPED = await readFile(MANIFEST_FILE, 'utf8');
const CA = '-----BEGIN CERTIFICATE-----\nMIIBlabCA\n-----END CERTIFICATE-----\n';
const OTHER_CA = '-----BEGIN CERTIFICATE-----\nMIIBother\n-----END CERTIFICATE-----\n';

function input(over: Partial<RegistrationInput> = {}): RegistrationInput {
  return { manifest: renderWebhookManifest(SHIPPED, CA), manifestFile: MANIFEST_FILE, address: '172.18.0.2', port: 8443, ...over };
}

describe('renderRegistration', () => {
  describe('when given the shipped manifest rendered with the lab CA', () => {
    const objects = renderRegistration(input());

    it('makes the namespace and a selector-less Service the manifest names, port 443 to the webhook port', () => {
      assert.deepEqual(objects.namespaces.map((n) => n.metadata?.name), ['integrity-admission']);
      assert.equal(objects.services.length, 1);
      const svc = objects.services[0]!;
      assert.equal(svc.metadata?.name, 'integrity-webhook');
      assert.equal(svc.metadata?.namespace, 'integrity-admission');
      assert.equal(svc.spec?.selector, undefined, 'a selector would let the endpoints controller overwrite the lab\'s EndpointSlice');
      assert.deepEqual(svc.spec?.ports, [{ name: WEBHOOK_PORT_NAME, port: 443, targetPort: 8443, protocol: 'TCP' }]);
    });

    it('points an EndpointSlice for that Service at the node address and webhook port, with the same port name', () => {
      const slice = objects.endpointSlices[0]!;
      assert.equal(slice.metadata?.namespace, 'integrity-admission');
      assert.equal(slice.metadata?.labels?.['kubernetes.io/service-name'], 'integrity-webhook');
      assert.equal(slice.addressType, 'IPv4');
      assert.deepEqual(slice.endpoints, [{ addresses: ['172.18.0.2'], conditions: { ready: true } }]);
      // The apiserver pairs Service and slice ports by name (k8s.io/apiserver pkg/util/proxy ResolveEndpoint).
      assert.deepEqual(slice.ports, [{ name: objects.services[0]!.spec!.ports![0]!.name, port: 8443, protocol: 'TCP' }]);
    });

    it('keeps failurePolicy, namespaceSelector, timeoutSeconds, rules and the service reference as shipped', () => {
      const w = objects.webhookConfiguration.webhooks![0]!;
      assert.equal(objects.webhookConfiguration.metadata?.name, 'integrity-lab-admission');
      assert.equal(w.failurePolicy, 'Fail');
      assert.equal(w.timeoutSeconds, 10);
      assert.deepEqual(w.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['integrity-admission'] }] });
      assert.deepEqual(w.clientConfig.service, { namespace: 'integrity-admission', name: 'integrity-webhook', path: '/validate', port: 443 });
      assert.deepEqual(w.rules?.[0]?.resources, ['pods', 'pods/ephemeralcontainers']);
    });

    it('carries caBundle as the base64 of the lab CA PEM', () => {
      const caBundle = objects.webhookConfiguration.webhooks![0]!.clientConfig.caBundle!;
      assert.equal(Buffer.from(caBundle, 'base64').toString('utf8'), CA);
    });
  });

  describe('when another CA is given', () => {
    it('replaces the manifest\'s caBundle with it', () => {
      const w = renderRegistration(input({ caPem: OTHER_CA })).webhookConfiguration.webhooks![0]!;
      assert.equal(Buffer.from(w.clientConfig.caBundle!, 'base64').toString('utf8'), OTHER_CA);
    });
  });

  describe('when another Service name is given (the TLS-name fault)', () => {
    it('registers Service, EndpointSlice and clientConfig under that name, nothing under the shipped one', () => {
      const objects = renderRegistration(input({ serviceName: 'integrity-webhook-elsewhere' }));
      assert.deepEqual(objects.services.map((s) => s.metadata?.name), ['integrity-webhook-elsewhere']);
      assert.equal(objects.endpointSlices[0]!.metadata?.labels?.['kubernetes.io/service-name'], 'integrity-webhook-elsewhere');
      assert.equal(objects.webhookConfiguration.webhooks![0]!.clientConfig.service?.name, 'integrity-webhook-elsewhere');
    });
  });

  describe('when the node address is IPv6', () => {
    it('makes an IPv6 slice', () => {
      assert.equal(renderRegistration(input({ address: 'fc00:f853:ccd:e793::2' })).endpointSlices[0]!.addressType, 'IPv6');
    });
  });

  describe('when the input is unusable', () => {
    const cases: [string, Partial<RegistrationInput>, RegExp, string][] = [
      ['the address is a host name', { address: 'il-x-control-plane' }, /webhook address should be an IP address .*got "il-x-control-plane"/, 'KIND_WEBHOOK_CONFIG_INVALID'],
      ['the port is out of range', { port: 70000 }, /webhook port should be an integer in 1\.\.65535, got 70000/, 'KIND_WEBHOOK_CONFIG_INVALID'],
      ['caPem is not PEM', { caPem: 'not a certificate' }, /caPem should contain at least one PEM certificate/, 'KIND_WEBHOOK_CONFIG_INVALID'],
      ['the caBundle is still the placeholder and no CA is given', { manifest: SHIPPED }, /caBundle: is the placeholder/, 'ADMISSION_WEBHOOK_CONFIG_INVALID'],
      [
        'the webhook names a url instead of a service',
        { manifest: renderWebhookManifest(SHIPPED, CA).replace(/ {6}service:\n(?: {8}.*\n)+/, '      url: https://10.0.0.1:8443/validate\n') },
        /webhooks\[0\]\.clientConfig: the kind substrate registers the webhook behind a Service; a url webhook \(https:\/\/10\.0\.0\.1:8443\/validate\) is not supported/,
        'KIND_WEBHOOK_CONFIG_INVALID',
      ],
    ];
    for (const [when, over, message, code] of cases) {
      it(`refuses when ${when}, naming what and where`, () => {
        assert.throws(() => renderRegistration(input(over)), (err: unknown) => isLabError(err, code) && message.test(err.message));
      });
    }
    it('the placeholder fixture really is the placeholder', () => assert.ok(SHIPPED.includes(CA_BUNDLE_PLACEHOLDER)));
  });
});

describe('classifyProbeAnswer', () => {
  // Messages as kube-apiserver v1.36.3 said them on the lab's kind clusters.
  const cases: [string, string | undefined, ReturnType<typeof classifyProbeAnswer>][] = [
    ['the pod was admitted', undefined, { answered: true }],
    ['the webhook denied', 'admission webhook "pods.integrity-lab.deckhouse.io" denied the request: [verify-image-signatures] Image signature verification failed: x', { answered: true }],
    [
      'the webhook process is down',
      'Internal error occurred: failed calling webhook "pods.integrity-lab.deckhouse.io": failed to call webhook: Post "https://integrity-webhook.integrity-admission.svc:443/validate?timeout=10s": dial tcp 172.18.0.2:8443: connect: connection refused',
      { answered: false, stuck: 'webhook' },
    ],
    [
      'the CA does not verify',
      'Internal error occurred: failed calling webhook "pods.integrity-lab.deckhouse.io": failed to call webhook: Post "https://integrity-webhook.integrity-admission.svc:443/validate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority',
      { answered: false, stuck: 'tls' },
    ],
    [
      'the Service is missing',
      'Internal error occurred: failed calling webhook "nosvc.integrity-lab.deckhouse.io": failed to call webhook: Post "https://nosuch.integrity-admission.svc:443/validate?timeout=10s": service "nosuch" not found',
      { answered: false, stuck: 'service' },
    ],
    [
      'the Service has no ready endpoint',
      'Internal error occurred: failed calling webhook "nosvc.integrity-lab.deckhouse.io": failed to call webhook: Post "https://nosuch.integrity-admission.svc:443/validate?timeout=10s": no endpoints available for service "nosuch"',
      { answered: false, stuck: 'endpoints' },
    ],
    ['something else', 'etcdserver: request timed out', { answered: false, stuck: 'unknown' }],
  ];
  for (const [when, message, expected] of cases) {
    describe(`when ${when}`, () => {
      it(`says ${JSON.stringify(expected)}`, () => assert.deepEqual(classifyProbeAnswer(message), expected));
    });
  }
});

describe('decisionFor', () => {
  const record = (name: string, outcome: DecisionRecord['outcome'], time: string): DecisionRecord => ({
    time, uid: time, operation: 'CREATE', namespace: 'kube-system', kind: 'Pod', name, images: [], policy: 'none', action: outcome === 'denied' ? 'deny' : 'allow', outcome, violations: [],
  });
  describe('when the log has several decisions for the pod', () => {
    it('returns the latest one for that namespace and name only', () => {
      const records = [record('a', 'admitted', '1'), record('b', 'denied', '2'), record('a', 'denied', '3'), record('c', 'admitted', '4')];
      assert.equal(decisionFor(records, 'kube-system', 'a')?.time, '3');
      assert.equal(decisionFor(records, 'apps', 'a'), undefined);
    });
  });
});

/**
 * A stand-in for kube-apiserver's HTTP API, just enough for the registration:
 * discovery, server-side apply, the node, the dry-run probe (answered from a
 * script), and reading the Service and EndpointSlices back.
 */
async function fakeApiServer(probeAnswers: (string | undefined)[]) {
  const applied: { path: string; contentType: string; fieldManager: string | null; force: string | null; body: Record<string, unknown> }[] = [];
  const probes: string[] = [];
  const resources: Record<string, { name: string; kind: string; namespaced: boolean }[]> = {
    '/api/v1': [{ name: 'namespaces', kind: 'Namespace', namespaced: false }, { name: 'services', kind: 'Service', namespaced: true }],
    '/apis/discovery.k8s.io/v1': [{ name: 'endpointslices', kind: 'EndpointSlice', namespaced: true }],
    '/apis/admissionregistration.k8s.io/v1': [{ name: 'validatingwebhookconfigurations', kind: 'ValidatingWebhookConfiguration', namespaced: false }],
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const send = (code: number, body: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const found = resources[url.pathname];
      if (req.method === 'GET' && found) return send(200, { kind: 'APIResourceList', groupVersion: url.pathname.replace(/^\/apis?\//, ''), resources: found.map((r) => ({ ...r, singularName: '', verbs: [] })) });
      if (req.method === 'PATCH') {
        const body = parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        applied.push({ path: url.pathname, contentType: req.headers['content-type'] ?? '', fieldManager: url.searchParams.get('fieldManager'), force: url.searchParams.get('force'), body });
        return send(200, body);
      }
      if (req.method === 'GET' && url.pathname === '/api/v1/nodes/il-x-control-plane') {
        return send(200, { kind: 'Node', metadata: { name: 'il-x-control-plane' }, status: { addresses: [{ type: 'InternalIP', address: '172.18.0.7' }, { type: 'Hostname', address: 'il-x-control-plane' }] } });
      }
      if (req.method === 'POST' && url.pathname === '/api/v1/namespaces/kube-system/pods') {
        probes.push(url.searchParams.get('dryRun') ?? '');
        const answer = probeAnswers.length > 1 ? probeAnswers.shift() : probeAnswers[0];
        if (answer === undefined) return send(201, JSON.parse(Buffer.concat(chunks).toString('utf8')));
        return send(answer.includes('denied the request') ? 403 : 500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: answer, code: answer.includes('denied the request') ? 403 : 500 });
      }
      const applyOf = (kind: string) => applied.filter((a) => a.body['kind'] === kind).map((a) => a.body);
      if (req.method === 'GET' && url.pathname === '/api/v1/namespaces/integrity-admission/services/integrity-webhook') return send(200, applyOf('Service')[0]);
      if (req.method === 'GET' && url.pathname === '/apis/discovery.k8s.io/v1/namespaces/integrity-admission/endpointslices') {
        return send(200, { kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: {}, items: applyOf('EndpointSlice') });
      }
      send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `${req.method} ${url.pathname} not served by the fake`, code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), 'kind-admission-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
    // client-node refuses plain HTTP unless TLS verification is off.
    clusters: [{ name: 'fake', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'fake', user: {} }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
  }));
  const node: WebhookNode = {
    name: 'il-x-control-plane',
    exec: { run: async (argv) => ({ exitCode: 0, stdout: Buffer.from(argv[0] === 'tail' ? 'admission serve: listening on https://0.0.0.0:8443/validate\n' : ''), stderr: '' }) },
  };
  return {
    cluster: { kubeconfigPath, controlPlane: node },
    applied,
    probes,
    close: async () => {
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const DENIED = 'admission webhook "pods.integrity-lab.deckhouse.io" denied the request: [verify-image-signatures] Image signature verification failed: 127.0.0.1:5000/integrity-lab/admission-probe:none: manifest not found';
const REFUSED = 'Internal error occurred: failed calling webhook "pods.integrity-lab.deckhouse.io": failed to call webhook: Post "https://integrity-webhook.integrity-admission.svc:443/validate?timeout=10s": dial tcp 172.18.0.7:8443: connect: connection refused';
const UNKNOWN_CA = 'Internal error occurred: failed calling webhook "pods.integrity-lab.deckhouse.io": failed to call webhook: Post "https://integrity-webhook.integrity-admission.svc:443/validate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority';

describe('registerAdmissionWebhook', () => {
  describe('when the apiserver gets the webhook\'s answer after a refused connection', () => {
    it('applies namespace, Service, EndpointSlice, then the configuration (server-side, forced), and returns once the probe is answered', async () => {
      const api = await fakeApiServer([REFUSED, DENIED]);
      try {
        const r = await registerAdmissionWebhook(api.cluster, { manifest: renderWebhookManifest(SHIPPED, CA), manifestFile: MANIFEST_FILE, timeoutMs: 5_000 });
        assert.deepEqual(api.applied.map((a) => a.path), [
          '/api/v1/namespaces/integrity-admission',
          '/api/v1/namespaces/integrity-admission/services/integrity-webhook',
          '/apis/discovery.k8s.io/v1/namespaces/integrity-admission/endpointslices/integrity-webhook-lab',
          '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/integrity-lab-admission',
        ]);
        assert.ok(api.applied.every((a) => a.contentType.startsWith('application/apply-patch+yaml') && a.fieldManager === 'integrity-lab' && a.force === 'true'));
        assert.deepEqual((api.applied[2]!.body as { endpoints: unknown }).endpoints, [{ addresses: ['172.18.0.7'], conditions: { ready: true } }], 'the slice points at the node\'s InternalIP');
        assert.deepEqual(api.probes, ['All', 'All'], 'the probe is a dry run, twice');
        assert.equal(r.probeAnswer, DENIED);
      } finally {
        await api.close();
      }
    });
  });

  describe('when TLS never verifies', () => {
    it('fails with KIND_WEBHOOK_NOT_EFFECTIVE, stuck on tls, with the apiserver\'s words, the objects as it holds them and the webhook log', async () => {
      const api = await fakeApiServer([UNKNOWN_CA]);
      try {
        await assert.rejects(
          registerAdmissionWebhook(api.cluster, { manifest: renderWebhookManifest(SHIPPED, CA), manifestFile: MANIFEST_FILE, timeoutMs: 1_200 }),
          (err: unknown) => {
            assert.ok(err instanceof WebhookRegistrationError && isLabError(err, 'KIND_WEBHOOK_NOT_EFFECTIVE'));
            assert.equal(err.stuck, 'tls');
            assert.equal(err.apiMessage, UNKNOWN_CA);
            assert.match(err.message, /^webhook "integrity-lab-admission" not effective after 1200 ms: TLS: /);
            assert.match(err.message, /x509: certificate signed by unknown authority/);
            assert.match(err.message, /Service integrity-admission\/integrity-webhook: ports \[\{"name":"https","port":443,"protocol":"TCP","targetPort":8443\}\]/);
            assert.match(err.message, /EndpointSlice integrity-admission\/integrity-webhook-lab: 172\.18\.0\.7 \(ready true\)/);
            assert.match(err.message, /TLS name the apiserver verifies: integrity-webhook\.integrity-admission\.svc/);
            assert.match(err.message, /webhook log on il-x-control-plane \(last 20 lines\):\nadmission serve: listening/);
            return true;
          },
        );
      } finally {
        await api.close();
      }
    });
  });
});
