/**
 * Offline policy suites, in the spirit of Gatekeeper's `gator verify`: a
 * YAML `AdmissionSuite` lists objects, the namespace each goes to, and the
 * expected outcome; the runner evaluates them with the same engine the
 * webhook uses (no HTTPS) and reports every mismatch.
 *
 * Loading goes through the same four stages as policies; the meaning stage
 * checks that each case names a namespace the lab declares (a typo would
 * otherwise make a case silently test the default level).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { describeError } from '../errors.ts';
import { createEngine } from './engine.ts';
import { admissionError } from './errors.ts';
import { type LabState, loadLabState, validateDocument, where } from './loader.ts';
import { type AdmissionObject, decodeAdmissionObject } from './pod.ts';
import type { AdmissionSuiteDoc } from './schema.ts';
import type { Decision, DecisionRecord, Operation } from './types.ts';
import { canonicalPublicKey, StaticCosignVerifier, StaticImageVerifier } from './verifiers.ts';
import { type YamlDocument, parseYamlDocuments } from './yaml-docs.ts';

export interface SuiteCase {
  name: string;
  namespace: string;
  operation: Operation;
  object: AdmissionObject;
  expected: 'allow' | 'deny';
  expectedMessage?: TextMatcher;
  expectedWarning?: TextMatcher;
}

export interface TextMatcher {
  source: string;
  test(text: string): boolean;
}

export interface LoadedSuite {
  file: string;
  name: string;
  /** Policies directory, resolved against the suite file. */
  policiesDir: string;
  attachedSigned: string[];
  cosignSigned: { image: string; publicKey: string }[];
  cases: SuiteCase[];
}

export interface CaseResult {
  name: string;
  passed: boolean;
  expected: 'allow' | 'deny';
  decision: Decision;
  /** What did not match, when failed. */
  mismatch?: string;
}

export interface SuiteResult {
  suite: string;
  results: CaseResult[];
  passed: number;
  failed: number;
  records: DecisionRecord[];
}

/** `/regex/flags` or a plain substring. */
export function textMatcher(spec: string): TextMatcher {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(spec);
  if (m !== null && spec.length > 1) {
    const re = new RegExp(m[1] ?? '', m[2]);
    return { source: spec, test: (t) => re.test(t) };
  }
  return { source: JSON.stringify(spec), test: (t) => t.includes(spec) };
}

function meaning(source: YamlDocument, path: (string | number)[], message: string): never {
  throw admissionError('ADMISSION_MEANING_INVALID', `${where(source, path)}: ${message}`);
}

/**
 * Loads a suite. `readObjectFile` resolves objectFile paths (relative to the
 * suite); injected so the pure part can be tested with in-memory files.
 */
export async function parseSuite(text: string, file: string, readObjectFile: (path: string) => Promise<string>): Promise<LoadedSuite> {
  const docs = parseYamlDocuments(text, file);
  const first = docs[0];
  if (docs.length !== 1 || first === undefined) {
    throw admissionError('ADMISSION_SCHEMA_INVALID', `${file}: expected exactly one AdmissionSuite document, found ${docs.length}`);
  }
  const decoded = validateDocument(first, ['AdmissionSuite']);
  const doc = decoded.doc as AdmissionSuiteDoc;
  const source = first;
  const names = new Map<string, number>();
  const cases: SuiteCase[] = [];
  for (const [i, c] of doc.spec.cases.entries()) {
    const at = (...rest: (string | number)[]) => ['spec', 'cases', i, ...rest];
    const dup = names.get(c.name);
    if (dup !== undefined) meaning(source, at('name'), `case name ${JSON.stringify(c.name)} is used twice (first as case ${dup + 1})`);
    names.set(c.name, i);
    if ((c.object === undefined) === (c.objectFile === undefined)) meaning(source, at(), 'should set exactly one of object and objectFile');
    if (c.expected === 'allow' && c.expectedMessage !== undefined) meaning(source, at('expectedMessage'), 'only makes sense with expected: deny');
    let raw: unknown = c.object;
    if (c.objectFile !== undefined) {
      let objectText: string;
      try {
        objectText = await readObjectFile(c.objectFile);
      } catch (err) {
        throw admissionError('ADMISSION_READ_FAILED', `${where(source, at('objectFile'))}: cannot read ${c.objectFile}: ${describeError(err)}`, err);
      }
      const objDocs = parseYamlDocuments(objectText, c.objectFile);
      if (objDocs.length !== 1) meaning(source, at('objectFile'), `${c.objectFile} should hold exactly one object, found ${objDocs.length}`);
      raw = objDocs[0]?.value;
    }
    const object = decodeAdmissionObject(raw);
    if (!object.ok) {
      throw admissionError('ADMISSION_DECODE_FAILED', `${where(source, at(c.objectFile === undefined ? 'object' : 'objectFile'))}: ${object.reason}`);
    }
    const sc: SuiteCase = { name: c.name, namespace: c.namespace, operation: c.operation ?? 'CREATE', object: object.object, expected: c.expected };
    for (const key of ['expectedMessage', 'expectedWarning'] as const) {
      const spec = c[key];
      if (spec === undefined) continue;
      try {
        sc[key] = textMatcher(spec);
      } catch (err) {
        meaning(source, at(key), `should be a substring or a valid /regex/, got ${JSON.stringify(spec)} (${describeError(err)})`);
      }
    }
    cases.push(sc);
  }
  const cosign = doc.spec.signatures?.cosign ?? [];
  cosign.forEach((s, k) => {
    try {
      canonicalPublicKey(s.publicKey);
    } catch (err) {
      meaning(source, ['spec', 'signatures', 'cosign', k, 'publicKey'], `should be a PEM public key (${describeError(err)})`);
    }
  });
  return {
    file,
    name: doc.metadata.name,
    policiesDir: resolve(dirname(file), doc.spec.policies ?? '../policies'),
    attachedSigned: doc.spec.signatures?.attached ?? [],
    cosignSigned: cosign,
    cases,
  };
}

export async function loadSuite(file: string): Promise<LoadedSuite> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw admissionError('ADMISSION_READ_FAILED', `${file}: cannot read the suite: ${describeError(err)}`, err);
  }
  return parseSuite(text, file, (p) => readFile(resolve(dirname(file), p), 'utf8'));
}

/** Every case must name a namespace the lab state declares. */
export function checkSuiteAgainstState(suite: LoadedSuite, state: LabState): void {
  for (const c of suite.cases) {
    if (!state.namespaces.has(c.namespace)) {
      throw admissionError(
        'ADMISSION_MEANING_INVALID',
        `${suite.file}: case ${JSON.stringify(c.name)}: namespace ${JSON.stringify(c.namespace)} is not declared in ${suite.policiesDir}; declared are ${[...state.namespaces.keys()].join(', ')}`,
      );
    }
  }
}

/** Runs every case (pure apart from the engine's own verifiers, which are static here). */
export async function runSuite(suite: LoadedSuite, state: LabState, now: () => Date = () => new Date(0)): Promise<SuiteResult> {
  checkSuiteAgainstState(suite, state);
  const engine = createEngine(state, {
    imageVerifier: new StaticImageVerifier(suite.attachedSigned),
    cosignVerifier: new StaticCosignVerifier(suite.cosignSigned),
    now,
  });
  const records: DecisionRecord[] = [];
  engine.onDecision((r) => records.push(r));
  const results: CaseResult[] = [];
  for (const c of suite.cases) {
    const decision = await engine.review({ uid: c.name, operation: c.operation, namespace: c.namespace, object: c.object });
    const problems: string[] = [];
    const got = decision.allowed ? 'allow' : 'deny';
    if (got !== c.expected) problems.push(`expected ${c.expected}, got ${got}${decision.message === undefined ? '' : ` (${decision.message})`}`);
    if (c.expectedMessage !== undefined && !c.expectedMessage.test(decision.message ?? '')) {
      problems.push(`denial message should match ${c.expectedMessage.source}, got ${JSON.stringify(decision.message ?? '')}`);
    }
    if (c.expectedWarning !== undefined && !decision.warnings.some((w) => c.expectedWarning?.test(w))) {
      problems.push(`a warning should match ${c.expectedWarning.source}, got ${JSON.stringify(decision.warnings)}`);
    }
    const result: CaseResult = { name: c.name, passed: problems.length === 0, expected: c.expected, decision };
    if (problems.length > 0) result.mismatch = problems.join('; ');
    results.push(result);
  }
  const passed = results.filter((r) => r.passed).length;
  return { suite: suite.name, results, passed, failed: results.length - passed, records };
}

/** Loads the suite and its policies (or `policiesDir` instead) and runs it. */
export async function runSuiteFile(file: string, policiesDir?: string): Promise<SuiteResult> {
  const suite = await loadSuite(file);
  const state = await loadLabState(policiesDir ?? suite.policiesDir);
  return runSuite(suite, state);
}
