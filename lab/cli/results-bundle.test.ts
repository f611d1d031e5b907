import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTar, readTar } from '../images/tar.ts';
import { isLabError } from '../errors.ts';
import { buildResultsBundle, verifyResultsBundle, type Versions } from './results-bundle.ts';
import { scratchDir } from '../testing/scratch-dir.ts';

const versions: Versions = {
  substrate: 'node', containerd: '2.1.9', runc: '1.3.6', kernel: '6.18.0', docker: '20.10.24', node: 'v24.9.0',
  nodeImage: 'integrity-lab/node:abc', kind: null, kubernetes: null, lab: { commit: 'abc123', dirty: false },
};

/** A run directory with one attack on two profiles and one evidence attachment. */
async function fakeRun(extra: Record<string, string> = {}): Promise<{ run: string; project: string }> {
  const project = scratchDir('il-bundle');
  const run = join(project, 'reports/runs/r1');
  await mkdir(join(run, 'allure-results'), { recursive: true });
  await mkdir(join(project, 'features'), { recursive: true });
  await mkdir(join(project, 'scenarios/attacks'), { recursive: true });
  await writeFile(join(project, 'features/a.feature'), 'Feature: a\n');
  await writeFile(join(project, 'scenarios/attacks/x.yaml'), 'kind: Attack\n');
  await writeFile(
    join(run, 'outcomes.jsonl'),
    [
      { attack: 'swap', profile: 'vanilla', outcome: 'succeeded', expected: 'succeeded', scenario: 'swap on vanilla' },
      { attack: 'swap', profile: 'integrity', outcome: 'blocked', expected: 'blocked', scenario: 'swap on integrity', component: 'gates' },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n',
  );
  await writeFile(join(run, 'allure-results/1-result.json'), JSON.stringify({ name: 'swap on integrity', attachments: [{ name: 'mountinfo', source: 'a1-attachment.txt' }] }));
  await writeFile(join(run, 'allure-results/a1-attachment.txt'), 'mountinfo lines');
  await writeFile(join(run, 'junit.xml'), '<testsuite tests="2"/>');
  for (const [name, text] of Object.entries(extra)) await writeFile(join(run, name), text);
  return { run, project };
}

describe('buildResultsBundle', () => {
  it('writes one document per attack × profile with verdict, component and evidence hashes', async () => {
    const { run, project } = await fakeRun();
    const members = readTar(await buildResultsBundle(run, project, versions));
    const doc = JSON.parse(members.find((m) => m.path === 'outcomes/swap--integrity.json')!.content.toString());
    assert.equal(doc.observed, 'blocked');
    assert.equal(doc.verdict, 'ok');
    assert.equal(doc.component, 'gates');
    assert.deepEqual(doc.evidence.map((e: { name: string }) => e.name), ['mountinfo']);
    assert.match(doc.evidence[0].sha256, /^[0-9a-f]{64}$/);
    const inputs = JSON.parse(members.find((m) => m.path === 'inputs.json')!.content.toString());
    assert.deepEqual(Object.keys(inputs), ['features/a.feature', 'scenarios/attacks/x.yaml']);
    assert.ok(members.some((m) => m.path === 'junit.xml'));
  });

  describe('when the same scenario ran twice (--repeat)', () => {
    it("gives each run's document that run's evidence only", async () => {
      const { run, project } = await fakeRun();
      const again = { attack: 'swap', profile: 'integrity', outcome: 'detected', expected: 'blocked', scenario: 'swap on integrity' };
      await writeFile(join(run, 'outcomes.jsonl'), `${await readFile(join(run, 'outcomes.jsonl'), 'utf8')}${JSON.stringify(again)}\n`);
      await writeFile(join(run, 'allure-results/1-result.json'), JSON.stringify({ name: 'swap on integrity', start: 1, attachments: [{ name: 'first', source: 'a1-attachment.txt' }] }));
      await writeFile(join(run, 'allure-results/2-result.json'), JSON.stringify({ name: 'swap on integrity', start: 2, attachments: [{ name: 'second', source: 'a1-attachment.txt' }] }));
      const members = readTar(await buildResultsBundle(run, project, versions));
      const doc = (p: string) => JSON.parse(members.find((m) => m.path === p)!.content.toString());
      assert.deepEqual(doc('outcomes/swap--integrity.json').evidence.map((e: { name: string }) => e.name), ['first']);
      assert.deepEqual(doc('outcomes/swap--integrity.2.json').evidence.map((e: { name: string }) => e.name), ['second']);
      assert.equal(doc('outcomes/swap--integrity.2.json').verdict, 'MISMATCH');
    });
  });

  describe('when a member would hold a private key', () => {
    it('refuses to write the bundle', async () => {
      const marker = ['-----BEGIN', 'EC PRIVATE', 'KEY-----'].join(' ');
      const { run, project } = await fakeRun({ 'junit-1.xml': `<failure>${marker}\nAAAA</failure>` });
      await assert.rejects(buildResultsBundle(run, project, versions), (e) => isLabError(e, 'BUNDLE_PRIVATE_KEY'));
    });
  });
});

describe('verifyResultsBundle', () => {
  describe('when the archive is as written', () => {
    it('is intact', async () => {
      const { run, project } = await fakeRun();
      const check = verifyResultsBundle(await buildResultsBundle(run, project, versions));
      assert.deepEqual(check.problems, []);
      assert.equal(check.ok, true);
      assert.equal(check.outcomes, 2);
    });
  });

  describe('when a member was changed after the fact', () => {
    it('names the member and both hashes', async () => {
      const { run, project } = await fakeRun();
      const members = readTar(await buildResultsBundle(run, project, versions));
      const forged = members.filter((m) => m.type === 'file').map((m) => ({
        type: 'file' as const,
        path: m.path,
        content: m.path === 'outcomes/swap--integrity.json' ? Buffer.from(m.content.toString().replace('"blocked"', '"detected"')) : m.content,
      }));
      const check = verifyResultsBundle(buildTar(forged));
      assert.equal(check.ok, false);
      assert.match(check.problems.join('\n'), /outcomes\/swap--integrity\.json: sha256 [0-9a-f]{64} .* the manifest says/);
    });
  });

  describe('when a member was added or removed', () => {
    it('reports both', async () => {
      const { run, project } = await fakeRun();
      const members = readTar(await buildResultsBundle(run, project, versions)).filter((m) => m.type === 'file' && m.path !== 'junit.xml');
      const check = verifyResultsBundle(buildTar([...members.map((m) => ({ type: 'file' as const, path: m.path, content: m.content })), { type: 'file', path: 'extra.txt', content: Buffer.from('x') }]));
      assert.match(check.problems.join('\n'), /junit\.xml: listed in the manifest, missing/);
      assert.match(check.problems.join('\n'), /extra\.txt: in the archive, not in the manifest/);
    });
  });

  describe('when the bytes are not a tar archive', () => {
    it('says so', () => {
      const check = verifyResultsBundle(Buffer.alloc(1024, 7));
      assert.equal(check.ok, false);
      assert.match(check.problems[0]!, /not a readable tar archive/);
    });
  });
});
