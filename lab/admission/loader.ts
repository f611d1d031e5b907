/**
 * Loading policies, namespaces and the lab admission config from YAML, in
 * four stages, each wrapping its own error (after falcosecurity/event-generator
 * pkg/test/loader):
 *
 *   1. parse YAML (line and column)          ADMISSION_YAML_INVALID
 *   2. validate against the kind's schema    ADMISSION_SCHEMA_INVALID
 *      `file:line: path.to.field: should be …, got …`
 *   3. decode into typed objects             ADMISSION_DECODE_FAILED
 *   4. check meaning (ranges, keys, names)   ADMISSION_MEANING_INVALID
 *
 * `loadLabStateFromTexts` is the pure core; `loadLabState` only reads files.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describeError, isLabError } from '../errors.ts';
import { admissionError } from './errors.ts';
import { normalisePatternPrefix, parseImageReference, parseRepositoryPrefix } from './image.ts';
import { POD_POLICY_ACTION_LABEL, POD_POLICY_LABEL, PSS_LEVELS, PSS_MODES, type PssLevel } from './policies/pod-security-standards.ts';
import { DEFAULT_PROTECTED_NAMESPACES } from './policies/verify-image-signatures.ts';
import {
  type AdmissionConfigDoc,
  DOCUMENT_SCHEMAS,
  type NamespaceDoc,
  type OperationPolicyDoc,
  type SecurityPolicyDoc,
} from './schema.ts';
import type { LabelSelector, NamespaceSelector } from './selector.ts';
import type { EnforcementMode, NamespaceInfo } from './types.ts';
import { formatPath, validateAgainst } from './validate.ts';
import { canonicalPublicKey } from './verifiers.ts';
import { type YamlDocument, parseYamlDocuments } from './yaml-docs.ts';

/** Everything the engine needs to know about the lab cluster. */
export interface LabState {
  namespaces: ReadonlyMap<string, NamespaceInfo>;
  securityPolicies: readonly SecurityPolicyDoc[];
  operationPolicies: readonly OperationPolicyDoc[];
  podSecurityStandards: { defaultPolicy: PssLevel; enforcementAction: EnforcementMode };
  /** Namespace globs whose pods need attached signatures. */
  protectedNamespaces: readonly string[];
  /** Files the state came from. */
  files: readonly string[];
}

export const METADATA_NAME_LABEL = 'kubernetes.io/metadata.name';

export type DecodedDocument =
  | { kind: 'SecurityPolicy'; doc: SecurityPolicyDoc; source: YamlDocument }
  | { kind: 'OperationPolicy'; doc: OperationPolicyDoc; source: YamlDocument }
  | { kind: 'Namespace'; doc: NamespaceDoc; source: YamlDocument }
  | { kind: 'AdmissionConfig'; doc: AdmissionConfigDoc; source: YamlDocument }
  | { kind: 'AdmissionSuite'; doc: unknown; source: YamlDocument };

/** `file:line: path` for messages. */
export function where(source: YamlDocument, path: readonly (string | number)[]): string {
  return `${source.file}:${source.lineOf(path)}: ${formatPath(path)}`;
}

/** Stage 2: validate one parsed document against the schema of its `kind`. */
export function validateDocument(source: YamlDocument, allowedKinds: readonly string[]): DecodedDocument {
  const value = source.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw admissionError('ADMISSION_SCHEMA_INVALID', `${where(source, [])}: should be a mapping with apiVersion, kind, metadata and spec, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
  }
  const kind = (value as Record<string, unknown>)['kind'];
  if (typeof kind !== 'string' || !allowedKinds.includes(kind)) {
    throw admissionError('ADMISSION_SCHEMA_INVALID', `${where(source, ['kind'])}: should be one of ${allowedKinds.join(', ')}, got ${kind === undefined ? 'nothing' : JSON.stringify(kind)}`);
  }
  const entry = DOCUMENT_SCHEMAS[kind];
  if (entry === undefined) throw admissionError('ADMISSION_SCHEMA_INVALID', `${where(source, ['kind'])}: no schema for kind ${kind}`);
  const issues = validateAgainst(entry.schema, value);
  if (issues.length > 0) {
    const lines = issues.slice(0, 10).map((i) => `${source.file}:${source.lineOf(i.path)}: ${formatPath(i.path)}: ${i.message}`);
    if (issues.length > 10) lines.push(`… and ${issues.length - 10} more`);
    throw admissionError('ADMISSION_SCHEMA_INVALID', `${kind} does not match ${entry.file}:\n  ${lines.join('\n  ')}`);
  }
  return { kind, doc: value, source } as DecodedDocument;
}

// -- stage 4: meaning ------------------------------------------------------------

function meaning(source: YamlDocument, path: readonly (string | number)[], message: string): never {
  throw admissionError('ADMISSION_MEANING_INVALID', `${where(source, path)}: ${message}`);
}

function checkLabelSelector(source: YamlDocument, path: (string | number)[], selector: LabelSelector): void {
  if (selector.matchLabels === undefined && selector.matchExpressions === undefined) {
    meaning(source, path, 'should set matchLabels or matchExpressions, got neither (an empty selector would match every namespace)');
  }
  (selector.matchExpressions ?? []).forEach((req, i) => {
    const values = req.values ?? [];
    if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
      meaning(source, [...path, 'matchExpressions', i, 'values'], `should list at least one value for operator ${req.operator}, got none`);
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
      meaning(source, [...path, 'matchExpressions', i, 'values'], `should be empty for operator ${req.operator}, got ${values.length} value(s)`);
    }
  });
}

function checkNamespaceSelector(source: YamlDocument, path: (string | number)[], selector: NamespaceSelector, exactlyOne: boolean): void {
  const set = (['matchNames', 'excludeNames', 'labelSelector'] as const).filter((k) => selector[k] !== undefined);
  if (set.length === 0) meaning(source, path, 'should set one of matchNames, excludeNames or labelSelector, got none');
  if (exactlyOne && set.length > 1) meaning(source, path, `should set exactly one of matchNames, excludeNames or labelSelector, got ${set.join(' and ')}`);
  if (selector.labelSelector !== undefined) checkLabelSelector(source, [...path, 'labelSelector'], selector.labelSelector);
}

function checkRanges(source: YamlDocument, path: (string | number)[], ranges: readonly { min: number; max: number }[] | undefined): void {
  (ranges ?? []).forEach((r, i) => {
    if (r.min > r.max) meaning(source, [...path, i], `min ${r.min} should be ≤ max ${r.max}`);
  });
}

function checkIdRule(source: YamlDocument, path: (string | number)[], rule: { rule: string; ranges?: { min: number; max: number }[] } | undefined): void {
  if (rule === undefined) return;
  if ((rule.rule === 'MustRunAs' || rule.rule === 'MayRunAs') && (rule.ranges ?? []).length === 0) {
    meaning(source, [...path, 'ranges'], `should list at least one range for rule ${rule.rule}, got none (nothing could ever match)`);
  }
  checkRanges(source, [...path, 'ranges'], rule.ranges);
}

function checkRegex(source: YamlDocument, path: (string | number)[], pattern: string | undefined): void {
  if (pattern === undefined) return;
  try {
    new RegExp(pattern);
  } catch (err) {
    meaning(source, path, `should be a valid regular expression, got ${JSON.stringify(pattern)} (${describeError(err)})`);
  }
}

export function checkSecurityPolicy(source: YamlDocument, doc: SecurityPolicyDoc): void {
  const p = doc.spec.policies;
  const base = ['spec', 'policies'];
  if (doc.spec.match.namespaceSelector === undefined) meaning(source, ['spec', 'match', 'namespaceSelector'], 'should be present (SecurityPolicy requires a namespace selector), got nothing');
  checkNamespaceSelector(source, ['spec', 'match', 'namespaceSelector'], doc.spec.match.namespaceSelector, true);
  if (doc.spec.match.labelSelector !== undefined) checkLabelSelector(source, ['spec', 'match', 'labelSelector'], doc.spec.match.labelSelector);
  checkRanges(source, [...base, 'allowedHostPorts'], p.allowedHostPorts);
  checkIdRule(source, [...base, 'fsGroup'], p.fsGroup);
  checkIdRule(source, [...base, 'runAsGroup'], p.runAsGroup);
  checkIdRule(source, [...base, 'supplementalGroups'], p.supplementalGroups);
  if (p.runAsUser !== undefined) {
    if (p.runAsUser.rule === 'MustRunAs' && (p.runAsUser.ranges ?? []).length === 0) {
      meaning(source, [...base, 'runAsUser', 'ranges'], 'should list at least one range for rule MustRunAs, got none (nothing could ever match)');
    }
    checkRanges(source, [...base, 'runAsUser', 'ranges'], p.runAsUser.ranges);
  }
  if (p.allowedVolumes !== undefined && p.allowedVolumes.includes('none') && p.allowedVolumes.length > 1) {
    meaning(source, [...base, 'allowedVolumes'], `should list "none" alone, got ${JSON.stringify(p.allowedVolumes)}`);
  }
  (p.verifyImageSignatures ?? []).forEach((entry, i) => {
    const r = entry.reference;
    if (r !== '*' && (r.endsWith('*') ? normalisePatternPrefix(r.slice(0, -1)) === undefined : parseImageReference(r) === undefined)) {
      meaning(source, [...base, 'verifyImageSignatures', i, 'reference'], `should be an image reference, or a prefix ending in one * whose registry is complete (e.g. "registry.example.com/team/*"), got ${JSON.stringify(r)}, which cannot be normalised as the runtime resolves references`);
    }
    entry.publicKeys.forEach((pem, k) => {
      try {
        canonicalPublicKey(pem);
      } catch (err) {
        meaning(source, [...base, 'verifyImageSignatures', i, 'publicKeys', k], `should be a PEM public key, got ${pem.length} characters that do not parse (${describeError(err)})`);
      }
    });
  });
}

export function checkOperationPolicy(source: YamlDocument, doc: OperationPolicyDoc): void {
  const p = doc.spec.policies;
  const base = ['spec', 'policies'];
  const match = doc.spec.match;
  if (match.namespaceSelector === undefined && match.labelSelector === undefined) {
    meaning(source, ['spec', 'match'], 'should set namespaceSelector or labelSelector, got neither');
  }
  if (match.namespaceSelector !== undefined) checkNamespaceSelector(source, ['spec', 'match', 'namespaceSelector'], match.namespaceSelector, false);
  if (match.labelSelector !== undefined) checkLabelSelector(source, ['spec', 'match', 'labelSelector'], match.labelSelector);
  if (p.requiredResources !== undefined && p.requiredResources.limits === undefined && p.requiredResources.requests === undefined) {
    meaning(source, [...base, 'requiredResources'], 'should set limits or requests, got neither');
  }
  (p.requiredLabels?.labels ?? []).forEach((l, i) => checkRegex(source, [...base, 'requiredLabels', 'labels', i, 'allowedRegex'], l.allowedRegex));
  (p.requiredAnnotations?.annotations ?? []).forEach((l, i) => checkRegex(source, [...base, 'requiredAnnotations', 'annotations', i, 'allowedRegex'], l.allowedRegex));
  (p.allowedRepos ?? []).forEach((repo, i) => {
    if (parseRepositoryPrefix(repo) === undefined) {
      meaning(source, [...base, 'allowedRepos', i], `should be a registry, optionally with whole path segments (e.g. "registry.example.com/team"), got ${JSON.stringify(repo)}, which cannot be read as one`);
    }
  });
  const rl = p.replicaLimits;
  if (rl?.minReplicas !== undefined && rl.maxReplicas !== undefined && rl.minReplicas > rl.maxReplicas) {
    meaning(source, [...base, 'replicaLimits'], `minReplicas ${rl.minReplicas} should be ≤ maxReplicas ${rl.maxReplicas}`);
  }
}

export function checkNamespace(source: YamlDocument, doc: NamespaceDoc): void {
  const labels = doc.metadata.labels ?? {};
  const level = labels[POD_POLICY_LABEL];
  if (level !== undefined && !(PSS_LEVELS as readonly string[]).includes(level)) {
    meaning(source, ['metadata', 'labels', POD_POLICY_LABEL], `should be one of ${PSS_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
  const mode = labels[POD_POLICY_ACTION_LABEL];
  if (mode !== undefined && !(PSS_MODES as readonly string[]).includes(mode)) {
    meaning(source, ['metadata', 'labels', POD_POLICY_ACTION_LABEL], `should be one of ${PSS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
  }
  const nameLabel = labels[METADATA_NAME_LABEL];
  if (nameLabel !== undefined && nameLabel !== doc.metadata.name) {
    meaning(source, ['metadata', 'labels', METADATA_NAME_LABEL], `should equal the namespace name ${JSON.stringify(doc.metadata.name)} (the API server sets it), got ${JSON.stringify(nameLabel)}`);
  }
}

// -- assembling the state ----------------------------------------------------------

export interface SourceText {
  file: string;
  text: string;
}

const LAB_STATE_KINDS = ['SecurityPolicy', 'OperationPolicy', 'Namespace', 'AdmissionConfig'] as const;

/** Pure core: texts in, LabState out. */
export function loadLabStateFromTexts(texts: readonly SourceText[]): LabState {
  const decoded: DecodedDocument[] = [];
  for (const { file, text } of texts) {
    for (const source of parseYamlDocuments(text, file)) decoded.push(validateDocument(source, LAB_STATE_KINDS));
  }

  const namespaces = new Map<string, NamespaceInfo>();
  const securityPolicies: SecurityPolicyDoc[] = [];
  const operationPolicies: OperationPolicyDoc[] = [];
  const seen = new Map<string, YamlDocument>();
  let config: { doc: AdmissionConfigDoc; source: YamlDocument } | undefined;

  for (const d of decoded) {
    const name = (d.doc as { metadata: { name: string } }).metadata.name;
    const key = `${d.kind}/${name}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      meaning(d.source, ['metadata', 'name'], `${d.kind} ${JSON.stringify(name)} is declared twice (first at ${earlier.file}:${earlier.lineOf(['metadata', 'name'])})`);
    }
    seen.set(key, d.source);
    // Stage 3 (decode) is the narrowing by kind; stage 4 checks each kind's meaning.
    try {
      switch (d.kind) {
        case 'SecurityPolicy':
          checkSecurityPolicy(d.source, d.doc);
          securityPolicies.push(d.doc);
          break;
        case 'OperationPolicy':
          checkOperationPolicy(d.source, d.doc);
          operationPolicies.push(d.doc);
          break;
        case 'Namespace':
          checkNamespace(d.source, d.doc);
          namespaces.set(d.doc.metadata.name, {
            name: d.doc.metadata.name,
            labels: { ...(d.doc.metadata.labels ?? {}), [METADATA_NAME_LABEL]: d.doc.metadata.name },
          });
          break;
        case 'AdmissionConfig':
          if (config !== undefined) {
            meaning(d.source, ['metadata', 'name'], `only one AdmissionConfig may exist, found a second one (first at ${config.source.file}:${config.source.lineOf([])})`);
          }
          config = { doc: d.doc, source: d.source };
          break;
        default:
          throw admissionError('ADMISSION_DECODE_FAILED', `${where(d.source, ['kind'])}: kind ${d.kind} does not belong in a policies directory`);
      }
    } catch (err) {
      if (isLabError(err)) throw err;
      throw admissionError('ADMISSION_DECODE_FAILED', `${where(d.source, [])}: could not decode ${d.kind}: ${describeError(err)}`, err);
    }
  }

  const pss = config?.doc.spec.podSecurityStandards;
  return {
    namespaces,
    securityPolicies,
    operationPolicies,
    podSecurityStandards: {
      defaultPolicy: pss?.defaultPolicy ?? 'baseline',
      enforcementAction: pss?.enforcementAction ?? 'deny',
    },
    protectedNamespaces: config?.doc.spec.imageSignatureVerification?.namespaces ?? DEFAULT_PROTECTED_NAMESPACES,
    files: texts.map((t) => t.file),
  };
}

/** Every `*.yaml` / `*.yml` under `dir`, recursively, sorted. */
export async function listYamlFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch (err) {
    throw admissionError('ADMISSION_READ_FAILED', `${dir}: cannot list the policies directory: ${describeError(err)}`, err);
  }
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Thin shell: reads every YAML file under `dir` and loads the lab state.
 * File names in messages are relative to the current directory.
 */
export async function loadLabState(dir: string): Promise<LabState> {
  const files = await listYamlFiles(dir);
  if (files.length === 0) throw admissionError('ADMISSION_READ_FAILED', `${dir}: expected at least one .yaml file with policies or namespaces, found none`);
  const texts: SourceText[] = [];
  for (const file of files) {
    try {
      texts.push({ file: relative(process.cwd(), file) || file, text: await readFile(file, 'utf8') });
    } catch (err) {
      throw admissionError('ADMISSION_READ_FAILED', `${file}: cannot read: ${describeError(err)}`, err);
    }
  }
  return loadLabStateFromTexts(texts);
}
