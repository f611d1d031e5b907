/**
 * The results bundle of one conformance run, for an auditor to keep:
 * `reports/runs/<run>/results.tar` holds
 *
 *   outcomes/<attack>--<profile>.json  scenario, expected, observed, verdict, the
 *                                      component credited, sha256 of each evidence file
 *   versions.json                      containerd, runc, kernel, Docker, Node, substrate
 *                                      (kind and Kubernetes when used), lab commit
 *   inputs.json                        sha256 of every scenario input (features/, scenarios/)
 *   junit*.xml                         the run's JUnit XML
 *   manifest.json                      sha256 and size of every member above
 *
 * `integrity-lab results verify ARCHIVE` checks every member against the
 * manifest, that nothing is missing or added, and that no private key is
 * inside. Private keys never enter: building refuses any member that holds one.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LabError } from '../errors.ts';
import { buildTar, readTar, type TarEntry } from '../images/tar.ts';

export type BundleErrorCode = 'BUNDLE_PRIVATE_KEY' | 'BUNDLE_INVALID';

export const BUNDLE_FORMAT = 'integrity-lab.results/v1';
// Assembled so that this file does not itself look like key material to a scanner.
const PRIVATE_KEY = new RegExp(['-----BEGIN', '[A-Z0-9 ]*PRIVATE', 'KEY-----'].join(' '));

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** What a step recorded for one attack on one profile (steps/support/state.ts), plus any later fields. */
export interface OutcomeRecordLike {
  attack: string;
  profile: string;
  outcome: string;
  expected?: string;
  scenario: string;
  [more: string]: unknown;
}

export interface OutcomeDocument {
  scenario: string;
  attack: string;
  profile: string;
  expected: string | null;
  observed: string;
  verdict: string;
  /** The component whose detection or refusal earned the outcome, when the run recorded one. */
  component: string | null;
  evidence: { name: string; sha256: string }[];
}

export interface Versions {
  substrate: 'node' | 'kind';
  containerd: string | null;
  runc: string | null;
  kernel: string;
  docker: string | null;
  node: string;
  nodeImage: string | null;
  kind: string | null;
  kubernetes: string | null;
  lab: { commit: string | null; dirty: boolean };
}

export interface Manifest {
  format: typeof BUNDLE_FORMAT;
  createdAt: string;
  members: Record<string, { sha256: string; size: number }>;
}

/**
 * Evidence attachments of each scenario run, from the Allure results: by
 * scenario name, one list per run of it in the order the runs started (a
 * scenario runs several times with --repeat, or as several outline rows of
 * the same name).
 */
async function evidenceByScenario(allureDir: string): Promise<Map<string, { name: string; sha256: string }[][]>> {
  type Node = { attachments?: { name: string; source: string }[]; steps?: Node[] };
  const runs: { name: string; start: number; evidence: { name: string; sha256: string }[] }[] = [];
  const files = await readdir(allureDir).catch(() => [] as string[]);
  for (const f of files.filter((n) => n.endsWith('-result.json'))) {
    const result = JSON.parse(await readFile(join(allureDir, f), 'utf8')) as Node & { name?: string; start?: number };
    const attachments: { name: string; source: string }[] = [];
    const collect = (node: Node) => {
      attachments.push(...(node.attachments ?? []));
      for (const s of node.steps ?? []) collect(s);
    };
    collect(result);
    const evidence: { name: string; sha256: string }[] = [];
    for (const a of attachments) {
      const content = await readFile(join(allureDir, a.source)).catch(() => undefined);
      if (content) evidence.push({ name: a.name, sha256: sha256(content) });
    }
    runs.push({ name: result.name ?? '', start: result.start ?? 0, evidence });
  }
  const out = new Map<string, { name: string; sha256: string }[][]>();
  for (const r of runs.sort((a, b) => a.start - b.start)) out.set(r.name, [...(out.get(r.name) ?? []), r.evidence]);
  return out;
}

export function outcomeDocument(record: OutcomeRecordLike, evidence: { name: string; sha256: string }[]): OutcomeDocument {
  const component = record.component ?? record.earnedBy ?? null;
  return {
    scenario: record.scenario,
    attack: record.attack,
    profile: record.profile,
    expected: record.expected ?? null,
    observed: record.outcome,
    verdict: typeof record.verdict === 'string' ? record.verdict : record.expected === record.outcome ? 'ok' : 'MISMATCH',
    component: typeof component === 'string' ? component : null,
    evidence,
  };
}

async function hashTree(root: string, dirs: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dir of dirs) {
    const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile()) continue;
      const path = join(e.parentPath, e.name);
      out[relative(root, path)] = sha256(await readFile(path));
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** Builds the archive's bytes (pure apart from reading the run directory and the project's inputs). */
export async function buildResultsBundle(runDir: string, projectRoot: string, versions: Versions, now = new Date()): Promise<Buffer> {
  const files = new Map<string, Buffer>();
  const records = (await readFile(join(runDir, 'outcomes.jsonl'), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutcomeRecordLike);
  const evidence = await evidenceByScenario(join(runDir, 'allure-results'));
  // Outcome records are appended as scenarios finish; runs of the same scenario take their evidence in start order.
  const taken = new Map<string, number>();
  for (const r of records) {
    const nth = taken.get(r.scenario) ?? 0;
    taken.set(r.scenario, nth + 1);
    const base = `outcomes/${r.attack}--${r.profile}`.replace(/[^A-Za-z0-9_./-]+/g, '-');
    let name = `${base}.json`;
    for (let n = 2; files.has(name); n++) name = `${base}.${n}.json`;
    files.set(name, Buffer.from(JSON.stringify(outcomeDocument(r, evidence.get(r.scenario)?.[nth] ?? []), null, 2) + '\n'));
  }
  files.set('versions.json', Buffer.from(JSON.stringify(versions, null, 2) + '\n'));
  files.set('inputs.json', Buffer.from(JSON.stringify(await hashTree(projectRoot, ['features', 'scenarios']), null, 2) + '\n'));
  for (const f of (await readdir(runDir).catch(() => [] as string[])).filter((n) => /^junit.*\.xml$/.test(n)).sort()) {
    files.set(f, await readFile(join(runDir, f)));
  }
  for (const [name, content] of files) {
    if (PRIVATE_KEY.test(content.toString('latin1'))) {
      throw new LabError<BundleErrorCode>('BUNDLE_PRIVATE_KEY', `results bundle: ${name} contains a private key; refusing to write the bundle`);
    }
  }
  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    createdAt: now.toISOString(),
    members: Object.fromEntries([...files].sort(([a], [b]) => a.localeCompare(b)).map(([n, c]) => [n, { sha256: sha256(c), size: c.length }])),
  };
  const entries: TarEntry[] = [...files].map(([path, content]) => ({ type: 'file', path, content }));
  entries.push({ type: 'file', path: 'manifest.json', content: Buffer.from(JSON.stringify(manifest, null, 2) + '\n') });
  return buildTar(entries);
}

export interface BundleCheck {
  ok: boolean;
  problems: string[];
  /** sha256 of the whole archive, to record alongside it. */
  archiveSha256: string;
  members: number;
  outcomes: number;
}

/** Checks an archive: manifest present and well-formed, every member's hash and size, nothing missing or extra, no private key. */
export function verifyResultsBundle(archive: Buffer): BundleCheck {
  const problems: string[] = [];
  const check: BundleCheck = { ok: false, problems, archiveSha256: sha256(archive), members: 0, outcomes: 0 };
  let members;
  try {
    members = readTar(archive);
  } catch (err) {
    problems.push(`not a readable tar archive: ${(err as Error).message}`);
    return check;
  }
  const files = new Map(members.filter((m) => m.type === 'file').map((m) => [m.path, m.content] as const));
  for (const m of members.filter((x) => x.type !== 'file' && x.type !== 'dir')) problems.push(`${m.path}: a ${m.type} member; a bundle holds only files`);
  const manifestBytes = files.get('manifest.json');
  if (!manifestBytes) {
    problems.push('manifest.json is missing');
    return check;
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  } catch (err) {
    problems.push(`manifest.json is not JSON: ${(err as Error).message}`);
    return check;
  }
  if (manifest.format !== BUNDLE_FORMAT) problems.push(`manifest.json: format should be "${BUNDLE_FORMAT}", got ${JSON.stringify(manifest.format)}`);
  const listed = manifest.members ?? {};
  for (const [name, want] of Object.entries(listed)) {
    const content = files.get(name);
    if (!content) problems.push(`${name}: listed in the manifest, missing from the archive`);
    else if (sha256(content) !== want.sha256 || content.length !== want.size) {
      problems.push(`${name}: sha256 ${sha256(content)} (${content.length} bytes), the manifest says ${want.sha256} (${want.size} bytes)`);
    }
  }
  for (const name of files.keys()) {
    if (name !== 'manifest.json' && !(name in listed)) problems.push(`${name}: in the archive, not in the manifest`);
    if (PRIVATE_KEY.test(files.get(name)!.toString('latin1'))) problems.push(`${name}: contains a private key`);
  }
  for (const required of ['versions.json', 'inputs.json']) if (!(required in listed)) problems.push(`${required}: missing`);
  check.members = files.size;
  check.outcomes = [...files.keys()].filter((n) => n.startsWith('outcomes/')).length;
  check.ok = problems.length === 0;
  return check;
}
