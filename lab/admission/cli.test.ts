import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../cli/command.ts';
import { command, createAdmissionCommand } from './cli.ts';
import { httpsAgent, postReview, rawRequest } from './test-client.ts';
import { createThrowawayPki } from './test-pki.ts';
import { MEDIA_TYPES, RegistryClient, pkiSigningIdentity, serializeManifest, signManifest } from '../signer/index.ts';
import { clock, sampleManifest, tempPki } from '../signer/test-fixtures.ts';
import { startFakeRegistry } from '../signer/test-registry.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SUITE = join(ROOT, 'scenarios/admission-suites/all-policies.yaml');

function capture(): CliIo & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l) };
}

describe('command.run', () => {
  describe('when testing the shipped suite', () => {
    it('passes every case and exits 0', async () => {
      const io = capture();
      const code = await command.run(['test', SUITE], io);
      assert.equal(code, 0, io.outLines.filter((l) => !l.startsWith('PASS')).join('\n') + io.errLines.join('\n'));
      assert.ok(io.outLines.length > 30);
      assert.match(io.outLines.at(-1) ?? '', /^all-policies: \d+ case\(s\), \d+ passed, 0 failed$/);
    });
  });

  describe('when a case expects the wrong outcome', () => {
    it('prints FAIL with the reason and exits 1', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'admission-cli-'));
      try {
        const suite = join(dir, 'wrong.yaml');
        await writeFile(
          suite,
          `apiVersion: integrity-lab.deckhouse.io/v1alpha1
kind: AdmissionSuite
metadata: { name: wrong }
spec:
  policies: ${join(ROOT, 'scenarios/policies')}
  cases:
    - name: privileged is allowed (it is not)
      namespace: restricted-ns
      expected: allow
      object: { apiVersion: v1, kind: Pod, metadata: { name: p }, spec: { containers: [{ name: c, image: x, securityContext: { privileged: true } }] } }
`,
        );
        const io = capture();
        assert.equal(await command.run(['test', suite], io), 1);
        assert.match(io.outLines[0] ?? '', /^FAIL  privileged is allowed \(it is not\): expected allow, got deny \(\[pod-security-standards\]/);
        assert.equal(io.outLines.at(-1), 'wrong: 1 case(s), 0 passed, 1 failed');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('when the suite does not load', () => {
    it('reports the error and exits 2', async () => {
      const io = capture();
      assert.equal(await command.run(['test', join(ROOT, 'lab/admission/testdata/suite-schema.yaml')], io), 2);
      assert.match(io.errLines[0] ?? '', /expected: should be one of "allow", "deny", got "maybe" \[ADMISSION_SCHEMA_INVALID\]/);
    });
    it('exits 2 on usage errors', async () => {
      assert.equal(await command.run([], capture()), 2);
      assert.equal(await command.run(['test'], capture()), 2);
      assert.equal(await command.run(['serve', '--cert', 'x'], capture()), 2);
      assert.equal(await command.run(['test', SUITE, '--bogus'], capture()), 2);
    });
    it('exits 2 when the real verifiers are asked for without what they need', async () => {
      const base = ['serve', '--cert', 'c', '--key', 'k', '--policies', 'p'];
      const noRoots = capture();
      assert.equal(await command.run([...base, '--registry', 'h:1=http://127.0.0.1:1'], noRoots), 2);
      assert.match(noRoots.errLines[0] ?? '', /--registry needs --trusted-roots/);
      const both = capture();
      assert.equal(await command.run([...base, '--registry', 'h:1=http://127.0.0.1:1', '--trusted-roots', 'r', '--trust-image', 'x'], both), 2);
      assert.match(both.errLines[0] ?? '', /exclude each other/);
      const format = capture();
      assert.equal(await command.run([...base, '--registry', 'h:1=http://127.0.0.1:1', '--trusted-roots', 'r', '--allowed-format', 'v3'], format), 2);
      assert.match(format.errLines[0] ?? '', /--allowed-format should be v2 or delivery-kit, got "v3"/);
    });
  });

  describe('when serving', () => {
    it('answers reviews on loopback, prints decision records and stops cleanly', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'admission-serve-'));
      try {
        const pki = await createThrowawayPki();
        await writeFile(join(dir, 'tls.crt'), pki.certPem);
        await writeFile(join(dir, 'tls.key'), pki.keyPem, { mode: 0o600 });
        let stop!: () => void;
        const stopped = new Promise<void>((r) => (stop = r));
        const io = capture();
        let url = '';
        const listening = new Promise<void>((resolveListening) => {
          const origErr = io.err;
          io.err = (l) => {
            origErr(l);
            const m = /listening on (https:\/\/\S+)/.exec(l);
            if (m !== null) {
              url = m[1] ?? '';
              resolveListening();
            }
          };
        });
        const run = createAdmissionCommand({ waitForStop: () => stopped }).run(
          ['serve', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key'), '--policies', join(ROOT, 'scenarios/policies'), '--trust-image', 'registry.deckhouse.io/kube/coredns:v1.11.1'],
          io,
        );
        await listening;
        assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/validate$/);
        const agent = httpsAgent(pki.caPem);
        const review = (image: string) =>
          JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: image, operation: 'CREATE', namespace: 'kube-system', object: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } } } });
        const ok = JSON.parse((await postReview(agent, url, review('registry.deckhouse.io/kube/coredns:v1.11.1'))).text);
        const no = JSON.parse((await postReview(agent, url, review('nginx:1.17.2'))).text);
        assert.deepEqual([ok.response.allowed, no.response.allowed], [true, false]);
        assert.equal((await rawRequest(agent, url.replace('/validate', '/healthz'), { method: 'GET' })).text, 'ok');
        agent.destroy();
        stop();
        assert.equal(await run, 0);
        const records = io.outLines.map((l) => JSON.parse(l));
        assert.deepEqual(records.map((r) => [r.uid, r.outcome]), [['registry.deckhouse.io/kube/coredns:v1.11.1', 'admitted'], ['nginx:1.17.2', 'denied']]);
        assert.match(io.errLines.at(-1) ?? '', /stopped after 3 request\(s\): 1 admitted, 1 denied, 0 malformed/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('verifies attached signatures for real with --registry and --trusted-roots', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'admission-serve-real-'));
      const registry = await startFakeRegistry();
      const lab = await tempPki();
      try {
        const tls = await createThrowawayPki();
        await writeFile(join(dir, 'tls.crt'), tls.certPem);
        await writeFile(join(dir, 'tls.key'), tls.keyPem, { mode: 0o600 });
        await writeFile(join(dir, 'roots.pem'), lab.pki.root.certificatePem);
        const client = new RegistryClient(registry.url);
        const signed = (await signManifest(sampleManifest(), { identity: pkiSigningIdentity(lab.pki), format: 'v2', clock })).manifest;
        await client.putManifest('system/agent', 'signed', serializeManifest(signed), MEDIA_TYPES.dockerManifest);
        await client.putManifest('system/agent', 'unsigned', serializeManifest(sampleManifest()), MEDIA_TYPES.dockerManifest);
        const host = new URL(registry.url).host;
        let stop!: () => void;
        const stopped = new Promise<void>((r) => (stop = r));
        const io = capture();
        let url = '';
        const listening = new Promise<void>((resolveListening) => {
          io.err = (l) => {
            io.errLines.push(l);
            const m = /listening on (https:\/\/\S+)/.exec(l);
            if (m !== null) {
              url = m[1] ?? '';
              resolveListening();
            }
          };
        });
        const run = createAdmissionCommand({ waitForStop: () => stopped }).run(
          ['serve', '--cert', join(dir, 'tls.crt'), '--key', join(dir, 'tls.key'), '--policies', join(ROOT, 'scenarios/policies'),
            '--registry', `${host}=${registry.url}`, '--trusted-roots', join(dir, 'roots.pem')],
          io,
        );
        await Promise.race([listening, run.then((code) => assert.fail(`serve exited ${code}: ${io.errLines.join('; ')}`))]);
        const agent = httpsAgent(tls.caPem);
        const review = (image: string) =>
          JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: image, operation: 'CREATE', namespace: 'kube-system', object: { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image }] } } } });
        const answers = [];
        for (const tag of ['signed', 'unsigned']) answers.push(JSON.parse((await postReview(agent, url, review(`${host}/system/agent:${tag}`))).text).response);
        agent.destroy();
        stop();
        assert.equal(await run, 0);
        assert.equal(answers[0].allowed, true, JSON.stringify(answers[0]));
        assert.equal(answers[1].allowed, false);
        assert.match(answers[1].status.message, new RegExp(`^\\[verify-image-signatures\\] Image signature verification failed: ${host.replace(/\./g, '\\.')}/system/agent:unsigned: MISSING_SIGNATURE`));
      } finally {
        await registry.close();
        await lab.cleanup();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
