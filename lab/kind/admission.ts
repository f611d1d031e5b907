/**
 * The lab's admission webhook registered with a real kube-apiserver (kind
 * substrate).
 *
 * The webhook process runs on the control-plane node (the admission
 * component's afterStart, lab/admission/component.ts, listening on
 * 0.0.0.0:8443 with a serving certificate for `<service>.<namespace>.svc`).
 * kube-apiserver reaches it the way it reaches any in-cluster webhook: the
 * shipped ValidatingWebhookConfiguration names a Service; the cluster has no
 * kube-proxy, and the apiserver runs with --enable-aggregator-routing, so it
 * resolves the Service to an EndpointSlice address itself
 * (k8s.io/apiserver pkg/util/proxy ResolveEndpoint: the Service port is found
 * by number, then a slice labelled kubernetes.io/service-name with a port of
 * the same name, and its first ready address). The Service here is
 * selector-less, and the lab writes that EndpointSlice: the control-plane
 * node's InternalIP and the webhook's port.
 *
 * The apiserver verifies the webhook's certificate against caBundle for the
 * name `<service>.<namespace>.svc`, so a wrong CA or a certificate for
 * another name fails the TLS handshake, and with failurePolicy Fail every
 * pod the configuration matches is refused.
 */
import { isIP } from 'node:net';
import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Namespace,
  type V1Pod,
  type V1Service,
  type V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { LabError } from '../errors.ts';
import type { Exec } from '../exec.ts';
import { admissionOf, NODE_PATHS, parseDecisionLog } from '../admission/component.ts';
import { parseWebhookConfiguration } from '../admission/dispatcher.ts';
import { parseYamlDocuments } from '../admission/yaml-docs.ts';
import type { DecisionRecord } from '../admission/types.ts';
import type { LabNodeHandle } from '../node/handle.ts';
import { type ProgressListener, silent, step } from '../progress.ts';
import { poll } from '../wait.ts';
import type { KindErrorCode } from './errors.ts';

/** The Service port name the EndpointSlice repeats: the apiserver pairs them by name. */
export const WEBHOOK_PORT_NAME = 'https';
/** Field manager of the lab's server-side applies. */
const FIELD_MANAGER = 'integrity-lab';
/** Pod name of the dry-run probe that tells whether the registration is effective. */
export const PROBE_POD = 'integrity-lab-admission-probe';

/** Which part of the path apiserver → webhook is stuck. */
export type RegistrationStuckPart = 'service' | 'endpoints' | 'tls' | 'webhook' | 'unknown';

/** The registration never became effective: `stuck` names the part, the message says what the apiserver said. */
export class WebhookRegistrationError extends LabError<KindErrorCode> {
  readonly stuck: RegistrationStuckPart;
  /** The apiserver's last answer to the probe. */
  readonly apiMessage: string;
  constructor(stuck: RegistrationStuckPart, message: string, apiMessage: string) {
    super('KIND_WEBHOOK_NOT_EFFECTIVE', message);
    this.stuck = stuck;
    this.apiMessage = apiMessage;
  }
}

export interface RegistrationInput {
  /** The ValidatingWebhookConfiguration text (shipped or rendered; its caBundle is replaced). */
  manifest: string;
  /** Where the text came from, for error messages. */
  manifestFile: string;
  /** PEM the apiserver trusts for the webhook's serving certificate (becomes caBundle, base64). Default: the manifest's own caBundle. */
  caPem?: string;
  /** The address the webhook listens on: the control-plane node's InternalIP. */
  address: string;
  /** The port the webhook process listens on in the node. */
  port: number;
  /**
   * Registers every webhook under this Service name instead of the shipped
   * one. A fault to inject: the serving certificate carries the shipped
   * name only, so the apiserver's TLS name check fails.
   */
  serviceName?: string;
}

/** The objects the registration applies, in order. */
export interface RegistrationObjects {
  namespaces: V1Namespace[];
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  webhookConfiguration: V1ValidatingWebhookConfiguration;
}

function invalid(message: string): LabError<KindErrorCode> {
  return new LabError<KindErrorCode>('KIND_WEBHOOK_CONFIG_INVALID', message);
}

/**
 * The Namespace, selector-less Service and EndpointSlice of every service the
 * manifest names, and the manifest itself with caBundle = base64 of `caPem`
 * (pure). Everything else of the configuration (rules, failurePolicy,
 * namespaceSelector, timeoutSeconds) is kept as shipped.
 */
export function renderRegistration(input: RegistrationInput): RegistrationObjects {
  const family = isIP(input.address);
  if (family === 0) throw invalid(`webhook address should be an IP address (the control-plane node's InternalIP), got ${JSON.stringify(input.address)}`);
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535) throw invalid(`webhook port should be an integer in 1..65535, got ${input.port}`);
  if (input.caPem !== undefined && !input.caPem.includes('-----BEGIN CERTIFICATE-----')) throw invalid('caPem should contain at least one PEM certificate');
  // Checks the manifest as the node substrate's dispatcher does (schema,
  // sideEffects, one of url/service, a PEM certificate in caBundle).
  const loaded = parseWebhookConfiguration(input.manifest, input.manifestFile, input.caPem === undefined ? {} : { caBundlePem: input.caPem });
  const doc = parseYamlDocuments(input.manifest, input.manifestFile)[0]!.value as V1ValidatingWebhookConfiguration;
  const namespaces = new Map<string, V1Namespace>();
  const services = new Map<string, V1Service>();
  const slices = new Map<string, V1EndpointSlice>();
  const caBundles: string[] = [];
  for (const [i, w] of loaded.webhooks.entries()) {
    caBundles.push(Buffer.from(w.caPem, 'utf8').toString('base64'));
    const shipped = w.spec.clientConfig.service;
    const service = shipped && input.serviceName !== undefined ? { ...shipped, name: input.serviceName } : shipped;
    if (service === undefined) {
      throw invalid(`${input.manifestFile}: webhooks[${i}].clientConfig: the kind substrate registers the webhook behind a Service; a url webhook (${w.spec.clientConfig.url ?? ''}) is not supported`);
    }
    const port = service.port ?? 443;
    const key = `${service.namespace}/${service.name}`;
    const existing = services.get(key);
    if (existing !== undefined && existing.spec!.ports![0]!.port !== port) {
      throw invalid(`${input.manifestFile}: webhooks[${i}].clientConfig.service.port: ${key} is named with port ${existing.spec!.ports![0]!.port} and ${port}; one Service port is registered`);
    }
    namespaces.set(service.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: service.namespace } });
    services.set(key, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service.name, namespace: service.namespace, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
      // No selector: the endpoint is the node process, written below.
      spec: { type: 'ClusterIP', ports: [{ name: WEBHOOK_PORT_NAME, port, targetPort: input.port, protocol: 'TCP' }] },
    });
    slices.set(key, {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${service.name}-lab`,
        namespace: service.namespace,
        labels: { 'kubernetes.io/service-name': service.name, 'endpointslice.kubernetes.io/managed-by': FIELD_MANAGER },
      },
      addressType: family === 6 ? 'IPv6' : 'IPv4',
      endpoints: [{ addresses: [input.address], conditions: { ready: true } }],
      ports: [{ name: WEBHOOK_PORT_NAME, port: input.port, protocol: 'TCP' }],
    });
  }
  const webhookConfiguration: V1ValidatingWebhookConfiguration = {
    ...doc,
    webhooks: (doc.webhooks ?? []).map((w, i) => {
      const service = w.clientConfig.service && input.serviceName !== undefined ? { ...w.clientConfig.service, name: input.serviceName } : w.clientConfig.service;
      return { ...w, clientConfig: { ...w.clientConfig, ...(service ? { service } : {}), caBundle: caBundles[i]! } };
    }),
  };
  return { namespaces: [...namespaces.values()], services: [...services.values()], endpointSlices: [...slices.values()], webhookConfiguration };
}

/**
 * What the apiserver's answer to the probe means (pure). `answered` when the
 * webhook decided (allowed, or "denied the request"); otherwise the part of
 * the path that failed, read from the apiserver's "failed calling webhook"
 * message (k8s.io/apiserver pkg/admission/plugin/webhook/errors and
 * pkg/util/proxy).
 */
export function classifyProbeAnswer(message: string | undefined): { answered: true } | { answered: false; stuck: RegistrationStuckPart } {
  if (message === undefined || /admission webhook "[^"]*" denied the request/.test(message)) return { answered: true };
  if (/services? "[^"]*" not found|unsupported service type/.test(message)) return { answered: false, stuck: 'service' };
  if (/no endpoints available|endpointslice/i.test(message)) return { answered: false, stuck: 'endpoints' };
  if (/x509|tls:|certificate/i.test(message)) return { answered: false, stuck: 'tls' };
  if (/connection refused|connect:|i\/o timeout|context deadline exceeded|EOF|no route to host/i.test(message)) return { answered: false, stuck: 'webhook' };
  return { answered: false, stuck: 'unknown' };
}

const STUCK_TEXT: Record<RegistrationStuckPart, string> = {
  service: 'the Service is missing or unusable',
  endpoints: 'the Service has no ready EndpointSlice address with a matching port name',
  tls: 'TLS: the serving certificate does not verify against caBundle for the service DNS name',
  webhook: 'the webhook process does not answer at its endpoint',
  unknown: 'the apiserver could not call the webhook',
};

export interface RegisterOptions {
  /** The configuration to register (text) and where it came from. */
  manifest: string;
  manifestFile: string;
  /** Default: the manifest's own caBundle. */
  caPem?: string;
  /** The webhook's port in the node. Default 8443. */
  port?: number;
  /** A fault to inject: see RegistrationInput.serviceName. */
  serviceName?: string;
  /** The node the webhook runs on (its InternalIP is the endpoint; its log is read on failure). Default: the control plane. */
  node?: WebhookNode;
  /** A namespace the configuration's namespaceSelector matches, for the probe. Default kube-system. */
  probeNamespace?: string;
  /** How long to wait until the apiserver gets the webhook's answer. Default 30000 ms. */
  timeoutMs?: number;
}

/** What the registration needs of a cluster: its kubeconfig and control-plane node. */
export interface AdmissionCluster {
  kubeconfigPath: string;
  controlPlane: WebhookNode;
}

/** A node the webhook runs on: its name (the Kubernetes node name) and a shell. */
export interface WebhookNode {
  name: string;
  exec: Exec;
}

export interface Registration {
  objects: RegistrationObjects;
  /** From the first apply until the probe got the webhook's answer. */
  effectiveAfterMs: number;
  /** The apiserver's answer to the probe (the webhook's denial, or empty when admitted). */
  probeAnswer: string;
}

/** The node's InternalIP as the apiserver reports it. */
export async function nodeInternalIp(kubeconfigPath: string, nodeName: string): Promise<string> {
  const core = kubeConfig(kubeconfigPath).makeApiClient(CoreV1Api);
  const node = await core.readNode({ name: nodeName });
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (ip === undefined) throw new LabError<KindErrorCode>('KIND_CLUSTER_FAILED', `node ${nodeName} reports no InternalIP: ${JSON.stringify(node.status?.addresses ?? [])}`);
  return ip;
}

/**
 * Registers the webhook running on the control-plane node with the
 * cluster's kube-apiserver (server-side apply of the namespace, Service,
 * EndpointSlice and ValidatingWebhookConfiguration), then waits until a
 * dry-run pod in a protected namespace gets the webhook's own answer.
 * Throws WebhookRegistrationError naming the stuck part when it never does.
 */
export async function registerAdmissionWebhook(cluster: AdmissionCluster, options: RegisterOptions): Promise<Registration> {
  const node = options.node ?? cluster.controlPlane;
  const address = await nodeInternalIp(cluster.kubeconfigPath, node.name);
  const objects = renderRegistration({
    manifest: options.manifest,
    manifestFile: options.manifestFile,
    address,
    port: options.port ?? 8443,
    ...(options.caPem !== undefined ? { caPem: options.caPem } : {}),
    ...(options.serviceName !== undefined ? { serviceName: options.serviceName } : {}),
  });
  const started = Date.now();
  const kc = kubeConfig(cluster.kubeconfigPath);
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of [...objects.namespaces, ...objects.services, ...objects.endpointSlices, objects.webhookConfiguration]) {
    await api.patch(object as KubernetesObject, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  }
  const namespace = options.probeNamespace ?? 'kube-system';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const core = kc.makeApiClient(CoreV1Api);
  const polled = await poll(() => probe(core, namespace), (m) => classifyProbeAnswer(m).answered, { timeoutMs, intervalMs: 500 });
  const last = polled.value;
  if (polled.ok) return { objects, effectiveAfterMs: Date.now() - started, probeAnswer: last ?? '' };
  const verdict = classifyProbeAnswer(last);
  const stuck = verdict.answered ? 'unknown' : verdict.stuck;
  const detail = await describeRegistration(kc, objects, node).catch((err: unknown) => `(could not read the registration back: ${String(err)})`);
  throw new WebhookRegistrationError(
    stuck,
    `webhook "${objects.webhookConfiguration.metadata?.name}" not effective after ${timeoutMs} ms: ${STUCK_TEXT[stuck]}; kube-apiserver said: ${last ?? 'nothing'}\n${detail}`,
    last ?? '',
  );
}

/**
 * Registers the admission component of the cluster's control-plane node, if
 * its profile has one (returns undefined otherwise): the shipped
 * configuration as the component rendered it (caBundle = the lab CA), its
 * port. Call it once the component's afterStart has started the webhook.
 */
export async function registerAdmissionOf(cluster: { kubeconfigPath: string; controlPlane: LabNodeHandle }, progress: ProgressListener = silent): Promise<Registration | undefined> {
  const admission = admissionOf(cluster.controlPlane);
  if (admission === undefined) return undefined;
  const { manifest, manifestFile, port } = admission.registration(cluster.controlPlane);
  return step(progress, 'APPLY', `admission webhook registered with kube-apiserver (Service, EndpointSlice → ${cluster.controlPlane.name}:${port}, ValidatingWebhookConfiguration)`, () =>
    registerAdmissionWebhook({ kubeconfigPath: cluster.kubeconfigPath, controlPlane: cluster.controlPlane }, { manifest, manifestFile, port }),
  );
}

/** The webhook's decision records from its log on the node (evidence), oldest first. */
export async function readWebhookDecisions(node: WebhookNode, since?: Date): Promise<DecisionRecord[]> {
  const r = await node.exec.run(['cat', NODE_PATHS.decisions]);
  const records = parseDecisionLog(r.stdout.toString());
  return since === undefined ? records : records.filter((d) => new Date(d.time) >= since);
}

/** The latest decision record for one pod, if the webhook decided on it. */
export function decisionFor(records: readonly DecisionRecord[], namespace: string, name: string): DecisionRecord | undefined {
  return records.filter((r) => r.namespace === namespace && r.name === name).at(-1);
}

/** The last lines of the webhook's own log on the node. */
export async function webhookLogTail(node: WebhookNode, lines = 20): Promise<string> {
  return (await node.exec.run(['tail', '-n', String(lines), NODE_PATHS.log])).stdout.toString().trim();
}

function kubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The probe: a dry-run pod the configuration matches; returns the apiserver's refusal message, or undefined when admitted. */
async function probe(core: CoreV1Api, namespace: string): Promise<string | undefined> {
  const body: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: PROBE_POD, namespace, labels: { 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
    spec: { containers: [{ name: 'probe', image: '127.0.0.1:5000/integrity-lab/admission-probe:none' }] },
  };
  try {
    await core.createNamespacedPod({ namespace, body, dryRun: 'All' });
    return undefined;
  } catch (err) {
    if (err instanceof ApiException) return apiMessage(err);
    throw err;
  }
}

/** The `message` of a Kubernetes Status in an ApiException's body. */
export function apiMessage(err: ApiException<unknown>): string {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (body as { message?: string } | undefined)?.message ?? String(body);
}

/** The registration as the apiserver holds it, and the webhook's log tail: what an operator would look at. */
async function describeRegistration(kc: KubeConfig, objects: RegistrationObjects, node: WebhookNode): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const parts: string[] = [];
  for (const s of objects.services) {
    const name = s.metadata!.name!;
    const namespace = s.metadata!.namespace!;
    const svc = await core.readNamespacedService({ name, namespace }).then(
      (v) => `Service ${namespace}/${name}: ports ${JSON.stringify(v.spec?.ports ?? [])}`,
      (e: unknown) => `Service ${namespace}/${name}: ${e instanceof ApiException ? `HTTP ${e.code}` : String(e)}`,
    );
    parts.push(svc);
    const slices = await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${name}` });
    if (slices.items.length === 0) parts.push(`EndpointSlice for ${namespace}/${name}: none`);
    for (const e of slices.items) {
      const endpoints = (e.endpoints ?? []).map((p) => `${p.addresses.join(',')} (ready ${String(p.conditions?.ready ?? 'unset')})`).join(' ');
      parts.push(`EndpointSlice ${namespace}/${e.metadata!.name}: ${endpoints || 'no endpoints'} ports ${JSON.stringify(e.ports ?? [])}`);
    }
    parts.push(`TLS name the apiserver verifies: ${name}.${namespace}.svc`);
  }
  parts.push(`webhook log on ${node.name} (last 20 lines):\n${(await webhookLogTail(node)) || '(empty)'}`);
  return parts.join('\n');
}
