/**
 * Loads the declarative scenario files in stages, wrapping the error of each
 * stage so that it names the file, the line and the field:
 *
 *   1. parse YAML                 → SPEC_YAML_SYNTAX
 *   2. validate against the schema → SPEC_SCHEMA
 *   3. decode into typed objects  (by construction, once stage 2 passed);
 *      embedded Kubernetes objects (a Workload's `pod` or `manifest`) are
 *      checked against the Kubernetes schema → SPEC_KUBERNETES
 *   4. check meaning across files  → SPEC_SEMANTIC, SPEC_DUPLICATE
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, isMap, isNode, isScalar, parseAllDocuments, type Document } from 'yaml';
import { LabError } from '../errors.ts';
import { checkKubernetesObject, type KubernetesKind } from './kubernetes.ts';
import { workloadPodProblems } from './pod.ts';
import { ATTACKS_REQUIRING_IDS, ATTACK_TECHNIQUES } from './mitre.ts';
import { closest } from '../suggest.ts';
import { SCHEMAS, type Kind, type KindTypes, type Attack, type LabProfile, type Workload } from './schemas.ts';

export type SpecErrorCode = 'SPEC_YAML_SYNTAX' | 'SPEC_SCHEMA' | 'SPEC_KUBERNETES' | 'SPEC_SEMANTIC' | 'SPEC_DUPLICATE' | 'SPEC_READ';

/** Where a problem is: file relative to the project, 1-based line and column. */
export interface SpecLocation {
  file: string;
  line?: number;
  col?: number;
}

export class SpecError extends LabError<SpecErrorCode> {
  readonly location: SpecLocation;
  constructor(code: SpecErrorCode, location: SpecLocation, detail: string, options?: { cause?: unknown }) {
    const where = location.line ? `${location.file}:${location.line}:${location.col ?? 1}` : location.file;
    super(code, `${where}: ${detail}`, options);
    this.location = location;
  }
}

// verbose: an error carries its schema, whose `properties` name the known fields.
const ajv = new Ajv({ allErrors: false, strict: false, verbose: true });
const validators = new Map<Kind, ValidateFunction>();
function validatorFor(kind: Kind): ValidateFunction {
  let v = validators.get(kind);
  if (!v) {
    v = ajv.compile(SCHEMAS[kind]);
    validators.set(kind, v);
  }
  return v;
}

function describeValue(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** `/spec/target/path` → `spec.target.path` */
function fieldPath(instancePath: string, missing?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (missing) parts.push(missing);
  return parts.length ? parts.join('.') : '(document)';
}

function schemaMessage(err: ErrorObject, value: unknown, all: ErrorObject[]): string {
  switch (err.keyword) {
    case 'required':
      return `${fieldPath(err.instancePath, String(err.params.missingProperty))}: is required`;
    case 'additionalProperties': {
      const field = String(err.params.additionalProperty);
      const known = Object.keys((err.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const [near] = closest(field, known);
      const hint = near ? `; did you mean "${near}"?` : '';
      return `${fieldPath(err.instancePath, field)}: is not a known field${hint} (known here: ${known.join(', ') || 'none'})`;
    }
    case 'const':
      return `${fieldPath(err.instancePath)}: should be ${JSON.stringify(err.params.allowedValue)}, got ${describeValue(value)}`;
    case 'anyOf': {
      // A union of literals fails one `const` per branch, then `anyOf`.
      const allowed = all
        .filter((e) => e.keyword === 'const' && e.instancePath === err.instancePath)
        .map((e) => JSON.stringify(e.params.allowedValue));
      const expected = allowed.length ? `should be one of ${allowed.join(', ')}` : 'does not match any allowed shape';
      return `${fieldPath(err.instancePath)}: ${expected}, got ${describeValue(value)}`;
    }
    default:
      return `${fieldPath(err.instancePath)}: ${err.message ?? 'is invalid'}, got ${describeValue(value)}`;
  }
}

function valueAt(data: unknown, instancePath: string): unknown {
  let cur: unknown = data;
  for (const part of instancePath.split('/').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Where the key `field` of the mapping at `instancePath` is written: an unknown field is reported at itself, not at its parent. */
function locateKey(doc: Document, counter: LineCounter, file: string, instancePath: string, field: string): SpecLocation {
  const parts = instancePath.split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const parent = parts.length === 0 ? doc.contents : doc.getIn(parts, true);
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === field);
    if (pair && isNode(pair.key) && pair.key.range) {
      const pos = counter.linePos(pair.key.range[0]);
      return { file, line: pos.line, col: pos.col };
    }
  }
  return locate(doc, counter, file, instancePath);
}

function locate(doc: Document, counter: LineCounter, file: string, instancePath: string): SpecLocation {
  const parts = instancePath.split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  // Walk up until a node exists (a missing field is reported at its parent).
  for (let n = parts.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(parts.slice(0, n), true);
    if (isNode(node) && node.range) {
      const pos = counter.linePos(node.range[0]);
      return { file, line: pos.line, col: pos.col };
    }
  }
  return { file };
}

export interface LoadedDoc<K extends Kind = Kind> {
  kind: K;
  file: string;
  /** 1-based line where the document starts. */
  line: number;
  object: KindTypes[K];
  /** Where a field (a JSON pointer such as `/spec/target`) is, for messages. */
  at(pointer: string): SpecLocation;
}

/** Stages 1–3 for one file's text, which may hold several YAML documents. */
export function parseSpecText(text: string, file: string, expectedKind?: Kind): LoadedDoc[] {
  const counter = new LineCounter();
  const docs: LoadedDoc[] = [];
  for (const doc of parseAllDocuments(text, { lineCounter: counter, prettyErrors: false })) {
    if ('errors' in doc && doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const pos = counter.linePos(e.pos[0]);
      throw new SpecError('SPEC_YAML_SYNTAX', { file, line: pos.line, col: pos.col }, `YAML syntax error: ${e.message.split('\n')[0]}`);
    }
    const data: unknown = doc.toJS();
    if (data === null || data === undefined) continue;
    const start = counter.linePos(doc.contents?.range?.[0] ?? 0).line;
    const kindValue = (data as { kind?: unknown }).kind;
    if (typeof kindValue !== 'string' || !(kindValue in SCHEMAS)) {
      throw new SpecError(
        'SPEC_SCHEMA',
        locate(doc, counter, file, '/kind'),
        `kind: should be one of ${Object.keys(SCHEMAS).join(', ')}, got ${describeValue(kindValue)}`,
      );
    }
    const kind = kindValue as Kind;
    if (expectedKind && kind !== expectedKind) {
      throw new SpecError('SPEC_SCHEMA', locate(doc, counter, file, '/kind'), `kind: this folder holds ${expectedKind} objects, got ${kind}`);
    }
    const validate = validatorFor(kind);
    if (!validate(data)) {
      const errors = validate.errors ?? [];
      const err = errors.find((e) => e.keyword === 'anyOf') ?? errors[0]!;
      const where =
        err.keyword === 'additionalProperties'
          ? locateKey(doc, counter, file, err.instancePath, String(err.params.additionalProperty))
          : locate(doc, counter, file, err.instancePath);
      throw new SpecError('SPEC_SCHEMA', where, schemaMessage(err, valueAt(data, err.instancePath), errors));
    }
    docs.push({ kind, file, line: start, object: data as KindTypes[Kind], at: (pointer) => locate(doc, counter, file, pointer) });
  }
  return docs;
}


export interface Catalog {
  root: string;
  profiles: Map<string, LoadedDoc<'LabProfile'>>;
  workloads: Map<string, LoadedDoc<'Workload'>>;
  attacks: Map<string, LoadedDoc<'Attack'>>;
}

const FOLDERS: Record<string, Kind> = { profiles: 'LabProfile', workloads: 'Workload', attacks: 'Attack' };

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && /\.ya?ml$/.test(e.name)).map((e) => join(dir, e.name)).sort();
}

/** Loads scenarios/{profiles,workloads,attacks}/*.yaml and checks them together. */
export async function loadCatalog(scenariosDir: string, projectRoot = join(scenariosDir, '..')): Promise<Catalog> {
  const catalog: Catalog = { root: scenariosDir, profiles: new Map(), workloads: new Map(), attacks: new Map() };
  for (const [folder, kind] of Object.entries(FOLDERS)) {
    for (const path of await yamlFiles(join(scenariosDir, folder))) {
      const file = relative(projectRoot, path);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (cause) {
        throw new SpecError('SPEC_READ', { file }, `cannot read: ${(cause as Error).message}`, { cause });
      }
      for (const doc of parseSpecText(text, file, kind)) {
        const map = (kind === 'LabProfile' ? catalog.profiles : kind === 'Workload' ? catalog.workloads : catalog.attacks) as Map<string, LoadedDoc>;
        const name = doc.object.metadata.name;
        const previous = map.get(name);
        if (previous) {
          throw new SpecError('SPEC_DUPLICATE', { file, line: doc.line }, `${kind} "${name}" is already defined in ${previous.file}:${previous.line}`);
        }
        map.set(name, doc);
        if (kind === 'Workload') await checkEmbeddedKubernetes(doc as LoadedDoc<'Workload'>);
      }
    }
  }
  checkCatalog(catalog);
  return catalog;
}

/** Stage 3, for a Workload: its embedded pod or manifest is a valid Kubernetes object. */
export async function checkEmbeddedKubernetes(doc: LoadedDoc<'Workload'>): Promise<void> {
  const { pod, manifest } = doc.object.spec;
  const checks: [string, KubernetesKind, unknown][] = [];
  if (pod) checks.push(['/spec/pod', 'PodTemplateSpec', pod]);
  if (manifest) {
    if (manifest.kind !== 'Pod' && manifest.kind !== 'Deployment') {
      throw new SpecError('SPEC_KUBERNETES', doc.at('/spec/manifest/kind'), `spec.manifest.kind: should be "Pod" (v1) or "Deployment" (apps/v1), got ${describeValue(manifest.kind)}`);
    }
    checks.push(['/spec/manifest', manifest.kind, manifest]);
  }
  for (const [at, kind, value] of checks) {
    const problem = await checkKubernetesObject(kind, value);
    if (problem) {
      const pointer = `${at}${problem.pointer}`;
      throw new SpecError('SPEC_KUBERNETES', doc.at(pointer), `${fieldPath(pointer)}: ${problem.message}, got ${describeValue(valueAt(doc.object, pointer))}`);
    }
  }
}

/** Stage 4: meaning across files. */
export function checkCatalog(catalog: Catalog): void {
  for (const doc of catalog.workloads.values()) {
    const problem = workloadPodProblems(doc.object as Workload);
    if (problem) throw new SpecError('SPEC_SEMANTIC', doc.at(problem.pointer), problem.message);
  }
  for (const doc of catalog.attacks.values()) {
    const a = doc.object as Attack;
    if (!catalog.workloads.has(a.spec.target.workload)) {
      throw new SpecError(
        'SPEC_SEMANTIC',
        doc.at('/spec/target/workload'),
        `spec.target.workload: attack "${a.metadata.name}" targets workload "${a.spec.target.workload}", which does not exist; known workloads: ${[...catalog.workloads.keys()].join(', ') || '(none)'}`,
      );
    }
    for (const profile of Object.keys(a.spec.expected)) {
      if (!catalog.profiles.has(profile)) {
        throw new SpecError(
          'SPEC_SEMANTIC',
          doc.at(`/spec/expected/${profile}`),
          `spec.expected.${profile}: no lab profile is named "${profile}"; known profiles: ${[...catalog.profiles.keys()].join(', ')}`,
        );
      }
    }
    const declaredOnly = (['check', 'cleanup'] as const).find((f) => a.spec[f] !== undefined && a.spec.steps === undefined);
    if (declaredOnly) throw new SpecError('SPEC_SEMANTIC', doc.at(`/spec/${declaredOnly}`), `spec.${declaredOnly}: only with spec.steps (a declared attack)`);
    if ((a.spec.technique === undefined) === (a.spec.steps === undefined)) {
      throw new SpecError('SPEC_SEMANTIC', doc.at(a.spec.steps ? '/spec/steps' : '/spec'), `spec: attack "${a.metadata.name}" needs either spec.technique (TypeScript) or spec.steps (declared), not ${a.spec.steps ? 'both' : 'neither'}`);
    }
    for (const [path, command] of declaredCommands(a)) checkCommand(doc, a.metadata.name, path, command);
    if (a.spec.steps && !a.spec.check && !a.spec.steps.some((s) => s.expect)) {
      throw new SpecError('SPEC_SEMANTIC', doc.at('/spec/steps'), `spec.steps: attack "${a.metadata.name}" declares no expect (on a step or in spec.check), so nothing would judge its effect`);
    }
    if (a.spec.attack === undefined && ATTACKS_REQUIRING_IDS.has(a.metadata.name)) {
      throw new SpecError('SPEC_SEMANTIC', doc.at('/spec'), `spec.attack: attack "${a.metadata.name}" must name its MITRE ATT&CK technique ids, e.g. attack: [T1525]`);
    }
    for (const [i, id] of (a.spec.attack ?? []).entries()) {
      if (!(id in ATTACK_TECHNIQUES)) {
        throw new SpecError(
          'SPEC_SEMANTIC',
          doc.at(`/spec/attack/${i}`),
          `spec.attack.${i}: "${id}" is not in the lab's ATT&CK table (lab/spec/mitre.ts); known: ${Object.keys(ATTACK_TECHNIQUES).join(', ')}`,
        );
      }
    }
    const vanilla = a.spec.expected.vanilla;
    if (vanilla !== 'succeeded') {
      throw new SpecError(
        'SPEC_SEMANTIC',
        doc.at('/spec/expected/vanilla'),
        `spec.expected.vanilla: should be "succeeded" — on the vanilla control the attack must work, or the scenario proves nothing; got ${describeValue(vanilla)}`,
      );
    }
  }
}

type DeclaredCommand = { in: string; script?: string; run?: string[] };

/** Every command of a declared attack, with its JSON pointer. */
function declaredCommands(a: Attack): [string, DeclaredCommand][] {
  const out: [string, DeclaredCommand][] = [];
  for (const [i, step] of (a.spec.steps ?? []).entries()) out.push([`/spec/steps/${i}`, step]);
  if (a.spec.check) out.push(['/spec/check', a.spec.check]);
  for (const [i, step] of (a.spec.cleanup ?? []).entries()) out.push([`/spec/cleanup/${i}`, step]);
  for (const [i, block] of (a.spec.blockedBy ?? []).entries()) if (block.proof) out.push([`/spec/blockedBy/${i}/proof`, block.proof]);
  return out;
}

/**
 * A command gives `run` or `script`, not both; a script only on the node,
 * because it runs under the harness's own sh, and in the container (or in
 * its namespaces, once that sh has exited) audit would report that shell as
 * a process of the container, the attack's (lab/attacks/declarative.ts).
 */
function checkCommand(doc: LoadedDoc, attack: string, path: string, command: DeclaredCommand): void {
  if ((command.script === undefined) === (command.run === undefined)) {
    throw new SpecError('SPEC_SEMANTIC', doc.at(path), `${fieldPath(path)}: attack "${attack}" gives ${command.script === undefined ? 'neither' : 'both'} run (an argv) ${command.script === undefined ? 'nor' : 'and'} script (POSIX sh); give one`);
  }
  if (command.in !== 'node' && command.script !== undefined) {
    const where = command.in === 'container' ? 'inside the container' : "in the container's namespaces";
    throw new SpecError(
      'SPEC_SEMANTIC',
      doc.at(`${path}/script`),
      `${fieldPath(`${path}/script`)}: attack "${attack}" runs a script ${where}; give run (an argv) there instead, e.g. run: [cat, $TARGET_PATH]. A script runs under the harness's own sh, which audit would report as a shell of the container, the attack's; when the attack is a shell, say so: run: [sh, -c, "…"]`,
    );
  }
}

export function getProfile(catalog: Catalog, name: string): LabProfile {
  const doc = catalog.profiles.get(name);
  if (!doc) throw unknown('lab profile', name, catalog.profiles.keys());
  return doc.object as LabProfile;
}
export function getWorkload(catalog: Catalog, name: string): Workload {
  const doc = catalog.workloads.get(name);
  if (!doc) throw unknown('workload', name, catalog.workloads.keys());
  return doc.object as Workload;
}
export function getAttack(catalog: Catalog, name: string): Attack {
  const doc = catalog.attacks.get(name);
  if (!doc) throw unknown('attack', name, catalog.attacks.keys());
  return doc.object as Attack;
}
function unknown(what: string, name: string, known: Iterable<string>): SpecError {
  return new SpecError('SPEC_SEMANTIC', { file: 'scenarios/' }, `unknown ${what} "${name}"; known: ${[...known].join(', ') || '(none)'}`);
}
