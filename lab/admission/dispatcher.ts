/**
 * A kube-apiserver stand-in for validating admission webhooks.
 *
 * The lab's nodes run without an API server, so the harness hands each pod to
 * this dispatcher, which does what kube-apiserver's generic webhook
 * dispatcher does for a `ValidatingWebhookConfiguration`
 * (admissionregistration.k8s.io/v1; k8s.io/apiserver
 * pkg/admission/plugin/webhook/{predicates/rules,validating}):
 *
 * - rules: operations, apiGroups, apiVersions, resources (with `*`, `*\/*`,
 *   `pods/*`, subresources) and scope;
 * - namespaceSelector against the namespace labels (lab state), and
 *   objectSelector against the labels of the object or the old object;
 * - matchPolicy: Exact requires the rule to list the request's version;
 *   Equivalent also accepts a rule for the same group and resource in another
 *   version (the API server would convert the object);
 * - a real HTTPS POST of an AdmissionReview v1 to clientConfig.url or the
 *   service, verifying the server certificate against caBundle, with
 *   timeoutSeconds (default 10, at most 30);
 * - failurePolicy: Fail denies on timeout, connection or TLS error, non-200
 *   answer or a malformed/mismatched response; Ignore admits;
 * - matching webhooks are called in parallel; any denial denies; warnings
 *   are passed through.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import Type, { type Static } from 'typebox';
import { describeError } from '../errors.ts';
import { admissionError } from './errors.ts';
import { anyGlobMatch } from './glob.ts';
import { METADATA_NAME_LABEL } from './loader.ts';
import { ADMISSION_API_VERSION } from './review.ts';
import { type LabelSelector, matchesLabelSelector } from './selector.ts';
import type { NamespaceInfo } from './types.ts';
import { formatPath, validateAgainst } from './validate.ts';
import { parseYamlDocuments } from './yaml-docs.ts';

const Str = Type.String();
const StrList = Type.Array(Str);
const Selector = Type.Object(
  {
    matchLabels: Type.Optional(Type.Record(Type.String(), Type.String())),
    matchExpressions: Type.Optional(
      Type.Array(Type.Object({ key: Str, operator: Type.Enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: Type.Optional(StrList) }, { additionalProperties: false })),
    ),
  },
  { additionalProperties: false },
);

export const ValidatingWebhookSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    admissionReviewVersions: Type.Array(Str, { minItems: 1 }),
    sideEffects: Type.Enum(['None', 'NoneOnDryRun', 'Some', 'Unknown']),
    failurePolicy: Type.Optional(Type.Enum(['Fail', 'Ignore'])),
    matchPolicy: Type.Optional(Type.Enum(['Exact', 'Equivalent'])),
    timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 })),
    clientConfig: Type.Object(
      {
        url: Type.Optional(Str),
        service: Type.Optional(
          Type.Object({ namespace: Str, name: Str, path: Type.Optional(Str), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })) }, { additionalProperties: false }),
        ),
        caBundle: Type.Optional(Str),
      },
      { additionalProperties: false },
    ),
    rules: Type.Array(
      Type.Object(
        {
          operations: StrList,
          apiGroups: StrList,
          apiVersions: StrList,
          resources: StrList,
          scope: Type.Optional(Type.Enum(['*', 'Cluster', 'Namespaced'])),
        },
        { additionalProperties: false },
      ),
    ),
    namespaceSelector: Type.Optional(Selector),
    objectSelector: Type.Optional(Selector),
    matchConditions: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
  },
  { additionalProperties: false },
);

export const ValidatingWebhookConfigurationSchema = Type.Object(
  {
    apiVersion: Type.Literal('admissionregistration.k8s.io/v1'),
    kind: Type.Literal('ValidatingWebhookConfiguration'),
    metadata: Type.Object({ name: Str }, { additionalProperties: true }),
    webhooks: Type.Array(ValidatingWebhookSchema),
  },
  { additionalProperties: false },
);

export type ValidatingWebhook = Static<typeof ValidatingWebhookSchema>;
export type ValidatingWebhookConfiguration = Static<typeof ValidatingWebhookConfigurationSchema>;

export const CA_BUNDLE_PLACEHOLDER = '__CA_BUNDLE__';

export interface LoadWebhookOptions {
  /** PEM CA to use instead of the manifest's caBundle (required when it is the placeholder). */
  caBundlePem?: string;
}

/** A webhook ready to call: selectors, CA and endpoint resolved. */
export interface ResolvedWebhook {
  spec: ValidatingWebhook;
  caPem: string;
}

export interface LoadedWebhookConfiguration {
  name: string;
  webhooks: ResolvedWebhook[];
}

/**
 * The protected namespaces the configuration would exempt from its webhooks
 * (namespaceSelector not matching): the names in the protected patterns'
 * reach that the lab knows (`known`), and every literal name a NotIn/
 * DoesNotExist expression on the name label or a matchLabels entry singles
 * out. A protected namespace must never skip the webhook: the API-server
 * stand-in refuses such a configuration rather than exempt it.
 */
export function exemptedProtectedNamespaces(config: LoadedWebhookConfiguration, protectedPatterns: readonly string[], known: Iterable<{ name: string; labels: Record<string, string> }>): string[] {
  const candidates = new Map<string, Record<string, string>>();
  for (const ns of known) candidates.set(ns.name, ns.labels);
  for (const w of config.webhooks) {
    const selector = w.spec.namespaceSelector as LabelSelector | undefined;
    for (const e of selector?.matchExpressions ?? []) if (e.key === METADATA_NAME_LABEL) for (const v of e.values ?? []) if (!candidates.has(v)) candidates.set(v, {});
  }
  const out = new Set<string>();
  for (const [name, labels] of candidates) {
    if (!anyGlobMatch(protectedPatterns, name)) continue;
    const all = { ...labels, [METADATA_NAME_LABEL]: name };
    for (const w of config.webhooks) {
      if (w.spec.namespaceSelector !== undefined && !matchesLabelSelector(w.spec.namespaceSelector as LabelSelector, all)) out.add(name);
    }
  }
  return [...out].sort();
}

/** Parses and checks a ValidatingWebhookConfiguration manifest (pure). */
export function parseWebhookConfiguration(text: string, file: string, options: LoadWebhookOptions = {}): LoadedWebhookConfiguration {
  const docs = parseYamlDocuments(text, file);
  const doc = docs[0];
  if (docs.length !== 1 || doc === undefined) {
    throw admissionError('ADMISSION_WEBHOOK_CONFIG_INVALID', `${file}: expected exactly one ValidatingWebhookConfiguration document, found ${docs.length}`);
  }
  const issues = validateAgainst(ValidatingWebhookConfigurationSchema, doc.value);
  if (issues.length > 0) {
    throw admissionError(
      'ADMISSION_WEBHOOK_CONFIG_INVALID',
      `${file}: not a usable ValidatingWebhookConfiguration:\n  ${issues.slice(0, 10).map((i) => `${file}:${doc.lineOf(i.path)}: ${formatPath(i.path)}: ${i.message}`).join('\n  ')}`,
    );
  }
  const config = doc.value as ValidatingWebhookConfiguration;
  const bad = (path: (string | number)[], message: string): never => {
    throw admissionError('ADMISSION_WEBHOOK_CONFIG_INVALID', `${file}:${doc.lineOf(path)}: ${formatPath(path)}: ${message}`);
  };
  const names = new Set<string>();
  const webhooks = config.webhooks.map((w, i): ResolvedWebhook => {
    const at = (...rest: (string | number)[]) => ['webhooks', i, ...rest];
    if (names.has(w.name)) bad(at('name'), `webhook name ${JSON.stringify(w.name)} is used twice`);
    names.add(w.name);
    if (!w.admissionReviewVersions.includes('v1')) bad(at('admissionReviewVersions'), `should include "v1" (the only version the lab speaks), got ${JSON.stringify(w.admissionReviewVersions)}`);
    if (w.sideEffects !== 'None' && w.sideEffects !== 'NoneOnDryRun') bad(at('sideEffects'), `should be None or NoneOnDryRun for admissionregistration/v1, got ${JSON.stringify(w.sideEffects)}`);
    const { url, service } = w.clientConfig;
    if ((url === undefined) === (service === undefined)) bad(at('clientConfig'), 'should set exactly one of url and service');
    if (url !== undefined && !url.startsWith('https://')) bad(at('clientConfig', 'url'), `should be an https:// URL, got ${JSON.stringify(url)}`);
    if ((w.matchConditions ?? []).length > 0) bad(at('matchConditions'), 'CEL matchConditions are not supported by the lab dispatcher; remove them');
    let caPem = options.caBundlePem;
    if (caPem === undefined) {
      const bundle = w.clientConfig.caBundle;
      if (bundle === undefined || bundle === CA_BUNDLE_PLACEHOLDER) {
        bad(at('clientConfig', 'caBundle'), `is ${bundle === undefined ? 'missing' : 'the placeholder'}; pass the lab CA as caBundlePem`);
      }
      caPem = Buffer.from(bundle ?? '', 'base64').toString('utf8');
    }
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) bad(at('clientConfig', 'caBundle'), 'should contain at least one PEM certificate');
    return { spec: w, caPem };
  });
  return { name: config.metadata.name, webhooks };
}

export async function loadWebhookConfiguration(file: string, options: LoadWebhookOptions = {}): Promise<LoadedWebhookConfiguration> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw admissionError('ADMISSION_READ_FAILED', `${file}: cannot read the webhook manifest: ${describeError(err)}`, err);
  }
  return parseWebhookConfiguration(text, file, options);
}

/** kube resource coordinates of the kinds the lab dispatches. */
export const RESOURCES: Readonly<Record<string, { group: string; version: string; resource: string }>> = {
  Pod: { group: '', version: 'v1', resource: 'pods' },
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments' },
  ReplicaSet: { group: 'apps', version: 'v1', resource: 'replicasets' },
  StatefulSet: { group: 'apps', version: 'v1', resource: 'statefulsets' },
  DaemonSet: { group: 'apps', version: 'v1', resource: 'daemonsets' },
};

export type DispatchOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface DispatchRequest {
  /** The new object (a Pod or pod workload); for DELETE, pass oldObject. */
  object?: Record<string, unknown>;
  oldObject?: Record<string, unknown>;
  namespace: string;
  operation?: DispatchOperation;
  /** e.g. `ephemeralcontainers`. */
  subResource?: string;
  dryRun?: boolean;
  userInfo?: { username: string; groups?: string[] };
}

export interface WebhookOutcome {
  webhook: string;
  called: boolean;
  /** Why it was not called (no rule matched, selector did not match). */
  skipped?: string;
  allowed?: boolean;
  status?: { code?: number; message?: string };
  warnings: string[];
  /** Call failure (timeout, TLS, HTTP status, bad response) before failurePolicy is applied. */
  error?: string;
  failurePolicy: 'Fail' | 'Ignore';
  durationMs: number;
}

export interface DispatchResult {
  allowed: boolean;
  /** kube-apiserver's message when denied. */
  reason?: string;
  /** HTTP code the API server would answer with (403 denied, 500 webhook failure). */
  code?: number;
  warnings: string[];
  /** True when at least one webhook was actually called. */
  webhookCalled: boolean;
  webhooks: WebhookOutcome[];
}

export interface DispatcherOptions {
  /** Namespace cache (lab state); unknown namespaces get only the metadata.name label. */
  namespaces: ReadonlyMap<string, NamespaceInfo>;
  /** Where a service endpoint lives in the lab, e.g. () => 'https://127.0.0.1:40123'. */
  serviceUrl?: (service: { namespace: string; name: string; port: number }) => string;
  uid?: () => string;
  /** Sees every AdmissionReview sent and what came back (evidence; must not throw). */
  onExchange?: (exchange: WebhookExchange) => void;
}

/** One call to a webhook, as sent and as answered. */
export interface WebhookExchange {
  webhook: string;
  /** The AdmissionReview sent. */
  request: unknown;
  /** HTTP status, when an answer arrived. */
  status?: number;
  /** The answer body (parsed JSON, or the text when it is not JSON). */
  response?: unknown;
  /** Why the call failed, when it did. */
  error?: string;
}

interface RequestAttributes {
  group: string;
  version: string;
  resource: string;
  subResource: string;
  operation: DispatchOperation;
  namespaced: boolean;
}

type Rule = ValidatingWebhook['rules'][number];

/** rules.go Matcher: operation, group, version, resource/subresource, scope. */
export function ruleMatches(rule: Rule, attr: RequestAttributes, ignoreVersion = false): boolean {
  const has = (list: readonly string[], v: string) => list.includes('*') || list.includes(v);
  if (!has(rule.operations, attr.operation)) return false;
  if (!has(rule.apiGroups, attr.group)) return false;
  if (!ignoreVersion && !has(rule.apiVersions, attr.version)) return false;
  const resourceOk = rule.resources.some((r) => {
    const [res = '', sub = ''] = r.split('/', 2);
    return (res === '*' || res === attr.resource) && (sub === '*' || sub === attr.subResource);
  });
  if (!resourceOk) return false;
  const scope = rule.scope ?? '*';
  if (scope === 'Namespaced' && !attr.namespaced) return false;
  if (scope === 'Cluster' && attr.namespaced) return false;
  return true;
}

function labelsOf(obj: Record<string, unknown> | undefined): Record<string, string> {
  const meta = obj?.['metadata'];
  const labels = meta !== null && typeof meta === 'object' ? (meta as Record<string, unknown>)['labels'] : undefined;
  return labels !== null && typeof labels === 'object' ? (labels as Record<string, string>) : {};
}

export class AdmissionDispatcher {
  readonly #config: LoadedWebhookConfiguration;
  readonly #options: DispatcherOptions;
  readonly #agents = new Map<string, Agent>();

  constructor(config: LoadedWebhookConfiguration, options: DispatcherOptions) {
    this.#config = config;
    this.#options = options;
  }

  /** Admits or refuses one request the way kube-apiserver would with this configuration. */
  async dispatch(req: DispatchRequest): Promise<DispatchResult> {
    const operation = req.operation ?? 'CREATE';
    const subject = req.object ?? req.oldObject;
    const kind = typeof subject?.['kind'] === 'string' ? subject['kind'] : 'Pod';
    const coords = RESOURCES[kind];
    if (coords === undefined) {
      // A kind no rule can name is never sent to a webhook (the API server would not either).
      return { allowed: true, warnings: [], webhookCalled: false, webhooks: [] };
    }
    const attr: RequestAttributes = { ...coords, subResource: req.subResource ?? '', operation, namespaced: true };
    const nsInfo = this.#options.namespaces.get(req.namespace) ?? { name: req.namespace, labels: {} };
    const nsLabels = { ...nsInfo.labels, [METADATA_NAME_LABEL]: req.namespace };

    const outcomes = await Promise.all(
      this.#config.webhooks.map(async (w): Promise<WebhookOutcome> => {
        const failurePolicy = w.spec.failurePolicy ?? 'Fail';
        const base = { webhook: w.spec.name, warnings: [] as string[], failurePolicy, durationMs: 0 };
        const exact = w.spec.rules.some((r) => ruleMatches(r, attr));
        const equivalent = !exact && (w.spec.matchPolicy ?? 'Equivalent') === 'Equivalent' && w.spec.rules.some((r) => ruleMatches(r, attr, true));
        if (!exact && !equivalent) return { ...base, called: false, skipped: 'no rule matches' };
        if (w.spec.namespaceSelector !== undefined && !matchesLabelSelector(w.spec.namespaceSelector as LabelSelector, nsLabels)) {
          return { ...base, called: false, skipped: `namespaceSelector does not match namespace ${JSON.stringify(req.namespace)}` };
        }
        if (
          w.spec.objectSelector !== undefined &&
          !matchesLabelSelector(w.spec.objectSelector as LabelSelector, labelsOf(req.object)) &&
          !matchesLabelSelector(w.spec.objectSelector as LabelSelector, labelsOf(req.oldObject))
        ) {
          return { ...base, called: false, skipped: 'objectSelector matches neither the object nor the old object' };
        }
        return this.#call(w, req, attr, kind, failurePolicy);
      }),
    );

    const warnings = outcomes.flatMap((o) => o.warnings);
    const webhookCalled = outcomes.some((o) => o.called);
    for (const o of outcomes) {
      if (o.error !== undefined && o.failurePolicy === 'Fail') {
        return { allowed: false, code: 500, reason: `Internal error occurred: failed calling webhook "${o.webhook}": ${o.error}`, warnings, webhookCalled, webhooks: outcomes };
      }
    }
    for (const o of outcomes) {
      if (o.called && o.error === undefined && o.allowed === false) {
        const code = o.status?.code !== undefined && o.status.code >= 400 ? o.status.code : 403;
        const message = o.status?.message ?? '';
        return { allowed: false, code, reason: `admission webhook "${o.webhook}" denied the request${message === '' ? '' : `: ${message}`}`, warnings, webhookCalled, webhooks: outcomes };
      }
    }
    return { allowed: true, warnings, webhookCalled, webhooks: outcomes };
  }

  /** Drops the keep-alive connections. */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }

  #endpoint(w: ResolvedWebhook): { url: URL; servername: string } {
    const { url, service } = w.spec.clientConfig;
    if (url !== undefined) {
      const u = new URL(url);
      return { url: u, servername: u.hostname.replace(/^\[|\]$/g, '') };
    }
    if (service === undefined) throw new Error('clientConfig has neither url nor service');
    const port = service.port ?? 443;
    if (this.#options.serviceUrl === undefined) throw new Error(`no endpoint for service ${service.namespace}/${service.name}:${port} (pass serviceUrl)`);
    const base = new URL(this.#options.serviceUrl({ namespace: service.namespace, name: service.name, port }));
    base.pathname = service.path ?? '/';
    // The API server verifies the certificate for the service DNS name, not the address it dials.
    return { url: base, servername: `${service.name}.${service.namespace}.svc` };
  }

  #agent(w: ResolvedWebhook): Agent {
    let agent = this.#agents.get(w.spec.name);
    if (agent === undefined) {
      agent = new Agent({ keepAlive: true, ca: w.caPem, maxSockets: 64 });
      this.#agents.set(w.spec.name, agent);
    }
    return agent;
  }

  async #call(w: ResolvedWebhook, req: DispatchRequest, attr: RequestAttributes, kind: string, failurePolicy: 'Fail' | 'Ignore'): Promise<WebhookOutcome> {
    const started = performance.now();
    const uid = (this.#options.uid ?? randomUUID)();
    const gvk = { group: attr.group, version: attr.version, kind };
    const gvr = { group: attr.group, version: attr.version, resource: attr.resource };
    const meta = (req.object ?? req.oldObject)?.['metadata'] as Record<string, unknown> | undefined;
    const review = {
      apiVersion: ADMISSION_API_VERSION,
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: gvk,
        resource: gvr,
        ...(attr.subResource === '' ? {} : { subResource: attr.subResource }),
        requestKind: gvk,
        requestResource: gvr,
        name: typeof meta?.['name'] === 'string' ? meta['name'] : '',
        namespace: req.namespace,
        operation: attr.operation,
        userInfo: req.userInfo ?? { username: 'integrity-lab', groups: ['system:authenticated'] },
        object: req.object ?? null,
        oldObject: req.oldObject ?? null,
        dryRun: req.dryRun ?? false,
        options: { apiVersion: 'meta.k8s.io/v1', kind: attr.operation === 'UPDATE' ? 'UpdateOptions' : 'CreateOptions' },
      },
    };
    const base = { webhook: w.spec.name, called: true, failurePolicy, warnings: [] as string[] };
    const timeoutMs = (w.spec.timeoutSeconds ?? 10) * 1000;
    const exchange: WebhookExchange = { webhook: w.spec.name, request: review };
    try {
      const { url, servername } = this.#endpoint(w);
      const body = JSON.stringify(review);
      const { status, text } = await post(url, servername, body, this.#agent(w), timeoutMs);
      exchange.status = status;
      try {
        exchange.response = JSON.parse(text);
      } catch {
        exchange.response = text.slice(0, 4096);
      }
      if (status !== 200) throw new Error(`the webhook answered HTTP ${status}: ${text.slice(0, 300)}`);
      const response = parseReviewResponse(text, uid);
      const outcome: WebhookOutcome = { ...base, allowed: response.allowed, warnings: response.warnings, durationMs: performance.now() - started };
      if (response.status !== undefined) outcome.status = response.status;
      return outcome;
    } catch (err) {
      exchange.error = describeError(err);
      return { ...base, error: exchange.error, durationMs: performance.now() - started };
    } finally {
      try {
        this.#options.onExchange?.(exchange);
      } catch {
        // Evidence collection must not change the decision.
      }
    }
  }
}

function post(url: URL, servername: string, body: string, agent: Agent, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(timeoutMs);
    const r = httpsRequest(
      url,
      {
        method: 'POST',
        agent,
        servername,
        signal,
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 3 * 1024 * 1024) {
            res.destroy(new Error('response larger than 3 MiB'));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('error', (err) => reject(signal.aborted ? new Error(`no answer within ${timeoutMs} ms (timeoutSeconds)`) : err));
    r.end(body);
  });
}

/** Checks the webhook's answer the way the API server does; anything off is a call failure. */
export function parseReviewResponse(text: string, uid: string): { allowed: boolean; status?: { code?: number; message?: string }; warnings: string[] } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`the webhook answered with something that is not JSON: ${text.slice(0, 100)}`);
  }
  const b = body as Record<string, unknown> | null;
  if (b === null || typeof b !== 'object' || b['apiVersion'] !== ADMISSION_API_VERSION || b['kind'] !== 'AdmissionReview') {
    throw new Error(`expected an AdmissionReview ${ADMISSION_API_VERSION} response`);
  }
  const response = b['response'] as Record<string, unknown> | null | undefined;
  if (response === null || typeof response !== 'object') throw new Error('the AdmissionReview has no response');
  if (response['uid'] !== uid) throw new Error(`response uid ${JSON.stringify(response['uid'])} does not match request uid ${JSON.stringify(uid)}`);
  if (typeof response['allowed'] !== 'boolean') throw new Error('response.allowed is not a boolean');
  const out: { allowed: boolean; status?: { code?: number; message?: string }; warnings: string[] } = {
    allowed: response['allowed'],
    warnings: Array.isArray(response['warnings']) ? response['warnings'].filter((w): w is string => typeof w === 'string') : [],
  };
  const st = response['status'] as Record<string, unknown> | undefined;
  if (st !== null && typeof st === 'object') {
    out.status = {};
    if (typeof st['code'] === 'number') out.status.code = st['code'];
    if (typeof st['message'] === 'string') out.status.message = st['message'];
  }
  return out;
}
