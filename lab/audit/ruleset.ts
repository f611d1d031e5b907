/**
 * Stage 3 of loading: apply the items of every file, in order, to one rule
 * set, the way Falco's rule_loader::collector does (falcosecurity/falco,
 * userspace/engine/rule_loader_collector.cpp, read not copied):
 *
 * - A list, macro or rule defined again replaces the earlier one in place.
 * - `append` (legacy `append: true`, or `override: {key: append}`) extends:
 *   list items are added at the end; conditions, outputs and descriptions
 *   get a space and the new text; tags are united; exception values are
 *   added to the exception of the same name, or a new exception is added.
 * - `override: {key: replace}` replaces just those keys of a rule.
 * - A rule with only `enabled` switches an existing rule on or off.
 * - Every definition takes the next index; a macro may only use macros
 *   whose index is below its own "visibility" (the index of its last
 *   definition or append). Rules see every macro.
 */
import { RulesLoadError, type RulesLocation } from './errors.ts';
import type {
  ExceptionEntry,
  ExceptionSpec,
  Located,
  ParsedRulesFile,
  Priority,
  RuleFields,
} from './loader.ts';
import { ALL_OPS, LIST_OPS, parseComp } from './condition.ts';

/** rule_loader_collector's THROW: these refusals are LOAD_ERR_VALIDATE in Falco. */
const VALIDATE = { falco: 'LOAD_ERR_VALIDATE' };

/** A condition built from one or more YAML scalars (appends add pieces). */
export interface ConditionText {
  text: string;
  /** Where each piece starts in `text`, and where that piece is in its file. */
  pieces: { start: number; loc: RulesLocation }[];
}

export function conditionText(piece: Located<string>): ConditionText {
  return { text: piece.value, pieces: [{ start: 0, loc: piece.loc }] };
}

function appendText(prev: ConditionText, piece: Located<string>): ConditionText {
  const start = prev.text.length + 1;
  return { text: `${prev.text} ${piece.value}`, pieces: [...prev.pieces, { start, loc: piece.loc }] };
}

export interface ListDef {
  name: string;
  items: Located<string>[];
  index: number;
  visibility: number;
  loc: RulesLocation;
}

export interface MacroDef {
  name: string;
  condition: ConditionText;
  index: number;
  visibility: number;
  loc: RulesLocation;
}

export interface ExceptionDef {
  name: string;
  fields: ExceptionEntry;
  comps: ExceptionEntry;
  values: ExceptionEntry[];
  loc: RulesLocation;
}

export interface RuleDef {
  name: string;
  desc: string;
  condition: ConditionText;
  output: Located<string>;
  priority: Priority;
  source: string;
  enabled: boolean;
  tags: string[];
  exceptions: ExceptionDef[];
  skipIfUnknownFilter: boolean;
  /** Falco's warn_evttypes (default true): warn when the condition restricts no event type. */
  warnEvttypes: boolean;
  index: number;
  loc: RulesLocation;
}

export interface PluginRequirement {
  name: string;
  version: string;
  alternatives: { name: string; version: string }[];
  loc: RulesLocation;
}

export interface FileSummary {
  file: string;
  rules: number;
  macros: number;
  lists: number;
}

export interface CollectedRules {
  /** In definition order (Map keeps insertion order; redefinitions keep their place). */
  lists: Map<string, ListDef>;
  macros: Map<string, MacroDef>;
  rules: Map<string, RuleDef>;
  /** The highest required_engine_version seen, as x.y.z. */
  requiredEngineVersion?: string;
  plugins: PluginRequirement[];
  files: FileSummary[];
  warnings: string[];
}

export interface CollectOptions {
  /** The engine version this lab claims, x.y.z. */
  engineVersion: string;
}

/** Applies all files' items in order. Throws RulesLoadError. */
export function collectRules(files: ParsedRulesFile[], options: CollectOptions): CollectedRules {
  const out: CollectedRules = {
    lists: new Map(),
    macros: new Map(),
    rules: new Map(),
    plugins: [],
    files: [],
    warnings: [],
  };
  let index = 0;
  for (const file of files) {
    const summary: FileSummary = { file: file.name, rules: 0, macros: 0, lists: 0 };
    out.files.push(summary);
    out.warnings.push(...file.warnings);
    for (const item of file.items) {
      switch (item.kind) {
        case 'required_engine_version': {
          const required = parseVersion(item.version, true);
          if (!required) {
            throw new RulesLoadError('ENGINE_VERSION', `required_engine_version should be a number or x.y.z, got '${item.version}'`, item.loc);
          }
          const ours = parseVersion(options.engineVersion, false)!;
          if (!compatible(ours, required)) {
            throw new RulesLoadError(
              'ENGINE_VERSION',
              `rules require engine version ${required.join('.')}, but this engine is ${ours.join('.')} (same major and at least the required version is needed)`,
              item.loc,
            );
          }
          const prev = out.requiredEngineVersion ? parseVersion(out.requiredEngineVersion, false) : undefined;
          if (!prev || compareVersions(required, prev) > 0) out.requiredEngineVersion = required.join('.');
          break;
        }
        case 'required_plugin_versions':
          for (const p of item.plugins) {
            for (const alt of [p, ...p.alternatives]) {
              if (!parseVersion(alt.version, false)) {
                throw new RulesLoadError('ENGINE_VERSION', `plugin '${alt.name}' version should be x.y.z, got '${alt.version}'`, item.loc);
              }
            }
            out.plugins.push({ ...p, loc: item.loc });
          }
          break;
        case 'list': {
          summary.lists++;
          const prev = out.lists.get(item.name);
          if (item.mode === 'append') {
            if (!prev) throw noPrevious('list', item.name, item.loc, 'append to');
            prev.items = [...prev.items, ...item.items];
            prev.visibility = index++;
          } else if (prev) {
            Object.assign(prev, { items: item.items, visibility: index++, loc: item.loc });
          } else {
            out.lists.set(item.name, { name: item.name, items: item.items, index, visibility: index, loc: item.loc });
            index++;
          }
          break;
        }
        case 'macro': {
          summary.macros++;
          const prev = out.macros.get(item.name);
          if (item.mode === 'append') {
            if (!prev) throw noPrevious('macro', item.name, item.loc, 'append to');
            prev.condition = appendText(prev.condition, item.condition);
            prev.visibility = index++;
          } else if (prev) {
            Object.assign(prev, { condition: conditionText(item.condition), visibility: index++, loc: item.loc });
          } else {
            const def: MacroDef = { name: item.name, condition: conditionText(item.condition), index, visibility: index, loc: item.loc };
            out.macros.set(item.name, def);
            index++;
          }
          break;
        }
        case 'rule': {
          summary.rules++;
          const prev = out.rules.get(item.name);
          if (item.mode === 'define') {
            const f = item.fields;
            const source = f.source ?? 'syscall';
            if (prev && prev.source !== source) {
              throw new RulesLoadError('RULES_SCHEMA', `rule redefined with source '${source}', but it was defined with source '${prev.source}'`, item.loc, VALIDATE);
            }
            const def: RuleDef = {
              name: item.name,
              desc: f.desc,
              condition: conditionText(f.condition),
              output: f.output,
              priority: f.priority,
              source,
              enabled: f.enabled ?? true,
              tags: dedupe(f.tags ?? []),
              exceptions: (f.exceptions ?? []).map((ex) => validateNewException(ex)),
              skipIfUnknownFilter: f.skipIfUnknownFilter ?? false,
              warnEvttypes: f.warnEvttypes ?? true,
              index: prev ? prev.index : index,
              loc: item.loc,
            };
            out.rules.set(item.name, def);
            index++;
          } else if (item.mode === 'enable') {
            if (!prev) throw noPrevious('rule', item.name, item.loc, "set 'enabled' on");
            prev.enabled = item.enabled;
          } else {
            if (!prev) {
              const verb = Object.keys(item.append).length > 0 ? 'append to' : 'replace keys of';
              throw noPrevious('rule', item.name, item.loc, verb);
            }
            applyAppend(prev, item.append);
            applyReplace(prev, item.replace);
            index++;
          }
          break;
        }
      }
    }
  }
  return out;
}

function applyAppend(rule: RuleDef, a: RuleFields): void {
  if (a.condition) rule.condition = appendText(rule.condition, a.condition);
  if (a.output) rule.output = { value: `${rule.output.value} ${a.output.value}`, loc: rule.output.loc };
  if (a.desc) rule.desc = `${rule.desc} ${a.desc}`;
  if (a.tags) rule.tags = dedupe([...rule.tags, ...a.tags]);
  for (const ex of a.exceptions ?? []) {
    const prev = rule.exceptions.find((e) => e.name === ex.name);
    if (!prev) {
      if (ex.values.length === 0) {
        throw new RulesLoadError('RULES_SCHEMA', `new exception '${ex.name}' appended without values`, ex.loc);
      }
      rule.exceptions.push(validateNewException(ex));
      continue;
    }
    if (ex.fields || ex.comps) {
      throw new RulesLoadError(
        'RULES_SCHEMA',
        `exception '${ex.name}' already exists: an append can add values only, not fields or comps`,
        ex.loc,
      );
    }
    prev.values = [...prev.values, ...ex.values];
  }
}

function applyReplace(rule: RuleDef, r: RuleFields): void {
  if (r.condition) rule.condition = conditionText(r.condition);
  if (r.output) rule.output = r.output;
  if (r.desc !== undefined) rule.desc = r.desc;
  if (r.tags) rule.tags = dedupe(r.tags);
  if (r.priority) rule.priority = r.priority;
  if (r.enabled !== undefined) rule.enabled = r.enabled;
  if (r.skipIfUnknownFilter !== undefined) rule.skipIfUnknownFilter = r.skipIfUnknownFilter;
  if (r.warnEvttypes !== undefined) rule.warnEvttypes = r.warnEvttypes;
  if (r.exceptions) rule.exceptions = r.exceptions.map((ex) => validateNewException(ex));
}

const FIELD_TEXT = /^[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+(?:\[[^\]]*\])?$/;

/**
 * Falco's validate_exception_info: default comps (`=` per field, or `in`
 * for a single field), equal lengths, known operators, and a single field
 * only with in/pmatch/intersects.
 */
function validateNewException(ex: ExceptionSpec): ExceptionDef {
  const fields = ex.fields;
  if (!fields) throw new RulesLoadError('RULES_SCHEMA', `exception '${ex.name}' needs 'fields'`, ex.loc);
  const fieldTexts = fields.list ? fields.items : [fields];
  for (const f of fieldTexts) {
    if (f.list || !FIELD_TEXT.test(f.item.trim())) {
      throw new RulesLoadError('BAD_VALUE', `exception '${ex.name}': fields should be field names like proc.name, got ${describeEntry(f)}`, ex.loc);
    }
  }
  let comps = ex.comps;
  if (fields.list) {
    comps ??= { list: true, items: fields.items.map(() => ({ list: false as const, item: '=' })) };
    if (!comps.list || comps.items.length !== fields.items.length) {
      const n = comps.list ? comps.items.length : 1;
      throw new RulesLoadError('RULES_SCHEMA', `exception '${ex.name}': fields and comps should have the same length, got ${fields.items.length} fields and ${n} comps`, ex.loc, VALIDATE);
    }
    for (const c of comps.items) checkOperator(c, ex, false);
  } else {
    comps ??= { list: false, item: 'in' };
    if (comps.list) throw new RulesLoadError('RULES_SCHEMA', `exception '${ex.name}': with a single field, comps should be a single operator, got a list`, ex.loc);
    checkOperator(comps, ex, true);
  }
  return { name: ex.name, fields, comps, values: ex.values, loc: ex.loc };
}

/**
 * Falco's validate_exception_info: a known operator, or (Falco 0.44) a
 * string operator with a oneof/anyof/allof modifier; with a single field,
 * in/pmatch/intersects or a modifier operator.
 */
function checkOperator(c: ExceptionEntry, ex: ExceptionSpec, single: boolean): void {
  const comp = c.list ? undefined : parseComp(c.item);
  if (comp === undefined || comp.op === 'exists') {
    throw new RulesLoadError('BAD_OPERATOR', `exception '${ex.name}': ${describeEntry(c)} is not a supported comparison operator (one of ${ALL_OPS.filter((o) => o !== 'exists').join(', ')}, or a string operator with oneof, anyof or allof)`, ex.loc, VALIDATE);
  }
  if (single && !LIST_OPS.includes(comp.op) && !comp.mod) {
    throw new RulesLoadError('BAD_OPERATOR', `exception '${ex.name}': with a single field, comps must be one of in, pmatch, intersects or a modifier operator (e.g. startswith oneof), got '${comp.op}'`, ex.loc, VALIDATE);
  }
}

function describeEntry(e: ExceptionEntry): string {
  return e.list ? 'a list' : `'${e.item}'`;
}

function noPrevious(kind: 'list' | 'macro' | 'rule', name: string, loc: RulesLocation, verb: string): RulesLoadError {
  return new RulesLoadError('NO_PREVIOUS', `cannot ${verb} ${kind} '${name}': no ${kind} of that name is defined earlier in this or a previous file`, loc);
}

function dedupe(tags: string[]): string[] {
  return [...new Set(tags)];
}

/** `2` → [0,2,0] (Falco's implicit form), `0.57.0` → [0,57,0]. */
export function parseVersion(text: string, allowInteger: boolean): [number, number, number] | undefined {
  const t = text.trim();
  if (allowInteger && /^\d+$/.test(t)) return [0, Number(t), 0];
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(t);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** sinsp_version::compatible_with: same major, and ours at least the required. */
function compatible(ours: number[], required: number[]): boolean {
  return ours[0] === required[0] && compareVersions(ours, required) >= 0;
}
