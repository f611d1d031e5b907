/**
 * The rules engine: load rule files into a rule set, then evaluate events
 * against it and produce alerts in Falco's JSON output shape
 * (falco.org/docs/concepts/outputs/formatting, json_output).
 *
 * Rules are indexed by event source and by `evt.type`, as Falco's
 * evttype_index_ruleset does, so an event only runs the rules that can
 * match its type. A load that fails leaves the previous rule set running.
 */
import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { compileRules, typeSetHas, type CompiledRule, type OutputTemplate } from './compile.ts';
import { LabError, RulesLoadError } from './errors.ts';
import type { AuditEvent, FieldValue } from './fields.ts';
import { parseRulesFile, type Priority, type RulesSource } from './loader.ts';
import { collectRules, type FileSummary, type PluginRequirement } from './ruleset.ts';

/** One alert, shaped like a line of Falco's `json_output: true`. */
export interface Alert {
  /** `HH:MM:SS.nnnnnnnnn: Priority message`, as Falco prints it (time of day in UTC here). */
  output: string;
  priority: Priority;
  rule: string;
  /** RFC 3339, UTC, nanoseconds. */
  time: string;
  /** Every `%field` of the rule's output; absent values are null. */
  output_fields: Record<string, string | number | boolean | string[] | null>;
  source: string;
  tags: string[];
  hostname: string;
}

/** The role: an event in, the alerts it raises out. */
export interface RulesEngine {
  evaluate(event: AuditEvent): Alert[];
}

export interface EngineOptions {
  /** Time for alerts whose event has no evt.time. Defaults to the system clock. */
  clock?: () => Date;
  /** The `hostname` of alerts. Defaults to os.hostname(). */
  hostname?: string;
  /** The Falco engine version this engine claims, for required_engine_version. */
  engineVersion?: string;
  /** Index rules by evt.type (default true); false runs every rule of the source on each event. */
  indexByEventType?: boolean;
}

/**
 * The engine version rules are checked against. Falco 0.42 rules files
 * (the lab's corpus) require 0.57.0; the lab implements their syntax.
 */
export const LAB_ENGINE_VERSION = '0.57.0';

/** Plugins whose fields the lab produces natively, so rule files requiring them load. */
export const LAB_PROVIDED_PLUGINS: ReadonlySet<string> = new Set(['container', 'k8saudit', 'json']);

/** A compiled, immutable rule set. */
export interface RuleSet {
  rules: readonly CompiledRule[];
  files: readonly FileSummary[];
  /** Fields used by the rules that the lab does not produce; each once, sorted. */
  unknownFields: readonly string[];
  /** Deprecations, unknown sources and plugins, unknown fields: one line each. */
  warnings: readonly string[];
  requiredEngineVersion?: string;
  plugins: readonly PluginRequirement[];
}

/** Loads rule files, in order, as one rule set (like Falco's repeated -r). Throws RulesLoadError. */
export function compileRuleSet(sources: readonly RulesSource[], options: Pick<EngineOptions, 'engineVersion'> = {}): RuleSet {
  const parsed = sources.map((s) => parseRulesFile(s));
  const collected = collectRules(parsed, { engineVersion: options.engineVersion ?? LAB_ENGINE_VERSION });
  const compiled = compileRules(collected);
  const warnings = [...collected.warnings, ...compiled.warnings];
  for (const rule of compiled.rules) {
    if (rule.source !== 'syscall' && rule.source !== 'k8s_audit') {
      warnings.push(`rule "${rule.name}": unknown source '${rule.source}'; the rule is loaded but no lab event source feeds it`);
    }
  }
  for (const p of collected.plugins) {
    const names = [p.name, ...p.alternatives.map((a) => a.name)];
    if (!names.some((n) => LAB_PROVIDED_PLUGINS.has(n))) {
      warnings.push(`${p.loc.file}: requires plugin '${p.name}' ${p.version}, which the lab does not provide; its fields evaluate as absent`);
    }
  }
  for (const field of compiled.unknownFields) {
    warnings.push(`field '${field}' is a Falco field the lab does not produce; checks on it evaluate as absent (false)`);
  }
  const set: RuleSet = {
    rules: compiled.rules,
    files: collected.files,
    unknownFields: compiled.unknownFields,
    // A macro's warning comes once per rule that uses it; the same line once is enough.
    warnings: [...new Set(warnings)],
    plugins: collected.plugins,
  };
  if (collected.requiredEngineVersion) set.requiredEngineVersion = collected.requiredEngineVersion;
  return set;
}

/** Reads rule files from disk (the I/O shell around compileRuleSet). Throws LabError RULES_READ. */
export async function readRulesFiles(paths: readonly string[]): Promise<RulesSource[]> {
  return Promise.all(
    paths.map(async (path) => {
      try {
        return { name: path, content: await readFile(path, 'utf8') };
      } catch (err) {
        throw new RulesLoadError('RULES_READ', `cannot read rules file: ${(err as Error).message}`, { file: path }, { cause: err });
      }
    }),
  );
}

interface SourceIndex {
  rules: CompiledRule[];
  byType: Map<string, CompiledRule[]>;
  untyped: CompiledRule[];
}

interface Active {
  set: RuleSet;
  sources: Map<string, SourceIndex>;
}

const MAX_CACHED_TYPES = 4096;

const EMPTY_SET: RuleSet = { rules: [], files: [], unknownFields: [], warnings: [], plugins: [] };

export class AuditEngine implements RulesEngine {
  private active: Active;
  private readonly clock: () => Date;
  private readonly host: string;
  private readonly engineVersion: string;
  private readonly indexed: boolean;

  constructor(options: EngineOptions = {}) {
    this.clock = options.clock ?? (() => new Date());
    this.host = options.hostname ?? osHostname();
    this.engineVersion = options.engineVersion ?? LAB_ENGINE_VERSION;
    this.indexed = options.indexByEventType ?? true;
    this.active = this.activate(EMPTY_SET);
  }

  /** Reads and loads rule files. On failure the previous rules keep running. */
  static async fromFiles(paths: readonly string[], options: EngineOptions = {}): Promise<AuditEngine> {
    const engine = new AuditEngine(options);
    engine.load(await readRulesFiles(paths));
    return engine;
  }

  /**
   * Replaces the rule set with these files, loaded in order. Throws
   * RulesLoadError naming file, item and position; the last good rule set
   * then stays in force.
   */
  load(sources: readonly RulesSource[]): RuleSet {
    const set = compileRuleSet(sources, { engineVersion: this.engineVersion });
    this.active = this.activate(set);
    return set;
  }

  /** The rule set in force. */
  ruleSet(): RuleSet {
    return this.active.set;
  }

  /** Fields the loaded rules use that the lab does not produce; each once. */
  unknownFields(): readonly string[] {
    return this.active.set.unknownFields;
  }

  evaluate(event: AuditEvent): Alert[] {
    const index = this.active.sources.get(event.source ?? 'syscall');
    const alerts: Alert[] = [];
    if (!index) return alerts;
    const rules = this.rulesFor(index, event['evt.type']);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.predicate(event)) alerts.push(this.alert(rule, event));
    }
    return alerts;
  }

  private rulesFor(index: SourceIndex, type: FieldValue): CompiledRule[] {
    if (!this.indexed) return index.rules;
    if (typeof type !== 'string') return index.untyped;
    let rules = index.byType.get(type);
    if (!rules) {
      rules = index.rules.filter((r) => typeSetHas(r.evttypes, type));
      // Event types come from event sources; cap the cache so odd input cannot grow it without bound.
      if (index.byType.size < MAX_CACHED_TYPES) index.byType.set(type, rules);
    }
    return rules;
  }

  private activate(set: RuleSet): Active {
    const sources = new Map<string, SourceIndex>();
    for (const rule of set.rules) {
      if (!rule.enabled) continue;
      let index = sources.get(rule.source);
      if (!index) {
        index = { rules: [], byType: new Map(), untyped: [] };
        sources.set(rule.source, index);
      }
      index.rules.push(rule);
      if (typeSetHas(rule.evttypes, undefined)) index.untyped.push(rule);
    }
    return { set, sources };
  }

  private alert(rule: CompiledRule, event: AuditEvent): Alert {
    const time = normalizeTime(event['evt.time']) ?? formatTime(this.clock());
    const source = event.source ?? 'syscall';
    const special: Record<string, FieldValue> = {
      'evt.time': time,
      'evt.time.iso8601': time,
      'evt.datetime': time,
      'evt.hostname': this.host,
      'evt.source': source,
      rule: rule.name,
      priority: rule.priority,
    };
    const message = renderOutput(rule.output, event, special);
    const outputFields: Alert['output_fields'] = {};
    for (const f of rule.output.fields) {
      const v = f.token in special ? special[f.token] : f.get(event);
      outputFields[f.token] = v === undefined ? null : Array.isArray(v) ? [...v] : (v as string | number | boolean);
    }
    return {
      output: `${timeOfDay(time)}: ${rule.priority} ${message}`,
      priority: rule.priority,
      rule: rule.name,
      time,
      output_fields: outputFields,
      source,
      tags: [...rule.tags],
      hostname: this.host,
    };
  }
}

/** Fills a rule's output: absent fields print as <NA>, as Falco prints them. */
export function renderOutput(template: OutputTemplate, event: AuditEvent, special: Record<string, FieldValue> = {}): string {
  let out = '';
  for (const part of template.parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const v = part.token in special ? special[part.token] : part.get(event);
    if (part.token === 'evt.time' && typeof v === 'string') out += timeOfDay(v);
    else out += renderValue(v);
  }
  return out;
}

function renderValue(v: FieldValue): string {
  if (v === undefined) return '<NA>';
  if (Array.isArray(v)) return v.join(',');
  return String(v);
}

/** RFC 3339 with nanoseconds, UTC: 2023-11-14T22:13:20.123000000Z. */
export function formatTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new LabError('BAD_VALUE', `clock returned an invalid date`);
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** Pads an RFC 3339 time to 9 fraction digits; undefined when it is not one. */
export function normalizeTime(v: FieldValue): string | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(v);
  if (!m) return undefined;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

/** `HH:MM:SS.nnnnnnnnn` of an RFC 3339 time: how an alert's output line starts. */
export function timeOfDay(time: string): string {
  const m = /T(\d\d:\d\d:\d\d(?:\.\d+)?)/.exec(time);
  return m ? m[1]! : time;
}
