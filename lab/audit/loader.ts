/**
 * Stage 1 and 2 of loading a rules file: parse the YAML, then check each
 * item's shape and decode it into a typed item. Meaning (does the macro
 * exist, does the condition parse) is checked later, in ruleset.ts and
 * compile.ts.
 *
 * The format is Falco's rules file: falco.org/docs/concepts/rules/ (basic
 * elements, overriding, exceptions) and the key set of Falco's
 * userspace/engine/rule_json_schema.h. Rules files are operator input and
 * may come from anywhere: nothing in them is trusted until it has been
 * decoded here.
 */
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Node as YamlNode,
  type Pair,
  type YAMLMap,
} from 'yaml';
import { formatLocation, RulesLoadError, type ItemKind, type RulesLocation } from './errors.ts';

/** One rules file's name (for messages) and text. */
export interface RulesSource {
  name: string;
  content: string;
}

/** A YAML scalar's text and where it starts in its file. */
export interface Located<T> {
  value: T;
  loc: RulesLocation;
}

export type Priority =
  | 'Emergency'
  | 'Alert'
  | 'Critical'
  | 'Error'
  | 'Warning'
  | 'Notice'
  | 'Informational'
  | 'Debug';

/** Lower number = more severe, as in syslog. */
export const PRIORITIES: readonly Priority[] = [
  'Emergency',
  'Alert',
  'Critical',
  'Error',
  'Warning',
  'Notice',
  'Informational',
  'Debug',
];

/** Case-insensitive; `info` is Falco's accepted short form of informational. */
export function parsePriority(text: string): Priority | undefined {
  const lower = text.trim().toLowerCase();
  if (lower === 'info') return 'Informational';
  return PRIORITIES.find((p) => p.toLowerCase() === lower);
}

/** An exception entry: a scalar, or a list of entries (fields, comps, values). */
export type ExceptionEntry = { list: false; item: string } | { list: true; items: ExceptionEntry[] };

export interface ExceptionSpec {
  name: string;
  fields?: ExceptionEntry;
  comps?: ExceptionEntry;
  values: ExceptionEntry[];
  loc: RulesLocation;
}

export type Mode = 'define' | 'append' | 'replace';

export interface ListSpec {
  kind: 'list';
  name: string;
  items: Located<string>[];
  mode: Mode;
  loc: RulesLocation;
}

export interface MacroSpec {
  kind: 'macro';
  name: string;
  condition: Located<string>;
  mode: Mode;
  loc: RulesLocation;
}

/** The keys of a rule that can be given, appended to or replaced. */
export interface RuleFields {
  desc?: string;
  condition?: Located<string>;
  output?: Located<string>;
  priority?: Priority;
  source?: string;
  enabled?: boolean;
  tags?: string[];
  exceptions?: ExceptionSpec[];
  warnEvttypes?: boolean;
  skipIfUnknownFilter?: boolean;
}

export type RuleSpec =
  | { kind: 'rule'; mode: 'define'; name: string; fields: Required<Pick<RuleFields, 'condition' | 'output' | 'priority' | 'desc'>> & RuleFields; loc: RulesLocation }
  | { kind: 'rule'; mode: 'update'; name: string; append: RuleFields; replace: RuleFields; loc: RulesLocation }
  | { kind: 'rule'; mode: 'enable'; name: string; enabled: boolean; loc: RulesLocation };

export interface EngineVersionSpec {
  kind: 'required_engine_version';
  version: string;
  loc: RulesLocation;
}

export interface PluginVersionsSpec {
  kind: 'required_plugin_versions';
  plugins: { name: string; version: string; alternatives: { name: string; version: string }[] }[];
  loc: RulesLocation;
}

export type RulesItem = ListSpec | MacroSpec | RuleSpec | EngineVersionSpec | PluginVersionsSpec;

export interface ParsedRulesFile {
  name: string;
  items: RulesItem[];
  /**
   * What Falco's reader warns about, one line each with file, position and
   * Falco's warning code: deprecated forms, unknown items and keys (ignored),
   * invalid macro and list names, duplicate exception names, appended
   * exceptions with no values.
   */
  warnings: string[];
}

/** The keys Falco's reader expects (rule_loader_reader.cpp); any other key is LOAD_UNKNOWN_KEY and ignored. */
const RULE_KEYS = new Set([
  'rule',
  'desc',
  'condition',
  'output',
  'priority',
  'tags',
  'exceptions',
  'enabled',
  'source',
  'append',
  'override',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'capture',
  'capture_duration',
]);
const MACRO_KEYS = new Set(['macro', 'condition', 'append', 'override']);
const LIST_KEYS = new Set(['list', 'items', 'append', 'override']);
const RULE_APPENDABLE = new Set(['condition', 'output', 'desc', 'tags', 'exceptions']);
const RULE_REPLACEABLE = new Set([
  'condition',
  'output',
  'desc',
  'priority',
  'tags',
  'exceptions',
  'enabled',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'capture',
  'capture_duration',
  'capture_events',
  'capture_filesize',
]);
/** Names as the filter grammar lexes them: macros are identifiers, lists bare strings. */
const MACRO_NAME = /^[a-zA-Z]+[a-zA-Z0-9_]*$/;
const LIST_NAME = /^[^()"'\s=,]+$/;

/** Parses one rules file into typed items. Throws RulesLoadError (YAML_SYNTAX, RULES_SCHEMA). */
export function parseRulesFile(source: RulesSource): ParsedRulesFile {
  return new FileReader(source).read();
}

class FileReader {
  private readonly lines = new LineCounter();
  private readonly items: RulesItem[] = [];
  private readonly warnings: string[] = [];
  /** The item being read: where an error about a missing key points. */
  private current: YamlNode | undefined;

  private readonly source: RulesSource;

  constructor(source: RulesSource) {
    this.source = source;
  }

  read(): ParsedRulesFile {
    const docs = parseAllDocuments(this.source.content, { lineCounter: this.lines, uniqueKeys: true });
    for (const doc of docs) {
      const err = doc.errors[0];
      if (err) {
        const pos = err.linePos?.[0];
        const loc: RulesLocation = { file: this.source.name, line: pos?.line, column: pos?.col };
        throw new RulesLoadError('YAML_SYNTAX', `YAML does not parse: ${firstLine(err.message)}`, loc, { cause: err });
      }
      const contents = doc.contents;
      if (contents === null || (isScalar(contents) && contents.value === null)) continue;
      if (!isSeq(contents)) {
        throw this.schema(contents, undefined, 'rules content should be a YAML sequence of items (- rule: ..., - macro: ..., - list: ...)', `a ${nodeKind(contents)}`);
      }
      for (const node of contents.items) {
        if (node === null || (isScalar(node) && node.value === null)) continue;
        this.readItem(node as YamlNode);
      }
    }
    return { name: this.source.name, items: this.items, warnings: this.warnings };
  }

  private locOf(node: YamlNode | null | undefined, item?: RulesLocation['item'], key?: string): RulesLocation {
    const loc: RulesLocation = { file: this.source.name };
    const offset = (node ?? this.current)?.range?.[0];
    if (offset !== undefined) {
      const pos = this.lines.linePos(offset);
      loc.line = pos.line;
      loc.column = pos.col;
    }
    if (item) loc.item = item;
    if (key) loc.key = key;
    return loc;
  }

  private schema(node: YamlNode | null | undefined, item: RulesLocation['item'] | undefined, expected: string, got: string, key?: string): RulesLoadError {
    return new RulesLoadError('RULES_SCHEMA', `${expected}, got ${got}`, this.locOf(node, item, key));
  }

  /** A warning as Falco's load result prints it: where, Falco's code, what. */
  private warn(code: string, what: string, loc: RulesLocation): void {
    this.warnings.push(`${formatLocation(loc)}: ${code}: ${what}`);
  }

  private readItem(node: YamlNode): void {
    if (!isMap(node)) {
      throw this.schema(node, undefined, 'each item should be a mapping (- rule: ..., - macro: ..., - list: ...)', `a ${nodeKind(node)}`);
    }
    this.current = node;
    const map = entries(node, (n, msg) => this.schema(n, undefined, msg, 'a non-string key'));
    if (map.has('required_engine_version')) return this.readEngineVersion(node, map);
    if (map.has('required_plugin_versions')) return this.readPluginVersions(node, map);
    if (map.has('list')) return this.readList(node, map);
    if (map.has('macro')) return this.readMacro(node, map);
    if (map.has('rule')) return this.readRule(node, map);
    const keys = [...map.keys()].join(', ');
    // rule_loader_reader: "Unknown top level item" is LOAD_UNKNOWN_ITEM, and the item is ignored.
    this.warn(
      'LOAD_UNKNOWN_ITEM',
      `unknown top-level item with keys ${keys || '(none)'} is ignored (an item has a key rule, macro, list, required_engine_version or required_plugin_versions)`,
      this.locOf(node),
    );
  }

  /** Keys not in `allowed` are LOAD_UNKNOWN_KEY warnings (warn_unknown_keys) and are ignored; returns them. */
  private checkKeys(map: Map<string, Pair>, allowed: Set<string>, item: RulesLocation['item']): string[] {
    const ignored: string[] = [];
    for (const [key, pair] of map) {
      if (!allowed.has(key)) {
        this.warn('LOAD_UNKNOWN_KEY', `unknown key '${key}' is ignored (a ${item?.kind ?? 'item'} takes ${[...allowed].join(', ')})`, this.locOf(pair.key as YamlNode, item, key));
        ignored.push(key);
      }
    }
    return ignored;
  }

  /** Names the ignored keys in a missing-key error, so that a typo is easy to spot. */
  private missing(key: string, ignored: string[], loc: RulesLocation): RulesLoadError {
    const hint = ignored.length > 0 ? ` (unknown key${ignored.length > 1 ? 's' : ''} ${ignored.map((k) => `'${k}'`).join(', ')} ignored, as Falco does)` : '';
    return new RulesLoadError('RULES_SCHEMA', `missing key '${key}'${hint}`, loc);
  }

  private value(map: Map<string, Pair>, key: string): YamlNode | undefined {
    const v = map.get(key)?.value;
    return v === null || v === undefined ? undefined : (v as YamlNode);
  }

  /** A non-empty string scalar; numbers are taken as their text. */
  private str(map: Map<string, Pair>, key: string, item: RulesLocation['item'] | undefined, required: true): Located<string>;
  private str(map: Map<string, Pair>, key: string, item: RulesLocation['item'] | undefined, required: false): Located<string> | undefined;
  private str(map: Map<string, Pair>, key: string, item: RulesLocation['item'] | undefined, required: boolean): Located<string> | undefined {
    const pair = map.get(key);
    if (!pair) {
      if (!required) return undefined;
      throw new RulesLoadError('RULES_SCHEMA', `missing key '${key}'`, this.locOf(undefined, item));
    }
    const node = pair.value as YamlNode | null;
    if (node === null || (isScalar(node) && node.value === null)) {
      throw this.schema((node ?? pair.key) as YamlNode, item, `key '${key}' should have a value`, 'nothing', key);
    }
    const text = scalarText(node);
    if (text === undefined) throw this.schema(node, item, `key '${key}' should be a string`, `a ${nodeKind(node)}`, key);
    if (text.trim() === '') throw this.schema(node, item, `key '${key}' should not be empty`, 'an empty string', key);
    return { value: text, loc: this.locOf(node, item, key) };
  }

  private bool(map: Map<string, Pair>, key: string, item: RulesLocation['item']): boolean | undefined {
    const node = this.value(map, key);
    if (node === undefined) {
      if (map.has(key)) throw this.schema(map.get(key)!.key as YamlNode, item, `key '${key}' should be true or false`, 'nothing', key);
      return undefined;
    }
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    throw this.schema(node, item, `key '${key}' should be true or false`, describeNode(node), key);
  }

  private strList(map: Map<string, Pair>, key: string, item: RulesLocation['item']): Located<string>[] | undefined {
    const node = this.value(map, key);
    if (node === undefined) {
      if (map.has(key)) return [];
      return undefined;
    }
    if (!isSeq(node)) throw this.schema(node, item, `key '${key}' should be a sequence`, describeNode(node), key);
    return node.items.map((child, i) => {
      const text = child === null ? undefined : scalarText(child as YamlNode);
      if (text === undefined) {
        throw this.schema(child as YamlNode, item, `${key}[${i}] should be a string or a number`, child === null ? 'nothing' : describeNode(child as YamlNode), key);
      }
      return { value: text, loc: this.locOf(child as YamlNode, item, key) };
    });
  }

  private readEngineVersion(node: YAMLMap, map: Map<string, Pair>): void {
    this.checkKeys(map, new Set(['required_engine_version']), undefined);
    const v = this.str(map, 'required_engine_version', undefined, true);
    this.items.push({ kind: 'required_engine_version', version: v.value.trim(), loc: this.locOf(node, undefined, 'required_engine_version') });
  }

  private readPluginVersions(node: YAMLMap, map: Map<string, Pair>): void {
    const item = undefined;
    this.checkKeys(map, new Set(['required_plugin_versions']), item);
    const seq = this.value(map, 'required_plugin_versions');
    if (!seq || !isSeq(seq)) throw this.schema(seq ?? node, item, 'required_plugin_versions should be a sequence', seq ? describeNode(seq) : 'nothing');
    const plugins: PluginVersionsSpec['plugins'] = [];
    for (const p of seq.items) {
      if (!isMap(p)) throw this.schema(p as YamlNode, item, 'each plugin requirement should be a mapping with name and version', describeNode(p as YamlNode));
      const pm = entries(p, (n, msg) => this.schema(n, item, msg, 'a non-string key'));
      this.checkKeys(pm, new Set(['name', 'version', 'alternatives']), item);
      const name = this.str(pm, 'name', item, true).value;
      const version = this.str(pm, 'version', item, true).value;
      const alternatives: { name: string; version: string }[] = [];
      const alts = this.value(pm, 'alternatives');
      if (alts !== undefined) {
        if (!isSeq(alts)) throw this.schema(alts, item, 'alternatives should be a sequence', describeNode(alts));
        for (const a of alts.items) {
          if (!isMap(a)) throw this.schema(a as YamlNode, item, 'each alternative should be a mapping with name and version', describeNode(a as YamlNode));
          const am = entries(a, (n, msg) => this.schema(n, item, msg, 'a non-string key'));
          this.checkKeys(am, new Set(['name', 'version']), item);
          alternatives.push({ name: this.str(am, 'name', item, true).value, version: this.str(am, 'version', item, true).value });
        }
      }
      plugins.push({ name, version, alternatives });
    }
    this.items.push({ kind: 'required_plugin_versions', plugins, loc: this.locOf(node, item, 'required_plugin_versions') });
  }

  /** Reads `override:` and checks each key against what this kind allows. */
  private overrides(
    map: Map<string, Pair>,
    item: RulesLocation['item'],
    appendable: Set<string>,
    replaceable: Set<string>,
  ): { append: Set<string>; replace: Set<string> } {
    const append = new Set<string>();
    const replace = new Set<string>();
    const node = this.value(map, 'override');
    if (node === undefined) {
      if (map.has('override')) throw this.schema(map.get('override')!.key as YamlNode, item, "'override' should be a mapping of key: append|replace", 'nothing', 'override');
      return { append, replace };
    }
    if (!isMap(node)) throw this.schema(node, item, "'override' should be a mapping of key: append|replace", describeNode(node), 'override');
    const om = entries(node, (n, msg) => this.schema(n, item, msg, 'a non-string key', 'override'));
    if (om.size === 0) throw this.schema(node, item, "'override' should name at least one key", 'an empty mapping', 'override');
    for (const [key, pair] of om) {
      const op = pair.value === null ? undefined : scalarText(pair.value as YamlNode);
      if (op === 'append') {
        if (!appendable.has(key)) {
          throw this.schema(pair.key as YamlNode, item, `key '${key}' cannot be appended to${replaceable.has(key) ? ", use 'replace' instead" : ''}`, `'${key}: append'`, 'override');
        }
        append.add(key);
      } else if (op === 'replace') {
        if (!replaceable.has(key)) throw this.schema(pair.key as YamlNode, item, `key '${key}' cannot be replaced`, `'${key}: replace'`, 'override');
        replace.add(key);
      } else {
        const allowed = [appendable.has(key) ? 'append' : '', replaceable.has(key) ? 'replace' : ''].filter(Boolean).join(' or ');
        throw this.schema((pair.value ?? pair.key) as YamlNode, item, `override for '${key}' should be ${allowed || 'nothing: the key cannot be overridden'}`, `'${op ?? ''}'`, 'override');
      }
    }
    return { append, replace };
  }

  private mode(map: Map<string, Pair>, item: RulesLocation['item'], key: string, node: YAMLMap): Mode {
    const legacy = this.bool(map, 'append', item) ?? false;
    const ov = this.overrides(map, item, new Set([key]), new Set([key]));
    if (legacy && (ov.append.size > 0 || ov.replace.size > 0)) {
      throw new RulesLoadError('RULES_SCHEMA', "'append' and 'override' cannot be used together", this.locOf(node, item));
    }
    if (legacy) {
      this.warn('LOAD_DEPRECATED_ITEM', `'append: true' is deprecated; use 'override: {${key}: append}'`, this.locOf(node, item));
      return 'append';
    }
    if (ov.append.has(key)) return 'append';
    if (ov.replace.has(key)) return 'replace';
    return 'define';
  }

  private readList(node: YAMLMap, map: Map<string, Pair>): void {
    const tmp = { kind: 'list' as ItemKind, name: '?' };
    const name = this.str(map, 'list', tmp, true).value;
    const item = { kind: 'list' as ItemKind, name };
    const ignored = this.checkKeys(map, LIST_KEYS, item);
    if (!LIST_NAME.test(name)) {
      this.warn('LOAD_INVALID_LIST_NAME', `list name should match [^()"'\\s=,]+ (Falco loads it, but a condition cannot name it)`, this.locOf(node, item, 'list'));
    }
    const items = this.strList(map, 'items', item);
    if (items === undefined) throw this.missing('items', ignored, this.locOf(node, item));
    const mode = this.mode(map, item, 'items', node);
    this.items.push({ kind: 'list', name, items, mode, loc: this.locOf(node, item) });
  }

  private readMacro(node: YAMLMap, map: Map<string, Pair>): void {
    const tmp = { kind: 'macro' as ItemKind, name: '?' };
    const name = this.str(map, 'macro', tmp, true).value;
    const item = { kind: 'macro' as ItemKind, name };
    const ignored = this.checkKeys(map, MACRO_KEYS, item);
    if (!MACRO_NAME.test(name)) {
      this.warn('LOAD_INVALID_MACRO_NAME', 'macro name should match [a-zA-Z]+[a-zA-Z0-9_]* (Falco loads it, but a condition cannot name it)', this.locOf(node, item, 'macro'));
    }
    if (!map.has('condition')) throw this.missing('condition', ignored, this.locOf(node, item));
    const condition = this.str(map, 'condition', item, true);
    const mode = this.mode(map, item, 'condition', node);
    this.items.push({ kind: 'macro', name, condition, mode, loc: this.locOf(node, item) });
  }

  private readRule(node: YAMLMap, map: Map<string, Pair>): void {
    const tmp = { kind: 'rule' as ItemKind, name: '?' };
    const name = this.str(map, 'rule', tmp, true).value;
    const item = { kind: 'rule' as ItemKind, name };
    const loc = this.locOf(node, item);
    const ignored = this.checkKeys(map, RULE_KEYS, item);
    for (const key of ignored) map.delete(key);
    const legacyAppend = this.bool(map, 'append', item) ?? false;
    const ov = this.overrides(map, item, RULE_APPENDABLE, RULE_REPLACEABLE);
    const hasOverrides = ov.append.size > 0 || ov.replace.size > 0;
    if (legacyAppend && hasOverrides) throw new RulesLoadError('RULES_SCHEMA', "'append' and 'override' cannot be used together", loc);

    if (hasOverrides) {
      // Every overridable key present must be named under override, and the other way round.
      for (const key of new Set([...RULE_APPENDABLE, ...RULE_REPLACEABLE])) {
        const present = map.has(key);
        const named = ov.append.has(key) || ov.replace.has(key);
        if (present && !named) {
          throw this.schema(map.get(key)!.key as YamlNode, item, `key '${key}' has no matching entry under 'override'`, `'${key}' alone`, key);
        }
        if (named && !present) {
          throw this.schema(map.get('override')!.value as YamlNode, item, `override names '${key}' but the rule does not give '${key}'`, 'no such key', 'override');
        }
      }
      for (const key of map.keys()) {
        if (!['rule', 'override'].includes(key) && !RULE_APPENDABLE.has(key) && !RULE_REPLACEABLE.has(key)) {
          throw this.schema(map.get(key)!.key as YamlNode, item, `key '${key}' cannot be used together with 'override'`, `'${key}'`, key);
        }
      }
      const append = this.ruleFields(map, item, ov.append, true);
      const replace = this.ruleFields(map, item, ov.replace, true);
      this.items.push({ kind: 'rule', mode: 'update', name, append, replace, loc });
      return;
    }

    if (legacyAppend) {
      this.warn('LOAD_DEPRECATED_ITEM', "'append: true' is deprecated; use 'override'", loc);
      const keys = new Set(['condition', 'exceptions'].filter((k) => map.has(k)));
      if (keys.size === 0) throw new RulesLoadError('RULES_SCHEMA', 'an appended rule must give a condition or exceptions', loc);
      const append = this.ruleFields(map, item, keys, true);
      this.items.push({ kind: 'rule', mode: 'update', name, append, replace: {}, loc });
      return;
    }

    if (!map.has('condition') && !map.has('output') && !map.has('desc') && !map.has('priority')) {
      const enabled = this.bool(map, 'enabled', item);
      if (enabled === undefined) {
        throw new RulesLoadError('RULES_SCHEMA', 'a rule needs condition, output, desc and priority (or only enabled, to switch an existing rule)', loc);
      }
      this.warn('LOAD_DEPRECATED_ITEM', "a rule with only 'enabled' is deprecated; use 'override: {enabled: replace}'", loc);
      this.items.push({ kind: 'rule', mode: 'enable', name, enabled, loc });
      return;
    }

    const all = new Set([...RULE_REPLACEABLE, 'source']);
    const fields = this.ruleFields(map, item, all, false);
    for (const key of ['condition', 'output', 'desc', 'priority'] as const) {
      if (fields[key] === undefined) throw this.missing(key, ignored, loc);
    }
    this.items.push({
      kind: 'rule',
      mode: 'define',
      name,
      fields: fields as RuleFields & Required<Pick<RuleFields, 'condition' | 'output' | 'priority' | 'desc'>>,
      loc,
    });
  }

  private ruleFields(map: Map<string, Pair>, item: RulesLocation['item'], keys: Set<string>, update: boolean): RuleFields {
    const out: RuleFields = {};
    if (keys.has('condition') && map.has('condition')) out.condition = this.str(map, 'condition', item, true);
    if (keys.has('output') && map.has('output')) {
      const o = this.str(map, 'output', item, true);
      out.output = { value: o.value.trim(), loc: o.loc };
    }
    if (keys.has('desc') && map.has('desc')) out.desc = this.str(map, 'desc', item, true).value;
    if (keys.has('priority') && map.has('priority')) {
      const p = this.str(map, 'priority', item, true);
      const priority = parsePriority(p.value);
      if (!priority) {
        throw new RulesLoadError('RULES_SCHEMA', `priority should be one of ${PRIORITIES.join(', ')} (any case), got '${p.value.trim()}'`, p.loc);
      }
      out.priority = priority;
    }
    if (keys.has('source') && map.has('source')) out.source = this.str(map, 'source', item, true).value.trim();
    if (keys.has('enabled') && map.has('enabled')) out.enabled = this.bool(map, 'enabled', item);
    if (keys.has('warn_evttypes') && map.has('warn_evttypes')) out.warnEvttypes = this.bool(map, 'warn_evttypes', item);
    if (keys.has('skip-if-unknown-filter') && map.has('skip-if-unknown-filter')) {
      out.skipIfUnknownFilter = this.bool(map, 'skip-if-unknown-filter', item);
    }
    if (keys.has('tags') && map.has('tags')) out.tags = (this.strList(map, 'tags', item) ?? []).map((t) => t.value);
    if (keys.has('exceptions') && map.has('exceptions')) out.exceptions = this.exceptions(map, item, update);
    for (const key of ['capture', 'capture_duration', 'capture_events', 'capture_filesize']) {
      // Accepted for compatibility; the lab has no capture files.
      if (keys.has(key) && map.has(key) && key === 'capture') this.bool(map, key, item);
    }
    return out;
  }

  private exceptions(map: Map<string, Pair>, item: RulesLocation['item'], update: boolean): ExceptionSpec[] {
    const node = this.value(map, 'exceptions');
    if (node === undefined) return [];
    if (!isSeq(node)) throw this.schema(node, item, 'exceptions should be a sequence', describeNode(node), 'exceptions');
    const out: ExceptionSpec[] = [];
    for (const ex of node.items) {
      if (!isMap(ex)) throw this.schema(ex as YamlNode, item, 'each exception should be a mapping with name, fields, comps, values', describeNode(ex as YamlNode), 'exceptions');
      const em = entries(ex, (n, msg) => this.schema(n, item, msg, 'a non-string key', 'exceptions'));
      const name = this.str(em, 'name', item, true).value;
      const loc = this.locOf(ex, item, `exceptions.${name}`);
      if (out.some((o) => o.name === name)) {
        // Falco keeps both and warns (LOAD_EXCEPTION_NAME_NOT_UNIQUE); each adds its own 'and not (...)'.
        this.warn('LOAD_EXCEPTION_NAME_NOT_UNIQUE', `multiple definitions of exception '${name}' in the same rule`, loc);
      }
      const spec: ExceptionSpec = { name, values: [], loc };
      const fields = this.value(em, 'fields');
      if (fields !== undefined) spec.fields = this.entry(fields, item, `exceptions.${name}.fields`);
      else if (!update) throw new RulesLoadError('RULES_SCHEMA', `exception '${name}' needs 'fields'`, loc);
      const comps = this.value(em, 'comps');
      if (comps !== undefined) spec.comps = this.entry(comps, item, `exceptions.${name}.comps`);
      const values = this.value(em, 'values');
      if (values !== undefined) {
        if (!isSeq(values)) throw this.schema(values, item, `exception '${name}' values should be a sequence`, describeNode(values), 'exceptions');
        spec.values = values.items.map((v) => this.entry(v as YamlNode, item, `exceptions.${name}.values`));
      } else if (update) {
        this.warn('LOAD_APPEND_NO_VALUES', `overriding/appending exception '${name}' with no values`, loc);
      }
      out.push(spec);
    }
    return out;
  }

  private entry(node: YamlNode | null, item: RulesLocation['item'], key: string): ExceptionEntry {
    if (node !== null && isSeq(node)) return { list: true, items: node.items.map((n) => this.entry(n as YamlNode, item, key)) };
    const text = node === null ? undefined : scalarText(node);
    if (text === undefined || text === '') {
      throw this.schema(node ?? undefined, item, `${key} should be a non-empty string or a sequence`, node === null ? 'nothing' : describeNode(node), key);
    }
    return { list: false, item: text };
  }
}

function entries(node: YAMLMap, fail: (n: YamlNode, msg: string) => Error): Map<string, Pair> {
  const out = new Map<string, Pair>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (typeof key !== 'string') throw fail(pair.key as YamlNode, 'mapping keys should be strings');
    out.set(key, pair as Pair);
  }
  return out;
}

/**
 * The text of a string, number or boolean scalar; undefined for anything
 * else. yaml-cpp (Falco's reader) decodes any scalar as a string, so
 * `condition: true` is the text "true" there too.
 */
function scalarText(node: YamlNode): string | undefined {
  if (!isScalar(node)) return undefined;
  if (typeof node.value === 'string') return node.value;
  if (typeof node.value === 'number' || typeof node.value === 'bigint' || typeof node.value === 'boolean') return node.source ?? String(node.value);
  return undefined;
}

function nodeKind(node: YamlNode | null | undefined): string {
  if (node === null || node === undefined) return 'nothing';
  if (isMap(node)) return 'mapping';
  if (isSeq(node)) return 'sequence';
  if (isScalar(node)) return node.value === null ? 'null' : typeof node.value;
  return 'node';
}

function describeNode(node: YamlNode): string {
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    return `${typeof v} ${JSON.stringify(v)}`;
  }
  return `a ${nodeKind(node)}`;
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).replace(/:\s*$/, '');
}

