/**
 * Fuzzing the real HTTPS webhook in-process with 10,000 random and mutated
 * AdmissionReviews from a seeded PRNG (FUZZ_SEED to replay; FUZZ_COUNT to
 * change the count). Invariants, checked on every answer:
 *
 * 1. the server answers every request with 200 or 400, and keeps answering;
 * 2. a request an independent oracle calls malformed gets 400;
 * 3. a 200 answer is an AdmissionReview echoing the request uid;
 * 4. no admit-by-error: if the request names a protected namespace (in
 *    request.namespace or object.metadata.namespace) and any container,
 *    init container or ephemeral container image is not signed, it is never
 *    allowed, whatever the mutation.
 */
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CachedImageVerifier } from './cache.ts';
import { createEngine } from './engine.ts';
import { loadLabState } from './loader.ts';
import { type StartedWebhookServer, WebhookServer } from './server.ts';
import { httpsAgent, postReview, rawRequest } from './test-client.ts';
import { createThrowawayPki } from './test-pki.ts';
import { StaticImageVerifier } from './verifiers.ts';
import { seededRandom } from '../random.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed1ab);
const COUNT = Number(process.env['FUZZ_COUNT'] ?? 10_000);
const SIGNED = ['registry.deckhouse.io/kube/coredns:v1.11.1', 'registry.deckhouse.io/d8/agent@sha256:' + '4'.repeat(64)];
const UNSIGNED = ['nginx:1.17.2', 'registry.deckhouse.io/kube/coredns:v1.11.2', 'evil.io/miner:latest', 'registry.deckhouse.io/d8/agent:latest'];
const NAMESPACES = ['kube-system', 'd8-system', 'd8-x', 'apps', 'restricted-ns', 'warn-ns', 'dryrun-ns', 'bypass-ns', 'ops-ns', 'test-namespace', '', 'kube-system ', 'KUBE-SYSTEM', 'd8', 'unknown-ns'];


type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The value as a plain JSON object, or undefined. */
function asObj(v: unknown): Record<string, Json> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>) : undefined;
}

function isProtected(ns: unknown): boolean {
  return typeof ns === 'string' && (ns.startsWith('d8-') || ns === 'kube-system');
}

/** Independent oracle: images the pod would run (by the same reading of kinds the API uses). */
function imagesOf(object: unknown): unknown[] {
  const o = asObj(object);
  if (o === undefined) return [];
  const spec = o['kind'] === 'Pod' ? asObj(o['spec']) : asObj(asObj(asObj(o['spec'])?.['template'])?.['spec']);
  if (spec === undefined) return [];
  const out: unknown[] = [];
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    const cs = spec[list];
    if (!Array.isArray(cs)) continue;
    for (const c of cs) out.push(asObj(c)?.['image']);
  }
  return out;
}

/** Oracle for invariant 2: requests that are plainly malformed. */
function plainlyMalformed(text: string, contentType: string): string | undefined {
  if (contentType !== 'application/json') return 'content type';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const b = asObj(body);
  if (b === undefined) return 'not an object';
  if (b['apiVersion'] !== 'admission.k8s.io/v1' || b['kind'] !== 'AdmissionReview') return 'apiVersion/kind';
  const req = asObj(b['request']);
  if (req === undefined) return 'request';
  if (typeof req['uid'] !== 'string' || req['uid'] === '') return 'uid';
  if (req['operation'] !== 'CREATE' && req['operation'] !== 'UPDATE') return 'operation';
  const obj = asObj(req['object']);
  if (obj === undefined || !['Pod', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet'].includes(obj['kind'] as string)) return 'object kind';
  return undefined;
}

function seedReview(rand: () => number, i: number): Json {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const image = () => (rand() < 0.5 ? pick(SIGNED) : pick(UNSIGNED));
  const container = (n: number): Json => ({ name: `c${n}`, image: image(), ...(rand() < 0.3 ? { securityContext: { privileged: rand() < 0.5, runAsUser: Math.floor(rand() * 3) } } : {}) });
  const spec: Record<string, Json> = { containers: [container(0), ...(rand() < 0.3 ? [container(1)] : [])] };
  if (rand() < 0.3) spec['initContainers'] = [container(2)];
  if (rand() < 0.2) spec['ephemeralContainers'] = [container(3)];
  if (rand() < 0.2) spec['hostPID'] = true;
  const kind = rand() < 0.85 ? 'Pod' : pick(['Deployment', 'DaemonSet']);
  const object: Json =
    kind === 'Pod'
      ? { apiVersion: 'v1', kind, metadata: { name: `p${i}` }, spec }
      : { apiVersion: 'apps/v1', kind, metadata: { name: `w${i}` }, spec: { template: { metadata: { labels: { app: 'x' } }, spec } } };
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: `uid-${i}`, kind: { group: kind === 'Pod' ? '' : 'apps', version: 'v1', kind }, operation: 'CREATE', namespace: pick(NAMESPACES.slice(0, 10)), object } };
}

/** Every path into a JSON value. */
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k] as Json, [...prefix, k], out);
  return out;
}

function parentOf(root: Json, path: (string | number)[]): { parent: Record<string | number, Json> | Json[]; key: string | number } | undefined {
  if (path.length === 0) return undefined;
  let cur: Json = root;
  for (const seg of path.slice(0, -1)) cur = (cur as Record<string | number, Json>)[seg] as Json;
  return { parent: cur as Record<string | number, Json>, key: path[path.length - 1] as string | number };
}

function mutate(root: Json, rand: () => number): Json {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const randomValue = (): Json =>
    pick<() => Json>([
      () => null,
      () => rand() < 0.5,
      () => Math.floor(rand() * 2 ** 31) * (rand() < 0.5 ? -1 : 1),
      () => 1e308 * 10 || 0.5,
      () => '',
      () => pick(SIGNED),
      () => pick(UNSIGNED),
      () => pick(NAMESPACES),
      () => 'x'.repeat(Math.floor(rand() * 5000)),
      () => '\u0000\ud800"\\',
      () => [],
      () => ({}),
      () => [pick(UNSIGNED)],
      () => ({ __proto__: { polluted: true }, constructor: 'x' }) as unknown as Json,
      () => ({ name: 'injected', image: pick(UNSIGNED) }),
    ])();
  const all = paths(root);
  const target = pick(all);
  const loc = parentOf(root, target);
  const op = Math.floor(rand() * 8);
  if (loc === undefined) return op < 4 ? randomValue() : root;
  const { parent, key } = loc;
  switch (op) {
    case 0: // delete
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 1: // replace with a random value
    case 2:
      (parent as Record<string | number, Json>)[key] = randomValue();
      break;
    case 3: // duplicate into an array / add a sibling key
      if (Array.isArray(parent)) parent.push(structuredClone(parent[key as number] as Json));
      else parent[`${String(key)}${rand() < 0.5 ? '' : 'X'}`] = structuredClone(parent[key] as Json);
      break;
    case 4: {
      // move a container list to another kind of container list
      const spec = asObj(asObj(asObj(asObj(root)?.['request'])?.['object'])?.['spec']);
      if (spec !== undefined) {
        const from = pick(['containers', 'initContainers', 'ephemeralContainers']);
        const to = pick(['containers', 'initContainers', 'ephemeralContainers']);
        if (spec[from] !== undefined) spec[to] = spec[from] as Json;
      }
      break;
    }
    case 5: {
      // point request and object at different namespaces
      const req = asObj(asObj(root)?.['request']);
      const obj = asObj(req?.['object']);
      if (obj !== undefined) obj['metadata'] = { ...(asObj(obj['metadata']) ?? {}), namespace: pick(NAMESPACES) };
      if (req !== undefined && rand() < 0.5) req['namespace'] = pick(NAMESPACES);
      break;
    }
    case 6: // change operation or kind
      {
        const req = asObj(asObj(root)?.['request']);
        if (rand() < 0.5 && req !== undefined) req['operation'] = pick(['CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'create', '']);
        else (parent as Record<string | number, Json>)[key] = pick(['Pod', 'Deployment', 'Secret', 'pod']);
      }
      break;
    default: // deep nesting
      (parent as Record<string | number, Json>)[key] = JSON.parse('['.repeat(200) + ']'.repeat(200)) as Json;
  }
  return root;
}

function byteMutate(text: string, rand: () => number): string {
  const i = Math.floor(rand() * Math.max(1, text.length));
  switch (Math.floor(rand() * 4)) {
    case 0:
      return text.slice(0, i);
    case 1:
      return text.slice(0, i) + String.fromCharCode(Math.floor(rand() * 256)) + text.slice(i + 1);
    case 2:
      return text.slice(0, i) + '}{"' + text.slice(i);
    default:
      return '';
  }
}

describe('WebhookServer under fuzzing', () => {
  let server: StartedWebhookServer;
  let caPem: string;

  before(async () => {
    const pki = await createThrowawayPki();
    caPem = pki.caPem;
    const state = await loadLabState(join(ROOT, 'scenarios/policies'));
    const engine = createEngine(state, { imageVerifier: new CachedImageVerifier(new StaticImageVerifier(SIGNED)) });
    server = await new WebhookServer({ engine, cert: pki.certPem, key: pki.keyPem }).start();
  });
  after(async () => {
    await server.close();
  });

  describe(`when ${COUNT} mutated reviews arrive (seed ${SEED})`, () => {
    it('answers each with 200 or 400, 400 for malformed, and never admits an unsigned image in a protected namespace', async (t) => {
      const rand = seededRandom(SEED);
      const agent = httpsAgent(caPem, 16);
      const stats = { ok: 0, bad: 0, mustDeny: 0, allowed: 0 };
      const failures: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < COUNT && failures.length < 5) {
          const i = next++;
          let value = seedReview(rand, i);
          const rounds = 1 + Math.floor(rand() * 4);
          for (let r = 0; r < rounds; r++) value = mutate(value, rand);
          let text = JSON.stringify(value) ?? 'null';
          if (rand() < 0.05) text = byteMutate(text, rand);
          const contentType = rand() < 0.02 ? 'text/plain' : 'application/json';
          const res = await postReview(agent, server.validateUrl, text, contentType).catch((err: unknown) => ({ status: -1, text: String(err) }));
          const fail = (why: string) => failures.push(`#${i} (seed ${SEED}): ${why}\n  request: ${text.slice(0, 600)}\n  answer: ${res.status} ${res.text.slice(0, 300)}`);
          if (res.status !== 200 && res.status !== 400) {
            fail('status is neither 200 nor 400');
            continue;
          }
          const malformed = plainlyMalformed(text, contentType);
          if (malformed !== undefined && res.status !== 400) fail(`malformed (${malformed}) but answered ${res.status}`);
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          const req = asObj(asObj(parsed)?.['request']);
          const obj = req?.['object'];
          const objNs = asObj(asObj(obj)?.['metadata'])?.['namespace'];
          const protectedNs = req !== undefined && (isProtected(req['namespace']) || isProtected(objNs));
          const unsigned = imagesOf(obj).some((img) => typeof img !== 'string' || !SIGNED.includes(img));
          const mustDeny = protectedNs && unsigned;
          if (mustDeny) stats.mustDeny++;
          if (res.status === 400) {
            stats.bad++;
            continue;
          }
          stats.ok++;
          let body: { response?: { uid?: unknown; allowed?: unknown } };
          try {
            body = JSON.parse(res.text);
          } catch {
            fail('200 answer is not JSON');
            continue;
          }
          if (body.response?.uid !== req?.['uid']) fail('response uid does not echo the request uid');
          if (typeof body.response?.allowed !== 'boolean') fail('response.allowed is not a boolean');
          if (body.response?.allowed === true) stats.allowed++;
          if (mustDeny && body.response?.allowed !== false) fail('ADMITTED an unsigned image in a protected namespace');
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      const health = await rawRequest(agent, `${server.url}/healthz`, { method: 'GET' });
      agent.destroy();
      t.diagnostic(`outcomes: ${JSON.stringify(stats)}`);
      assert.deepEqual(failures, []);
      assert.equal(health.status, 200, 'server stopped answering');
      // The corpus must actually exercise both sides, or the invariants prove nothing.
      assert.ok(stats.ok > COUNT / 10 && stats.bad > COUNT / 10, JSON.stringify(stats));
      assert.ok(stats.mustDeny > COUNT / 20 && stats.allowed > COUNT / 20, JSON.stringify(stats));
      assert.equal(server.stats().requests, COUNT + 1);
    });
  });
});
