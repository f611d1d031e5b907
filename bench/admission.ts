/**
 * Admission webhook latency and throughput, client and server in separate
 * processes (so they do not share one event loop), over real HTTPS on
 * 127.0.0.1 with keep-alive agents.
 *
 *   node --import tsx bench/admission.ts [--requests N]
 *   BENCH_CPU_PROF=DIR …   also writes a CPU profile of the server process to DIR
 *
 * The server runs the lab's policies (scenarios/policies) with an attached-
 * signature verifier that takes 20 ms per image (a registry round trip)
 * behind the decision cache. Each row is measured against a peer in the
 * same run: a bare HTTPS server in the same child process that parses the
 * JSON body and answers a fixed AdmissionReview (the TLS + HTTP + JSON
 * floor). Goals: p99 ≤ 5 ms with cached decisions, ≥ 2,000 reviews/s.
 * Anchors: Gatekeeper's default webhook timeout is 3 s, sigstore
 * policy-controller's 25 s.
 */
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  CachedImageVerifier,
  createEngine,
  loadLabState,
  type ImageSignatureVerifier,
  WebhookServer,
} from '../lab/admission/index.ts';
import { httpsAgent, postReview } from '../lab/admission/test-client.ts';
import { createThrowawayPki } from '../lab/admission/test-pki.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SIGNED = 'registry.deckhouse.io/d8/agent@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945';
const VERIFY_MS = 20;
const ROUNDS = 3;

interface Ready {
  webhook: string;
  floor: string;
}

/** Child process: the webhook and the floor peer. */
async function serve(dir: string): Promise<void> {
  const [cert, key] = await Promise.all([readFile(join(dir, 'tls.crt')), readFile(join(dir, 'tls.key'))]);
  // A verifier as slow as a registry round trip; only the first call per image pays it.
  const slow: ImageSignatureVerifier = {
    verify: async (image) => {
      await new Promise((r) => setTimeout(r, VERIFY_MS));
      return image.startsWith('registry.deckhouse.io/') ? { ok: true } : { ok: false, reason: 'unsigned' };
    },
  };
  const state = await loadLabState(join(ROOT, 'scenarios/policies'));
  const engine = createEngine(state, { imageVerifier: new CachedImageVerifier(slow) });
  const webhook = await new WebhookServer({ engine, cert, key }).start();
  const floor = createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
      const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, status: { code: 200, message: 'admitted' }, warnings: [] } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  floor.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => floor.listen(0, '127.0.0.1', r));
  const ready: Ready = { webhook: webhook.validateUrl, floor: `https://127.0.0.1:${(floor.address() as AddressInfo).port}/validate` };
  process.send?.(ready);
  process.on('message', async (m) => {
    if (m === 'stop') {
      floor.closeAllConnections();
      floor.close();
      await webhook.close();
      process.exit(0);
    }
  });
}

function review(uid: string, image: string, namespace = 'd8-system'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace,
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `agent-${uid}`, labels: { app: 'agent' } },
        spec: {
          containers: [
            { name: 'agent', image, securityContext: { privileged: true }, resources: { limits: { memory: '128Mi' } } },
            { name: 'sidecar', image, ports: [{ containerPort: 8080 }] },
          ],
          initContainers: [{ name: 'init', image }],
        },
      },
    },
  });
}

interface Row {
  target: string;
  clients: number;
  requests: number;
  p50: number;
  p99: number;
  rps: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

interface Sample {
  latencies: number[];
  seconds: number;
}

/** Runs `total` requests from `clients` concurrent loops; each loop keeps its own keep-alive connection. */
async function load(url: string, caPem: string, clients: number, total: number, body: (i: number) => string, expectAllowed: boolean): Promise<Sample> {
  const agent = httpsAgent(caPem, clients);
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        const res = await postReview(agent, url, body(i));
        latencies.push(performance.now() - t0);
        const allowed = (JSON.parse(res.text) as { response?: { allowed?: boolean } }).response?.allowed;
        if (res.status !== 200 || allowed !== expectAllowed) throw new Error(`request ${i}: HTTP ${res.status}, allowed=${String(allowed)}: ${res.text.slice(0, 200)}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, seconds };
}

/** Pools rounds: quantiles over every latency, throughput over the summed time. */
function summarize(target: string, clients: number, samples: Sample[]): Row {
  const all = samples.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = samples.reduce((a, s) => a + s.seconds, 0);
  return { target, clients, requests: all.length, p50: quantile(all, 0.5), p99: quantile(all, 0.99), rps: all.length / seconds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { requests: { type: 'string', default: '12000' } } });
  const total = Number(values.requests);
  const pki = await createThrowawayPki();
  const dir = await mkdtemp(join(tmpdir(), 'bench-admission-'));
  await writeFile(join(dir, 'tls.crt'), pki.certPem);
  await writeFile(join(dir, 'tls.key'), pki.keyPem, { mode: 0o600 });
  const child = fork(fileURLToPath(import.meta.url), ['--server', dir], { execArgv: ['--import', 'tsx', ...(process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', '--cpu-prof-dir', process.env['BENCH_CPU_PROF']] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const ready = await new Promise<Ready>((res, rej) => {
      child.once('message', (m) => res(m as Ready));
      child.once('exit', (code) => rej(new Error(`server process exited with ${code}`)));
    });
    await rm(dir, { recursive: true, force: true }); // the child has read the key
    const rows: Row[] = [];
    const signed = (i: number) => review(`b${i}`, SIGNED);
    const unsigned = (i: number) => review(`d${i}`, 'nginx:1.17.2');
    // Warm both servers (JIT, TLS sessions) and the decision cache.
    await load(ready.webhook, pki.caPem, 8, 2000, signed, true);
    await load(ready.webhook, pki.caPem, 8, 500, unsigned, false);
    await load(ready.floor, pki.caPem, 8, 2000, signed, true);
    // Uncached: every request names a new image, so each waits for the 20 ms verifier.
    rows.push(summarize(`webhook, uncached (verifier ${VERIFY_MS} ms)`, 1, [await load(ready.webhook, pki.caPem, 1, 50, (i) => review(`c${i}`, `registry.deckhouse.io/d8/agent:cold-${i}`), true)]));
    // The machine is shared and noisy: targets alternate round by round, and rounds are pooled.
    for (const clients of [1, 50]) {
      const perRound = Math.round((clients === 1 ? total / 4 : total) / ROUNDS);
      const floor: Sample[] = [];
      const allow: Sample[] = [];
      const deny: Sample[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        floor.push(await load(ready.floor, pki.caPem, clients, perRound, signed, true));
        allow.push(await load(ready.webhook, pki.caPem, clients, perRound, signed, true));
        deny.push(await load(ready.webhook, pki.caPem, clients, perRound, unsigned, false));
      }
      rows.push(summarize('floor peer (HTTPS + JSON, no policy)', clients, floor));
      rows.push(summarize('webhook, cached admit', clients, allow));
      rows.push(summarize('webhook, cached denial', clients, deny));
    }
    print(rows);
  } finally {
    child.send('stop');
    await rm(dir, { recursive: true, force: true });
  }
}

function print(rows: Row[]): void {
  const f = (n: number, d = 2) => n.toFixed(d);
  const floorFor = (clients: number) => rows.find((r) => r.target.startsWith('floor') && r.clients === clients);
  const out: string[] = [];
  const cached = rows.filter((r) => r.target.startsWith('webhook, cached'));
  out.push(`Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; server and load generator in separate processes on 127.0.0.1, keep-alive; ${ROUNDS} alternating rounds per target, pooled; 2 shared cores.`);
  out.push('');
  out.push('| target | clients | requests | p50 ms | p99 ms | reviews/s | p99 vs floor | throughput vs floor |');
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const floor = floorFor(r.clients);
    const vs = floor === undefined || r.target.startsWith('floor') ? '—' : `${f(r.p99 / floor.p99, 2)}×`;
    const tvs = floor === undefined || r.target.startsWith('floor') ? '—' : `${f(r.rps / floor.rps, 2)}×`;
    out.push(`| ${r.target} | ${r.clients} | ${r.requests} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.rps, 0)} | ${vs} | ${tvs} |`);
  }
  const one = cached.filter((r) => r.clients === 1);
  const fifty = cached.filter((r) => r.clients === 50);
  const p99One = Math.max(...one.map((r) => r.p99));
  const p99Fifty = Math.max(...fifty.map((r) => r.p99));
  const rpsFifty = Math.min(...fifty.map((r) => r.rps));
  const floor50 = floorFor(50);
  out.push('');
  out.push(`Goal p99 ≤ 5 ms (cached): 1 client ${f(p99One)} ms (${p99One <= 5 ? 'met' : 'NOT met'}); 50 clients ${f(p99Fifty)} ms (${p99Fifty <= 5 ? 'met' : 'NOT met'}; the no-policy floor peer itself shows ${floor50 === undefined ? '?' : f(floor50.p99)} ms at 50 clients).`);
  out.push(`Goal ≥ 2,000 reviews/s (cached, 50 clients): ${f(rpsFifty, 0)} (${rpsFifty >= 2000 ? 'met' : 'NOT met'}).`);
  out.push(`Anchors: the worst cached p99 (${f(p99Fifty)} ms) is ${f((p99Fifty / 3000) * 100, 3)}% of Gatekeeper's 3 s webhook timeout and ${f((p99Fifty / 25000) * 100, 4)}% of sigstore policy-controller's 25 s; the uncached p50 is the verifier's ${VERIFY_MS} ms plus ${f((rows[0]?.p50 ?? NaN) - VERIFY_MS)} ms.`);
  process.stdout.write(out.join('\n') + '\n');
}

const serverDir = process.argv.indexOf('--server');
if (serverDir >= 0) {
  await serve(process.argv[serverDir + 1] ?? '');
} else {
  await main();
}
