import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isLabError } from '../errors.ts';
import { parseWebhookConfiguration } from './dispatcher.ts';
import { renderSchemas, SCHEMA_DIR } from './gen-schema.ts';
import { listYamlFiles, loadLabState, loadLabStateFromTexts } from './loader.ts';
import { DOCUMENT_SCHEMAS } from './schema.ts';
import { checkSuiteAgainstState, parseSuite } from './suite.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TESTDATA = join(here, 'testdata');
const ROOT = resolve(here, '../..');
const FAKE_CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** Runs the loader a fixture is meant for; resolves when it (wrongly) loads. */
async function loadFixture(file: string, text: string): Promise<void> {
  const name = basename(file);
  if (name.startsWith('suite-')) {
    const suite = await parseSuite(text, file, (p) => readFile(join(TESTDATA, p), 'utf8'));
    checkSuiteAgainstState(suite, await loadLabState(suite.policiesDir));
    return;
  }
  if (name.startsWith('webhook-')) {
    parseWebhookConfiguration(text, name, name.includes('placeholder') ? {} : { caBundlePem: FAKE_CA });
    return;
  }
  loadLabStateFromTexts([{ file: name, text }]);
}

describe('loadLabStateFromTexts', () => {
  describe('when a fixture breaks one validation rule', () => {
    const fixtures = readdirSync(TESTDATA).filter((f) => f.endsWith('.yaml')).sort();
    it('has one fixture per rule (at least 40)', () => assert.ok(fixtures.length >= 40, `found ${fixtures.length}`));
    for (const fixture of fixtures) {
      const path = join(TESTDATA, fixture);
      const text = readFileSync(path, 'utf8');
      const header = /^# expect: ([A-Z_]+): (.+)$/m.exec(text);
      it(`rejects ${fixture}${header === null ? '' : ` with ${header[1]}`}`, async () => {
        assert.ok(header !== null, `${fixture} needs a "# expect: CODE: text" header`);
        const [, code, message] = header;
        await assert.rejects(loadFixture(path, text), (err: unknown) => {
          assert.ok(isLabError(err), `expected a LabError, got ${String(err)}`);
          assert.equal(err.code, code, err.message);
          assert.ok(err.message.includes(message ?? ''), `message should contain ${JSON.stringify(message)}, got:\n${err.message}`);
          return true;
        });
      });
    }
  });

  describe('when the documents are valid', () => {
    it('turns namespaces, policies and the config into lab state', () => {
      const state = loadLabStateFromTexts([
        { file: 'ns.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n  labels: { team: a }\n' },
        {
          file: 'cfg.yaml',
          text: 'apiVersion: integrity-lab.deckhouse.io/v1alpha1\nkind: AdmissionConfig\nmetadata: { name: lab }\nspec:\n  podSecurityStandards: { defaultPolicy: restricted, enforcementAction: warn }\n  imageSignatureVerification: { namespaces: [sys-*] }\n',
        },
      ]);
      assert.deepEqual(state.namespaces.get('apps')?.labels, { team: 'a', 'kubernetes.io/metadata.name': 'apps' });
      assert.deepEqual(state.podSecurityStandards, { defaultPolicy: 'restricted', enforcementAction: 'warn' });
      assert.deepEqual(state.protectedNamespaces, ['sys-*']);
    });
    it('defaults to baseline, deny and d8-*/kube-system without a config', () => {
      const state = loadLabStateFromTexts([{ file: 'ns.yaml', text: 'apiVersion: v1\nkind: Namespace\nmetadata: { name: apps }\n' }]);
      assert.deepEqual(state.podSecurityStandards, { defaultPolicy: 'baseline', enforcementAction: 'deny' });
      assert.deepEqual(state.protectedNamespaces, ['d8-*', 'kube-system']);
    });
  });
});

describe('loadLabState', () => {
  describe('when pointed at the shipped scenarios/policies', () => {
    it('loads the seed policies and the lab namespaces', async () => {
      const state = await loadLabState(join(ROOT, 'scenarios/policies'));
      for (const ns of ['kube-system', 'd8-system', 'apps', 'restricted-ns', 'baseline-ns', 'warn-ns', 'dryrun-ns', 'lab-ops', 'signed-apps', 'node-access-ns']) {
        assert.ok(state.namespaces.has(ns), `namespace ${ns} should be declared`);
      }
      assert.deepEqual(state.securityPolicies.map((p) => p.metadata.name).sort(), ['baseline', 'mypolicy', 'node-access', 'restricted', 'verify-image-test']);
      assert.deepEqual(state.operationPolicies.map((p) => p.metadata.name), ['common', 'lab-registry']);
    });
    it('starts every file with a yaml-language-server schema header that exists', async () => {
      const files = [
        ...(await listYamlFiles(join(ROOT, 'scenarios/policies'))),
        join(ROOT, 'scenarios/admission-suites/all-policies.yaml'),
        join(ROOT, 'scenarios/admission-suites/lab-node.yaml'),
      ];
      for (const file of files) {
        const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
        const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first);
        assert.ok(m !== null, `${file} should start with the schema header, got ${JSON.stringify(first)}`);
        assert.doesNotThrow(() => readFileSync(resolve(dirname(file), m[1] ?? ''), 'utf8'), `${file}: schema ${m[1]} should exist`);
      }
    });
  });

  describe('when the directory is missing', () => {
    it('fails with ADMISSION_READ_FAILED', async () => {
      await assert.rejects(loadLabState(join(TESTDATA, 'no-such-dir')), (err: unknown) => isLabError(err, 'ADMISSION_READ_FAILED'));
    });
  });
});

describe('renderSchemas', () => {
  describe('when compared with scenarios/schemas', () => {
    it('matches the committed files (run lab/admission/gen-schema.ts after changing schema.ts)', () => {
      for (const [file, text] of renderSchemas()) {
        assert.equal(readFileSync(join(SCHEMA_DIR, file), 'utf8'), text, `${file} is stale`);
      }
    });
  });

  describe('when every property is inspected', () => {
    it('has a description and an example', () => {
      const missing: string[] = [];
      const walk = (node: unknown, path: string) => {
        if (node === null || typeof node !== 'object') return;
        const n = node as Record<string, unknown>;
        const props = n['properties'] as Record<string, Record<string, unknown>> | undefined;
        for (const [name, prop] of Object.entries(props ?? {})) {
          const p = `${path}.${name}`;
          if (typeof prop['description'] !== 'string' || prop['description'] === '') missing.push(`${p}: description`);
          if (!Array.isArray(prop['examples']) || prop['examples'].length === 0) missing.push(`${p}: examples`);
          walk(prop, p);
        }
        if (n['items'] !== undefined) walk(n['items'], `${path}[]`);
      };
      for (const [kind, { schema }] of Object.entries(DOCUMENT_SCHEMAS)) walk(schema, kind);
      assert.deepEqual(missing, []);
    });
  });
});
