import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isLabError } from '../errors.ts';
import { renderWebhookManifest } from '../admission/component.ts';
import { CA_BUNDLE_PLACEHOLDER } from '../admission/dispatcher.ts';
import { classifyProbeAnswer, decisionFor, renderRegistration, WEBHOOK_PORT_NAME, type RegistrationInput } from './admission.ts';
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
