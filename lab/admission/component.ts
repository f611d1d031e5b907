/**
 * The admission webhook as a lab node component (profile component
 * `admission`).
 *
 * Where it runs: inside the node, as a bundled process of the node's own
 * Node.js (`integrity-lab admission serve`, lab/admission/bin/webhook.ts),
 * listening on 0.0.0.0:8443; the harness reaches it at the node's address,
 * like the registry. Chosen over a process on the host because
 *   - image references in pods name the registry as the node sees it
 *     (127.0.0.1:5000): in the node the webhook resolves them exactly as
 *     containerd will pull them, with no address translation;
 *   - the call crosses a network boundary with TLS verified for the service
 *     DNS name, as kube-apiserver → webhook does, not a loopback shortcut;
 *   - "the webhook is down" is a process on the node dying, which is what an
 *     attacker on the node or an outage would cause.
 *
 * It ships the ValidatingWebhookConfiguration (manifests/validating-webhook.yaml)
 * with caBundle filled from the lab CA, and a serving certificate issued by
 * the lab's intermediate CA for every service DNS name the manifest names
 * (`<name>.<namespace>.svc`). `admitPod` hands each pod to an
 * AdmissionDispatcher loaded from that rendered manifest (rules,
 * namespaceSelector with the namespaces of the policies directory,
 * objectSelector, failurePolicy, timeoutSeconds, warnings), so only what the
 * configuration admits reaches CRI.
 *
 * Trust boundary: the node is the lab's own; the serving key lives in the
 * node (mode 0600) and is removed with it, and is never written on the host
 * or attached as evidence.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LabError, describeError } from '../errors.ts';
import { poll, waitInShell } from '../wait.ts';
import type { V1Pod } from '@kubernetes/client-node';
import type { PodSpec } from '../cri/index.ts';
import type { AdmissionAnswer, Detection, NodeComponent, NodeFile, NodePreparation, PrepareContext } from '../node/component.ts';
import type { LabNodeHandle } from '../node/handle.ts';
import type { AdmissionErrorCode } from './errors.ts';
import { AdmissionDispatcher, CA_BUNDLE_PLACEHOLDER, exemptedProtectedNamespaces, parseWebhookConfiguration, type DispatchResult, type LoadedWebhookConfiguration, type WebhookExchange } from './dispatcher.ts';
import { listYamlFiles, loadLabStateFromTexts, type LabState, type SourceText } from './loader.ts';
import { podObjectOf, withApiDefaults } from './node-pod.ts';
import type { AttachedFormat } from './registry-verifiers.ts';
import type { DecisionRecord } from './types.ts';

const PROJECT_ROOT = join(import.meta.dirname, '../..');
export const DEFAULT_POLICIES_DIR = join(PROJECT_ROOT, 'scenarios/policies');
const DEFAULT_MANIFEST = join(import.meta.dirname, 'manifests/validating-webhook.yaml');

/** Paths in the node. */
export const NODE_PATHS = {
  bundle: '/opt/integrity-lab/admission-webhook.mjs',
  dir: '/etc/integrity-lab/admission',
  policies: '/etc/integrity-lab/admission/policies',
  manifest: '/etc/integrity-lab/admission/validating-webhook.yaml',
  cert: '/etc/integrity-lab/admission/tls.crt',
  key: '/etc/integrity-lab/admission/tls.key',
  trustedRoots: '/etc/integrity-lab/admission/trusted-roots.pem',
  decisions: '/var/log/integrity-lab/admission-decisions.jsonl',
  log: '/var/log/integrity-lab/admission-webhook.log',
} as const;

/** The node registry as pods name it, and as the webhook reaches it from inside the node. */
const NODE_REGISTRY = { host: '127.0.0.1:5000', url: 'http://127.0.0.1:5000' } as const;

export interface AdmissionComponentOptions {
  /** Policies and namespaces (the lab state). Default: scenarios/policies of this project. */
  policiesDir?: string;
  /** The ValidatingWebhookConfiguration to register. Default: manifests/validating-webhook.yaml. */
  manifest?: string;
  /** Port the webhook listens on in the node. Default 8443. */
  port?: number;
  /** Attached-signature formats accepted. Default ['v2'], as the node gates. */
  allowedFormats?: AttachedFormat[];
  /** How long afterStart waits for /healthz. Default 30000 ms. */
  readyTimeoutMs?: number;
}

/** What the webhook did with one pod, with the evidence. */
export interface AdmissionReviewOutcome extends AdmissionAnswer {
  data: { dispatch: DispatchResult; exchanges: WebhookExchange[]; object: Record<string, unknown> };
}

/** Per-lab state: one node component instance may serve several labs. */
interface LabAdmission {
  /** Host copies of the policy texts, as shipped to the node (relative name → text). */
  texts: SourceText[];
  state: LabState;
  config: LoadedWebhookConfiguration;
  manifestText: string;
  caPem: string;
  pid?: number;
  /** Denials the dispatcher made without a webhook answer (failurePolicy). */
  failures: Detection[];
  /** The latest answers, oldest first (bounded). */
  reviews: AdmissionReviewOutcome[];
}

const MAX_REVIEWS = 200;

function fail(code: AdmissionErrorCode, message: string, cause?: unknown): LabError<AdmissionErrorCode> {
  return new LabError(code, message, cause === undefined ? undefined : { cause });
}

/** Renders the manifest with caBundle = base64 of the lab CA (PEM), as a cluster would hold it. */
export function renderWebhookManifest(text: string, caPem: string): string {
  if (!text.includes(CA_BUNDLE_PLACEHOLDER)) return text;
  return text.replaceAll(CA_BUNDLE_PLACEHOLDER, Buffer.from(caPem, 'utf8').toString('base64'));
}

/** `<name>.<namespace>.svc` for every service the manifest names: the names the serving certificate must carry. */
export function serviceDnsNames(config: LoadedWebhookConfiguration): string[] {
  const names = new Set<string>();
  for (const w of config.webhooks) {
    const s = w.spec.clientConfig.service;
    if (s !== undefined) names.add(`${s.name}.${s.namespace}.svc`);
  }
  return [...names];
}

export class AdmissionNodeComponent implements NodeComponent {
  readonly name = 'admission';
  readonly #options: Required<Omit<AdmissionComponentOptions, 'allowedFormats'>> & { allowedFormats: AttachedFormat[] };
  readonly #labs = new Map<string, LabAdmission>();

  constructor(options: AdmissionComponentOptions = {}) {
    this.#options = {
      policiesDir: options.policiesDir ?? DEFAULT_POLICIES_DIR,
      manifest: options.manifest ?? DEFAULT_MANIFEST,
      port: options.port ?? 8443,
      allowedFormats: options.allowedFormats ?? ['v2'],
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
    };
  }

  async prepare(ctx: PrepareContext): Promise<NodePreparation> {
    const { policiesDir } = this.#options;
    // The policies are validated on the host first: a bad file fails the
    // lab at APPLY with file:line, not as a webhook that never gets ready.
    const texts: SourceText[] = [];
    for (const file of await listYamlFiles(policiesDir)) texts.push({ file: relative(policiesDir, file), text: await readFile(file, 'utf8') });
    const state = loadLabStateFromTexts(texts);

    const manifestText = renderWebhookManifest(await readFile(this.#options.manifest, 'utf8'), ctx.trustedRootsPem);
    // Parsed as shipped (no caBundle override): the filled caBundle is what the dispatcher trusts.
    const config = parseWebhookConfiguration(manifestText, this.#options.manifest);
    const exempted = exemptedProtectedNamespaces(config, state.protectedNamespaces, state.namespaces.values());
    if (exempted.length > 0) {
      throw fail(
        'ADMISSION_COMPONENT_FAILED',
        `${this.#options.manifest}: namespaceSelector exempts ${exempted.join(', ')}, covered by the protected namespaces [${state.protectedNamespaces.join(', ')}]; a protected namespace must not skip the webhook`,
      );
    }
    const dnsNames = serviceDnsNames(config);
    const { certChainPem, keyPem } = await issueServingCertificate(join(ctx.stateDir, 'pki'), dnsNames);

    const { bundleForNode } = await import('../node/bundle.ts');
    const files: NodeFile[] = [
      { source: await bundleForNode(join(import.meta.dirname, 'bin/webhook.ts'), 'admission-webhook'), target: NODE_PATHS.bundle, mode: 0o644 },
      { content: manifestText, target: NODE_PATHS.manifest, mode: 0o644 },
      { content: certChainPem, target: NODE_PATHS.cert, mode: 0o644 },
      { content: keyPem, target: NODE_PATHS.key, mode: 0o600 },
      { content: ctx.trustedRootsPem, target: NODE_PATHS.trustedRoots, mode: 0o644 },
      ...texts.map((t) => ({ content: t.text, target: `${NODE_PATHS.policies}/${t.file}`, mode: 0o644 })),
    ];
    this.#labs.set(ctx.stateDir, { texts, state, config, manifestText, caPem: ctx.trustedRootsPem, failures: [], reviews: [] });
    return { files, containerdPlugins: [] };
  }

  async afterStart(node: LabNodeHandle): Promise<void> {
    await this.startWebhook(node);
  }

  /** Starts the webhook process in the node and waits until /healthz answers over TLS. */
  async startWebhook(node: LabNodeHandle): Promise<{ pid: number }> {
    const lab = this.#lab(node);
    if (lab.pid !== undefined) return { pid: lab.pid };
    const argv = [
      'node', NODE_PATHS.bundle,
      '--cert', NODE_PATHS.cert, '--key', NODE_PATHS.key,
      '--policies', NODE_PATHS.policies,
      '--host', '0.0.0.0', '--port', String(this.#options.port),
      '--registry', `${NODE_REGISTRY.host}=${NODE_REGISTRY.url}`,
      '--trusted-roots', NODE_PATHS.trustedRoots,
      ...this.#options.allowedFormats.flatMap((f) => ['--allowed-format', f]),
    ];
    // Background process: stdout (decision records) and stderr to files, so
    // `docker exec` returns at once; $! is the node process itself.
    const script = `mkdir -p /var/log/integrity-lab && ${argv.map(shellQuote).join(' ')} >>${NODE_PATHS.decisions} 2>>${NODE_PATHS.log} </dev/null & echo $!`;
    const out = (await node.run(['sh', '-c', script])).stdout.toString().trim();
    const pid = Number(out);
    if (!Number.isInteger(pid) || pid <= 1) throw fail('ADMISSION_WEBHOOK_NOT_READY', `webhook on ${node.name}: expected the PID of the started process, got ${JSON.stringify(out)}`);
    lab.pid = pid;
    await this.#waitReady(node, lab, pid);
    return { pid };
  }

  /**
   * Stops the webhook process (SIGTERM, then SIGKILL after 5 s), by PID.
   * Returns the PID it stopped, or undefined when none was running.
   */
  async stopWebhook(node: LabNodeHandle): Promise<number | undefined> {
    const lab = this.#lab(node);
    const pid = lab.pid;
    if (pid === undefined) return undefined;
    lab.pid = undefined;
    await node.exec.run(['kill', '-TERM', String(pid)]);
    if ((await waitInShell(node.exec, `! kill -0 ${pid}`, { timeoutMs: 5_000 })).ok) return pid;
    await node.exec.run(['kill', '-KILL', String(pid)]);
    return pid;
  }

  /** The PID of the running webhook process in the node, if any. */
  webhookPid(node: LabNodeHandle): number | undefined {
    return this.#lab(node).pid;
  }

  async beforeStop(node: LabNodeHandle): Promise<void> {
    if (this.#labs.has(node.stateDir)) await this.stopWebhook(node);
    this.#labs.delete(node.stateDir);
  }

  /**
   * Applies more policy documents, as `kubectl apply` would: they are
   * validated together with the lab's policies on the host, written into the
   * node's policies directory, and the webhook is restarted to load them.
   * Namespaces declared in them become known to the dispatcher.
   */
  async applyPolicies(node: LabNodeHandle, docs: readonly SourceText[]): Promise<void> {
    const lab = this.#lab(node);
    const byName = new Map(lab.texts.map((t) => [t.file, t]));
    for (const d of docs) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml$/.test(d.file)) {
        throw fail('ADMISSION_COMPONENT_FAILED', `applyPolicies: file name should be a plain *.yaml name, got ${JSON.stringify(d.file)}`);
      }
      byName.set(d.file, d);
    }
    const texts = [...byName.values()];
    const state = loadLabStateFromTexts(texts);
    for (const d of docs) await node.run(['sh', '-c', `cat > ${shellQuote(`${NODE_PATHS.policies}/${d.file}`)}`], { input: Buffer.from(d.text, 'utf8') });
    lab.texts = texts;
    lab.state = state;
    await this.stopWebhook(node);
    await this.startWebhook(node);
  }

  async admitPod(node: LabNodeHandle, pod: PodSpec, object?: V1Pod): Promise<AdmissionAnswer> {
    return this.review(node, object ? (object as unknown as Record<string, unknown>) : podObjectOf(pod), pod.namespace);
  }

  /**
   * Sends one object to the webhook exactly as kube-apiserver would for the
   * shipped configuration, and reports the answer the API server would give.
   * Use it directly for Kubernetes fields a CRI pod spec cannot carry.
   */
  async review(node: LabNodeHandle, written: Record<string, unknown>, namespace: string): Promise<AdmissionReviewOutcome> {
    // The API server defaults the object before any validating webhook sees it.
    const object = withApiDefaults(written);
    const lab = this.#lab(node);
    const exchanges: WebhookExchange[] = [];
    const address = nodeAddress(node);
    const dispatcher = new AdmissionDispatcher(lab.config, {
      namespaces: lab.state.namespaces,
      serviceUrl: (s) => `https://${address}:${s.port === 443 ? this.#options.port : s.port}`,
      onExchange: (e) => exchanges.push(e),
    });
    let result: DispatchResult;
    try {
      result = await dispatcher.dispatch({ object, namespace });
    } finally {
      dispatcher.close();
    }
    const failed = result.webhooks.find((w) => w.error !== undefined);
    if (!result.allowed && failed !== undefined) {
      const meta = object['metadata'] as { name?: unknown } | undefined;
      lab.failures.push({
        component: this.name,
        message: `${namespace}/${String(meta?.name ?? '')}: ${result.reason ?? 'denied'}`,
        time: new Date().toISOString(),
        data: { webhook: failed.webhook, error: failed.error, failurePolicy: failed.failurePolicy },
      });
    }
    const answer: AdmissionReviewOutcome = { allowed: result.allowed, warnings: result.warnings, data: { dispatch: result, exchanges, object } };
    if (result.reason !== undefined) answer.reason = result.reason;
    lab.reviews.push(answer);
    if (lab.reviews.length > MAX_REVIEWS) lab.reviews.shift();
    return answer;
  }

  /** The answers this component gave on the node, oldest first (the last 200). */
  reviews(node: LabNodeHandle): readonly AdmissionReviewOutcome[] {
    return this.#labs.get(node.stateDir)?.reviews ?? [];
  }

  /**
   * Denials, warnings and dryrun records of the webhook (its decision log in
   * the node), and denials the dispatcher made because the webhook could not
   * be called (failurePolicy Fail).
   */
  async detections(node: LabNodeHandle, since: Date): Promise<Detection[]> {
    const lab = this.#labs.get(node.stateDir);
    const out: Detection[] = [];
    const r = await node.exec.run(['cat', NODE_PATHS.decisions]);
    for (const record of parseDecisionLog(r.stdout.toString())) {
      if (new Date(record.time) < since) continue;
      if (record.outcome === 'admitted' && record.action === 'allow') continue;
      const first = record.violations.find((v) => v.mode === record.action) ?? record.violations[0];
      out.push({
        component: this.name,
        message: `${record.outcome} ${record.namespace}/${record.name} (${record.action}): ${first?.message ?? record.policy}`,
        time: record.time,
        data: record,
      });
    }
    for (const f of lab?.failures ?? []) if (new Date(f.time) >= since) out.push(f);
    return out;
  }

  /** The lab state (namespaces, policies) the dispatcher and the webhook use on this node. */
  labState(node: LabNodeHandle): LabState {
    return this.#lab(node).state;
  }

  /** The rendered ValidatingWebhookConfiguration, caBundle filled. */
  manifest(node: LabNodeHandle): string {
    return this.#lab(node).manifestText;
  }

  /** What a real kube-apiserver needs to call this webhook (lab/kind/admission.ts): the rendered configuration, its file, the port in the node. */
  registration(node: LabNodeHandle): { manifest: string; manifestFile: string; port: number } {
    return { manifest: this.#lab(node).manifestText, manifestFile: this.#options.manifest, port: this.#options.port };
  }

  #lab(node: LabNodeHandle): LabAdmission {
    const lab = this.#labs.get(node.stateDir);
    if (lab === undefined) throw fail('ADMISSION_COMPONENT_FAILED', `the admission component was not prepared for lab ${node.labId} (state ${node.stateDir})`);
    return lab;
  }

  async #waitReady(node: LabNodeHandle, lab: LabAdmission, pid: number): Promise<void> {
    const address = nodeAddress(node);
    const servername = serviceDnsNames(lab.config)[0] ?? address;
    const url = `https://${address}:${this.#options.port}/healthz`;
    let last = 'no attempt yet';
    let probes = 0;
    // Done when healthz says ok, or when the process died (then there is nothing to wait for).
    // healthz is asked from here every 100 ms; whether the process lives, in the node, every
    // fifth time (a command in the node costs far more than a request).
    const ready = await poll(
      async () => {
        try {
          if ((await healthz(url, servername, lab.caPem)) === 'ok') return 'ok';
          last = 'healthz did not say ok';
        } catch (err) {
          last = describeError(err);
        }
        if (++probes % 5 !== 0) return 'starting';
        return (await node.exec.run(['kill', '-0', String(pid)])).exitCode !== 0 ? 'exited' : 'starting';
      },
      (state) => state !== 'starting',
      { timeoutMs: this.#options.readyTimeoutMs, intervalMs: 100 },
    );
    if (ready.value === 'ok') return;
    if (ready.value === 'exited') {
      lab.pid = undefined;
      const log = (await node.exec.run(['tail', '-n', '20', NODE_PATHS.log])).stdout.toString().trim();
      throw fail('ADMISSION_WEBHOOK_NOT_READY', `webhook "integrity" on ${node.name} exited before it was ready (pid ${pid}); its log:\n${log}`);
    }
    throw fail('ADMISSION_WEBHOOK_NOT_READY', `webhook "integrity" on ${node.name} not ready after ${this.#options.readyTimeoutMs} ms at ${url} (TLS name ${servername}): ${last}`);
  }
}

/** The admission component of a started node, if its profile has one. */
export function admissionOf(node: LabNodeHandle): AdmissionNodeComponent | undefined {
  return node.components.find((c): c is AdmissionNodeComponent => c instanceof AdmissionNodeComponent);
}

export function admissionComponent(options: AdmissionComponentOptions = {}): AdmissionNodeComponent {
  return new AdmissionNodeComponent(options);
}

/** Decision records, one JSON object per line; other lines are skipped. */
export function parseDecisionLog(text: string): DecisionRecord[] {
  const out: DecisionRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as DecisionRecord;
      if (typeof r.time === 'string' && typeof r.outcome === 'string' && Array.isArray(r.violations)) out.push(r);
    } catch {
      // A torn last line while the webhook is writing: skipped, read next time.
    }
  }
  return out;
}

/**
 * A serving certificate for the webhook from the lab's intermediate CA
 * (lab/signer's serverAuth profile), for the service DNS names. The key is
 * made here so its PEM can be shipped to the node; lab/signer keys never
 * reveal theirs.
 */
async function issueServingCertificate(pkiDir: string, dnsNames: string[]): Promise<{ certChainPem: string; keyPem: string }> {
  const { PROFILES, PrivateKey, issueCertificate, loadLabPki } = await import('../signer/index.ts');
  const pki = await loadLabPki(pkiDir);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  const leaf = await issueCertificate({
    subject: 'CN=integrity-webhook, O=integrity-lab',
    profile: { ...PROFILES.serverAuth, dnsNames },
    key: new PrivateKey(privateKey),
    issuer: pki.intermediate,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + 7 * 86_400_000),
    serial: randomBytes(16),
  });
  // The server sends its chain up to (not including) the root in caBundle.
  return { certChainPem: leaf + pki.chainPem, keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

function nodeAddress(node: LabNodeHandle): string {
  return new URL(node.registryUrl).hostname;
}

async function healthz(url: string, servername: string, caPem: string): Promise<string> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', ca: caPem, servername, signal: AbortSignal.timeout(2_000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : `HTTP ${res.statusCode}`));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
