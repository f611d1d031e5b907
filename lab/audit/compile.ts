/**
 * Stage 4 of loading: turn the collected lists, macros and rules into
 * predicates over events, and work out which event types each rule can
 * match.
 *
 * Conditions compile to closures over pre-resolved field accessors: `in`
 * becomes a Set lookup, `glob`/`regex` a RegExp built once, and checks on a
 * field the lab never produces fold to the constant `false` (Falco: a
 * comparison with a field that has no value is false; `not` of it is true).
 * Constant parts then fold away, so `and not never_true` costs nothing.
 *
 * Lists are expanded where Falco pastes them (falcosecurity/falco,
 * userspace/engine/rule_loader_compiler.cpp, resolve_list, read not
 * copied): an unquoted item of a list literal, or an identifier after a
 * list operator, that names a list is replaced by that list's items, and
 * so on recursively. Exceptions become `and not (...)` clauses as in
 * build_rule_exception_infos. Event types are found as in Falco's
 * filter_evttype_resolver: `evt.type` checks give sets, `and`/`or` meet and
 * join them, and `not` complements, with De Morgan inside negations.
 */
import {
  ConditionError,
  LIST_OPS,
  NUM_OPS,
  parseComp,
  parseCondition,
  parseStringItem,
  positionOf,
  type CheckNode,
  type CheckOp,
  type Expr,
  type FieldNode,
  type ListNode,
  type Operand,
  type Rhs,
  type ValueNode,
} from './condition.ts';
import { formatLocation, RulesLoadError, type AuditErrorCode, type RulesLocation } from './errors.ts';
import { falcoKnowsPluginField, falcoKnowsSyscallField } from './falco-fields.ts';
import { labField, OUTPUT_ONLY_FIELDS, type AuditEvent, type FieldType, type FieldValue } from './fields.ts';
import { globToRegExp, pathPrefixMatcher } from './glob.ts';
import { K8S_AUDIT_FIELDS, k8sAuditExtractor, k8sAuditObject } from './k8saudit.ts';
import type { ExceptionEntry, Priority } from './loader.ts';
import type { CollectedRules, ConditionText, ExceptionDef, ListDef, MacroDef, RuleDef } from './ruleset.ts';

export type Predicate = (event: AuditEvent) => boolean;
/** A compiled condition: a predicate, or a constant once folded. */
type Compiled = boolean | Predicate;
type Scalar = string | number | boolean;

/** The event types a condition can match: exactly these, or all but these. */
export interface TypeSet {
  readonly kind: 'only' | 'except';
  readonly types: ReadonlySet<string>;
}
export const ALL_TYPES: TypeSet = { kind: 'except', types: new Set() };

export interface OutputField {
  /** As written after '%': `proc.name`, `proc.aname[2]`. */
  token: string;
  get: (event: AuditEvent) => FieldValue;
}

export interface OutputTemplate {
  parts: ReadonlyArray<string | OutputField>;
  /** Each distinct field once, in order of first use. */
  fields: readonly OutputField[];
}

export interface CompiledRule {
  name: string;
  desc: string;
  priority: Priority;
  source: string;
  tags: readonly string[];
  enabled: boolean;
  predicate: Predicate;
  evttypes: TypeSet;
  output: OutputTemplate;
  loc: RulesLocation;
  /** Why the rule can or cannot fire with the lab's sources (`audit check --explain`). */
  explain: RuleExplanation;
}

export interface RuleExplanation {
  /** Each field the rule reads (condition through macros, exceptions, output), once, and whether the lab produces it. */
  fields: { name: string; produced: boolean; where: string }[];
  /** Macros the condition uses that compiled to a constant (placeholders such as never_true, or only absent fields). */
  constantMacros: { name: string; value: boolean }[];
  /** The whole condition (with exceptions) as compiled: a constant, or undefined when it depends on the event. */
  constant?: boolean;
}

export interface CompiledRules {
  /** Every rule, in definition order, enabled or not. */
  rules: CompiledRule[];
  /** Fields named by conditions, exceptions or outputs that Falco knows but the lab does not produce, sorted. */
  unknownFields: string[];
  /** Falco's load warnings for what was compiled (unknown fields under skip-if-unknown-filter, no evt.type, <NA>). */
  warnings: string[];
}

interface Scope {
  /** Macros with an index below this are visible. */
  visibility: number;
  /** Turns an offset in the text being compiled into a location. */
  locate: (at: number) => RulesLocation;
}

interface Accessor {
  /** For lists, the element type is string. */
  type: FieldType;
  /** Set when get(e) is just e[key]: lets hot checks read the property directly. */
  key?: string;
  get: (e: AuditEvent) => FieldValue;
  /** List elements before this index are skipped (proc.aname without index starts at the parent). */
  listStart: number;
  /**
   * `in` holds when any element is in the set, instead of every element.
   * libsinsp checks proc.aname without index ancestor by ancestor, so every
   * operator, `in` included, means "some ancestor"; true list fields such
   * as ka.req.pod.containers.image use set containment.
   */
  anyForIn?: boolean;
  text: string;
}

const FALSE: Predicate = () => false;

export function compileRules(collected: CollectedRules): CompiledRules {
  return new Compiler(collected).run();
}

class Compiler {
  private readonly resolvedLists = new Map<string, { value: string; quoted: boolean }[]>();
  private readonly listStack: string[] = [];
  private readonly macroAst = new Map<string, Expr>();
  private readonly macroCompiled = new Map<string, Compiled>();
  private readonly macroTypes = new Map<string, TypeSet>();
  private readonly macroStack: string[] = [];
  private readonly unknown = new Map<string, RulesLocation>();
  private readonly warnings: string[] = [];
  /** Macros and lists some macro, rule or list refers to (Falco's `used`, for LOAD_UNUSED_*). */
  private readonly usedMacros = new Set<string>();
  private readonly usedLists = new Set<string>();

  private readonly c: CollectedRules;

  constructor(c: CollectedRules) {
    this.c = c;
  }

  run(): CompiledRules {
    for (const list of this.c.lists.values()) this.listItems(list);
    // Falco compiles every macro, used or not, so a broken unused macro is still an error.
    for (const macro of this.c.macros.values()) this.compileMacro(macro);
    const rules: CompiledRule[] = [];
    for (const rule of this.c.rules.values()) {
      const compiled = this.compileRule(rule);
      if (compiled) rules.push(compiled);
    }
    // rule_loader_compiler: "Macro/List not referred to by any other rule/macro" (LOAD_UNUSED_MACRO, LOAD_UNUSED_LIST).
    for (const m of this.c.macros.values()) {
      if (!this.usedMacros.has(m.name)) this.warnings.push(`${formatLocation(m.loc)}: LOAD_UNUSED_MACRO: macro not referred to by any other rule/macro`);
    }
    for (const l of this.c.lists.values()) {
      if (!this.usedLists.has(l.name)) this.warnings.push(`${formatLocation(l.loc)}: LOAD_UNUSED_LIST: list not referred to by any other rule/macro`);
    }
    return { rules, unknownFields: [...this.unknown.keys()].sort(), warnings: this.warnings };
  }

  // ---- lists

  /** A list's items with nested list names expanded. Throws LIST_CYCLE. */
  private listItems(list: ListDef): { value: string; quoted: boolean }[] {
    const done = this.resolvedLists.get(list.name);
    if (done) return done;
    if (this.listStack.includes(list.name)) {
      const chain = [...this.listStack.slice(this.listStack.indexOf(list.name)), list.name].join(' → ');
      throw new RulesLoadError('LIST_CYCLE', `list '${list.name}' contains itself through ${chain}`, list.loc);
    }
    this.listStack.push(list.name);
    const out: { value: string; quoted: boolean }[] = [];
    for (const item of list.items) {
      let parsed: { value: string; quoted: boolean };
      try {
        parsed = parseStringItem(item.value);
      } catch (err) {
        throw asLoadError(err, item.loc, `list '${list.name}' item '${item.value}'`);
      }
      const nested = parsed.quoted ? undefined : this.c.lists.get(parsed.value);
      if (nested) this.usedLists.add(nested.name);
      if (nested) out.push(...this.listItems(nested));
      else out.push(parsed);
    }
    this.listStack.pop();
    this.resolvedLists.set(list.name, out);
    return out;
  }

  /** The values of a list literal, with list names expanded. */
  private expandValues(items: readonly { value: string; quoted: boolean }[]): string[] {
    const out: string[] = [];
    for (const item of items) {
      const list = item.quoted ? undefined : this.c.lists.get(item.value);
      if (list) this.usedLists.add(list.name);
      if (list) for (const v of this.listItems(list)) out.push(v.value);
      else out.push(item.value);
    }
    return out;
  }

  // ---- macros and rules

  private textScope(text: ConditionText, visibility: number): Scope {
    return { visibility, locate: (at) => locateIn(text, at) };
  }

  private parse(text: ConditionText): Expr {
    try {
      return parseCondition(text.text);
    } catch (err) {
      if (err instanceof ConditionError) throw toLoadError(err, locateIn(text, err.offset));
      throw err;
    }
  }

  private compileMacro(def: MacroDef): Compiled {
    const cached = this.macroCompiled.get(def.name);
    if (cached !== undefined) return cached;
    const scope = this.textScope(def.condition, def.visibility);
    const ast = this.macroAstOf(def);
    this.macroStack.push(def.name);
    let compiled: Compiled;
    try {
      compiled = this.expr(ast, scope);
    } catch (err) {
      if (err instanceof ConditionError) throw toLoadError(err, scope.locate(err.offset));
      throw err;
    } finally {
      this.macroStack.pop();
    }
    this.macroCompiled.set(def.name, compiled);
    return compiled;
  }

  private macroAstOf(def: MacroDef): Expr {
    let ast = this.macroAst.get(def.name);
    if (!ast) {
      ast = this.parse(def.condition);
      this.macroAst.set(def.name, ast);
    }
    return ast;
  }

  /** The macro a reference names, if it is visible from the scope. Throws UNKNOWN_MACRO / MACRO_CYCLE. */
  private macroRef(name: string, at: number, scope: Scope): MacroDef {
    const def = this.c.macros.get(name);
    if (!def) {
      const hint = this.c.lists.has(name) ? ` ('${name}' is a list: use it after an operator, e.g. proc.name in (${name}))` : '';
      throw new ConditionError('UNKNOWN_MACRO', `undefined macro '${name}'${hint}`, at);
    }
    if (def.index >= scope.visibility) {
      throw new ConditionError(
        'UNKNOWN_MACRO',
        `macro '${name}' is used before it is defined (at ${def.loc.file}:${def.loc.line ?? '?'}); a macro can only use macros defined before it`,
        at,
      );
    }
    if (this.macroStack.includes(name)) {
      const chain = [...this.macroStack.slice(this.macroStack.indexOf(name)), name].join(' → ');
      throw new ConditionError('MACRO_CYCLE', `macro '${name}' refers to itself through ${chain}`, at);
    }
    this.usedMacros.add(def.name);
    return def;
  }

  /** The compiled rule, or undefined when Falco would skip it (skip-if-unknown-filter). */
  private compileRule(def: RuleDef): CompiledRule | undefined {
    const scope = this.textScope(def.condition, Number.POSITIVE_INFINITY);
    const ast = this.parse(def.condition);
    let unknown: ReturnType<Compiler['firstUnknownField']>;
    try {
      unknown = this.firstUnknownField(def, ast, scope);
    } catch (err) {
      if (err instanceof ConditionError) throw toLoadError(err, scope.locate(err.offset));
      throw err;
    }
    if (unknown) {
      const what = `field '${unknown.name}' does not exist for source '${def.source}' (Falco: "filter_check called with nonexistent field"${unknown.where})`;
      if (def.skipIfUnknownFilter) {
        // rule_loader_compiler: with skip-if-unknown-filter the error becomes LOAD_UNKNOWN_FILTER and the rule is skipped.
        this.warnings.push(`${formatLocation(unknown.loc)}: LOAD_UNKNOWN_FILTER: ${what}; skip-if-unknown-filter is set, so the rule is skipped`);
        return undefined;
      }
      throw new RulesLoadError('UNKNOWN_FIELD', `${what}; Falco refuses the rule (LOAD_ERR_COMPILE_CONDITION), set skip-if-unknown-filter: true to skip it instead`, unknown.loc);
    }
    this.warnUnsafeNa(ast, scope, new Set());
    let compiled: Compiled;
    let evttypes: TypeSet;
    try {
      compiled = this.expr(ast, scope);
      evttypes = this.types(ast, false, scope);
    } catch (err) {
      if (err instanceof ConditionError) throw toLoadError(err, scope.locate(err.offset));
      throw err;
    }
    // (condition) and not (exception 1) and not (exception 2) ...
    const parts: Compiled[] = [compiled];
    for (const ex of def.exceptions) {
      const exScope: Scope = { visibility: Number.POSITIVE_INFINITY, locate: () => ex.loc };
      try {
        const exExpr = this.exceptionExpr(ex);
        if (exExpr) parts.push(not(this.expr(exExpr, exScope)));
      } catch (err) {
        if (err instanceof ConditionError) throw toLoadError(err, ex.loc);
        throw err;
      }
    }
    const whole = and(parts);
    const output = this.outputTemplate(def.output.value, def.output.loc);
    if (def.source === 'syscall' && def.warnEvttypes && evttypes.kind === 'except' && whole !== false) {
      // rule_loader_compiler: more than 100 event types and warn_evttypes (default true) → LOAD_NO_EVTTYPE.
      this.warnings.push(`${formatLocation(def.loc)}: LOAD_NO_EVTTYPE: rule matches too many evt.type values (no evt.type restriction in its condition)`);
    }
    return {
      name: def.name,
      desc: def.desc,
      priority: def.priority,
      source: def.source,
      tags: [...def.tags].sort(),
      enabled: def.enabled,
      predicate: typeof whole === 'boolean' ? (whole ? () => true : FALSE) : whole,
      evttypes: whole === false ? { kind: 'only', types: new Set() } : evttypes,
      output,
      loc: def.loc,
      explain: this.explanation(def, ast, scope, whole),
    };
  }

  /**
   * The first field of the rule (condition with its macros, exception
   * fields, output) that Falco does not have for the rule's source. Rules of
   * sources the lab does not know are not checked (Falco skips them).
   */
  private firstUnknownField(def: RuleDef, ast: Expr, scope: Scope): { name: string; loc: RulesLocation; where: string } | undefined {
    const known = fieldCatalogue(def.source);
    if (!known) return undefined;
    const uses = this.ruleFieldUses(def, ast, scope).uses;
    const dir = uses.find((u) => u.name === 'evt.dir');
    if (dir) {
      // Falco 0.42 deprecated the event direction (LOAD_DEPRECATED_ITEM), in conditions, macros and outputs.
      this.warnings.push(`${formatLocation(dir.loc)}: LOAD_DEPRECATED_ITEM: usage of deprecated field 'evt.dir'${dir.where} (every event is an exit event)`);
    }
    return uses.find((u) => !known(u.name));
  }

  /** Every field the rule reads: condition (through its macros), exception fields, output. */
  private ruleFieldUses(def: RuleDef, ast: Expr, scope: Scope): { uses: { name: string; loc: RulesLocation; where: string }[]; macros: Set<string> } {
    const out: { name: string; loc: RulesLocation; where: string }[] = [];
    const seen = new Set<string>();
    const walk = (e: Expr, sc: Scope, where: string): void => {
      switch (e.kind) {
        case 'and': case 'or':
          for (const c of e.children) walk(c, sc, where);
          return;
        case 'not':
          return walk(e.child, sc, where);
        case 'macro': {
          const m = this.macroRef(e.name, e.at, sc);
          if (seen.has(m.name)) return;
          seen.add(m.name);
          return walk(this.macroAstOf(m), this.textScope(m.condition, m.visibility), where || `, in macro '${m.name}'`);
        }
        case 'check': {
          const operands: Operand[] = [e.left];
          if (e.right?.kind === 'operand') operands.push(e.right.operand);
          for (let o of operands) {
            while (o.kind === 'transform') o = o.operand;
            out.push({ name: o.name, loc: sc.locate(o.at), where });
          }
        }
      }
    };
    walk(ast, scope, '');
    for (const ex of def.exceptions) {
      for (const f of ex.fields.list ? ex.fields.items : [ex.fields]) {
        const name = f.list ? '' : fieldFromText(f.item).name;
        out.push({ name, loc: ex.loc, where: `, in exception '${ex.name}' (rule_loader_collector: "is not a supported filter field")` });
      }
    }
    for (const token of outputTokens(def.output.value)) {
      if (!OUTPUT_ONLY_FIELDS.has(token)) out.push({ name: fieldFromText(token).name, loc: def.output.loc, where: ', in the output' });
    }
    return { uses: out, macros: seen };
  }

  private explanation(def: RuleDef, ast: Expr, scope: Scope, whole: Compiled): RuleExplanation {
    const { uses, macros } = this.ruleFieldUses(def, ast, scope);
    const fields = new Map<string, RuleExplanation['fields'][number]>();
    for (const u of uses) {
      if (fields.has(u.name)) continue;
      const produced = (def.source === 'k8s_audit' && K8S_AUDIT_FIELDS[u.name] !== undefined) || labField(u.name) !== undefined;
      fields.set(u.name, { name: u.name, produced, where: u.where.replace(/^, /, '') || 'in the condition' });
    }
    const constantMacros: RuleExplanation['constantMacros'] = [];
    for (const name of macros) {
      const c = this.macroCompiled.get(name);
      if (typeof c === 'boolean') constantMacros.push({ name, value: c });
    }
    const out: RuleExplanation = { fields: [...fields.values()], constantMacros };
    if (typeof whole === 'boolean') out.constant = whole;
    return out;
  }

  /** filter_warning_resolver: comparing with "<NA>" is LOAD_UNSAFE_NA_CHECK. */
  private warnUnsafeNa(e: Expr, scope: Scope, seen: Set<string>): void {
    switch (e.kind) {
      case 'and': case 'or':
        for (const c of e.children) this.warnUnsafeNa(c, scope, seen);
        return;
      case 'not':
        return this.warnUnsafeNa(e.child, scope, seen);
      case 'macro': {
        const m = this.macroRef(e.name, e.at, scope);
        if (seen.has(m.name)) return;
        seen.add(m.name);
        return this.warnUnsafeNa(this.macroAstOf(m), this.textScope(m.condition, m.visibility), seen);
      }
      case 'check': {
        const r = e.right;
        const values = r?.kind === 'value' ? [r.value] : r?.kind === 'list' ? r.items.map((i) => i.value) : [];
        if (values.includes('<NA>')) {
          this.warnings.push(`${formatLocation(scope.locate(e.at))}: LOAD_UNSAFE_NA_CHECK: comparing a field with <NA> is unsafe (a field without a value matches nothing, <NA> included); use 'exists'`);
        }
      }
    }
  }

  /** Falco's build_rule_exception_infos, as an AST instead of pasted text. */
  private exceptionExpr(ex: ExceptionDef): Expr | undefined {
    const at = -1;
    const valueNode = (text: string): ValueNode => ({ kind: 'value', ...parseStringItem(text), at });
    const listNode = (entries: ExceptionEntry[]): ListNode => ({
      kind: 'list',
      items: entries.map((e) => {
        if (e.list) throw new ConditionError('RULES_SCHEMA', `exception '${ex.name}': a value list should hold strings, got a nested list`, at);
        return valueNode(e.item);
      }),
      at,
    });
    if (!ex.fields.list) {
      if (ex.values.length === 0) return undefined;
      const comp = ex.comps.list ? { op: 'in' as CheckOp } : parseComp(ex.comps.item)!;
      for (const v of ex.values) {
        if (v.list) throw new ConditionError('RULES_SCHEMA', `exception '${ex.name}': with a single field, values should be strings, got a list`, at);
      }
      return { kind: 'check', left: fieldFromText(ex.fields.item), ...comp, right: listNode(ex.values), at, opAt: at };
    }
    const fields = ex.fields.items;
    const comps = ex.comps.list ? ex.comps.items : [];
    const alternatives: Expr[] = [];
    for (const tuple of ex.values) {
      const values = tuple.list ? tuple.items : [tuple];
      if (values.length !== fields.length) {
        throw new ConditionError('RULES_SCHEMA', `exception '${ex.name}': each values tuple should have ${fields.length} items (one per field), got ${values.length}`, at);
      }
      const checks: Expr[] = fields.map((f, k) => {
        const comp = comps[k] && !comps[k].list ? parseComp(comps[k].item)! : { op: '=' as CheckOp };
        const v = values[k]!;
        let right: Rhs;
        if (v.list) right = listNode(v.items);
        else if (LIST_OPS.includes(comp.op) || comp.mod) right = listNode([v]); // Falco wraps a bare value in (...)
        else right = valueNode(v.item);
        return { kind: 'check', left: fieldFromText(f.list ? '' : f.item), ...comp, right, at, opAt: at };
      });
      alternatives.push(checks.length === 1 ? checks[0]! : { kind: 'and', children: checks, at });
    }
    if (alternatives.length === 0) return undefined;
    return alternatives.length === 1 ? alternatives[0] : { kind: 'or', children: alternatives, at };
  }

  // ---- expressions

  private expr(e: Expr, scope: Scope): Compiled {
    switch (e.kind) {
      case 'and':
        return and(e.children.map((c) => this.expr(c, scope)));
      case 'or':
        return or(e.children.map((c) => this.expr(c, scope)));
      case 'not':
        return not(this.expr(e.child, scope));
      case 'macro':
        return this.compileMacro(this.macroRef(e.name, e.at, scope));
      case 'check':
        return this.check(e, scope);
    }
  }

  private noteUnknown(name: string, at: number, scope: Scope): void {
    if (!this.unknown.has(name)) this.unknown.set(name, scope.locate(at));
  }

  /** A field accessor, or undefined when the lab never produces the field. */
  private accessor(operand: Operand, scope: Scope): Accessor | undefined {
    if (operand.kind === 'transform') {
      const inner = this.accessor(operand.operand, scope);
      if (!inner) return undefined;
      return transformAccessor(operand.fn, inner);
    }
    return this.fieldAccessor(operand, scope);
  }

  private fieldAccessor(f: FieldNode, scope: Scope): Accessor | undefined {
    const text = f.arg === undefined ? f.name : `${f.name}[${f.arg}]`;
    const k8s = k8sAccessor(f, text);
    if (k8s) return k8s;
    const spec = labField(f.name);
    if (!spec) {
      this.noteUnknown(f.name, f.at, scope);
      return undefined;
    }
    const name = f.name;
    if (f.arg === undefined) {
      if (name === 'proc.aname') {
        // Any ancestor: elements from the parent up. Without the list, the parent alone.
        return {
          type: 'list',
          text,
          listStart: 1,
          anyForIn: true,
          get: (e) => {
            const a = e['proc.aname'];
            if (a !== undefined) return a;
            const p = e['proc.pname'];
            return typeof p === 'string' ? ['', p] : undefined;
          },
        };
      }
      if (name === 'evt.dir') {
        // Falco 0.42 deprecated direction: every event is an exit event, so evt.dir='<' matches all.
        return { type: 'string', get: (e) => e['evt.dir'] ?? '<', listStart: 0, text };
      }
      return { type: spec.type, key: name, get: (e) => e[name], listStart: 0, text };
    }
    if (!spec.arg) {
      throw new ConditionError('BAD_VALUE', `field '${name}' takes no argument, got '[${f.arg}]'`, f.at);
    }
    const arg = f.arg.trim();
    if (/^\d+$/.test(arg)) {
      const i = Number(arg);
      if (name === 'proc.aname') {
        return {
          type: 'string',
          text,
          listStart: 0,
          get: (e) => {
            const a = e['proc.aname'];
            if (Array.isArray(a)) return a[i] as string | undefined;
            if (i === 0) return e['proc.name'];
            if (i === 1) return e['proc.pname'];
            return undefined;
          },
        };
      }
      return { type: 'string', text, listStart: 0, get: (e) => { const a = e[name]; return Array.isArray(a) ? (a[i] as string | undefined) : undefined; } };
    }
    if (spec.arg === 'index-or-key') {
      // container.mount.source[KEY] is the source of the first mount whose destination matches KEY,
      // and the other way round. The container plugin (plugins/container/src/container_info.cpp,
      // mount_by_dest/mount_by_source) compiles KEY as a regular expression in multi-line mode and
      // searches it in the path (reflex Matcher::find), so `/proc*` matches `/proc` and `/proc/1`
      // (and, being a search, `/host/proc` too); the field doc calls this a glob.
      const other = name === 'container.mount.source' ? 'container.mount.dest' : 'container.mount.source';
      let re: RegExp;
      try {
        re = new RegExp(arg, 'm');
      } catch (err) {
        throw new ConditionError('BAD_VALUE', `field '${name}' key '${arg}' is not a valid pattern: ${(err as Error).message}`, f.at);
      }
      return {
        type: 'string',
        text,
        listStart: 0,
        get: (e) => {
          const mine = e[name];
          const keys = e[other];
          if (!Array.isArray(mine) || !Array.isArray(keys)) return undefined;
          const idx = (keys as readonly string[]).findIndex((k) => re.test(k));
          return idx < 0 ? undefined : (mine[idx] as string | undefined);
        },
      };
    }
    throw new ConditionError('BAD_VALUE', `field '${name}' takes a number as argument, got '[${f.arg}]'`, f.at);
  }

  private check(node: CheckNode, scope: Scope): Compiled {
    const acc = this.accessor(node.left, scope);
    if (node.right?.kind === 'operand') {
      const right = this.accessor(node.right.operand, scope);
      if (!acc || !right) return false;
      return fieldToField(node.op, acc, right);
    }
    if (!acc) {
      // Still resolve list names so that broken lists are reported, then fold: absent is false.
      if (node.right) this.rhsValues(node.right);
      return false;
    }
    if (node.op === 'exists') return existsPredicate(acc);
    const values = this.rhsValues(node.right!);
    const elemType: FieldType = acc.type === 'list' ? 'string' : acc.type;
    checkOperatorFits(node.op, elemType, acc.text, node.opAt);
    if (node.mod) return modifierCheck(node, acc, elemType, values);
    const test = scalarTest(node.op, elemType, values, acc.text, node.right!.at);
    return wrapTest(node.op, acc, elemType, values, test);
  }

  private rhsValues(rhs: Rhs): string[] {
    switch (rhs.kind) {
      case 'value':
        return [rhs.value];
      case 'list':
        return this.expandValues(rhs.items);
      case 'listref': {
        const list = this.c.lists.get(rhs.name);
        if (list) this.usedLists.add(list.name);
        // An identifier that names no list is a single value, as libsinsp reads it.
        return list ? this.listItems(list).map((i) => i.value) : [rhs.name];
      }
      case 'operand':
        return [];
    }
  }

  // ---- event types

  /** Which event types can satisfy `e` (or its negation). Over-approximates; never misses. */
  private types(e: Expr, negated: boolean, scope: Scope): TypeSet {
    switch (e.kind) {
      case 'and': {
        const sets = e.children.map((c) => this.types(c, negated, scope));
        return sets.reduce(negated ? union : intersect);
      }
      case 'or': {
        const sets = e.children.map((c) => this.types(c, negated, scope));
        return sets.reduce(negated ? intersect : union);
      }
      case 'not':
        return this.types(e.child, !negated, scope);
      case 'macro': {
        const def = this.macroRef(e.name, e.at, scope);
        const key = `${negated ? '!' : ''}${def.name}`;
        const cached = this.macroTypes.get(key);
        if (cached) return cached;
        this.macroStack.push(def.name);
        let result: TypeSet;
        try {
          result = this.types(this.macroAstOf(def), negated, this.textScope(def.condition, def.visibility));
        } finally {
          this.macroStack.pop();
        }
        this.macroTypes.set(key, result);
        return result;
      }
      case 'check': {
        const left = e.left;
        if (left.kind !== 'field' || left.name !== 'evt.type' || left.arg !== undefined || !e.right) return ALL_TYPES;
        let set: TypeSet;
        if ((e.op === '=' || e.op === '==') && e.right.kind === 'value') set = { kind: 'only', types: new Set([e.right.value]) };
        else if (e.op === '!=' && e.right.kind === 'value') set = { kind: 'except', types: new Set([e.right.value]) };
        else if ((e.op === 'in' || e.op === 'intersects') && e.right.kind !== 'operand') set = { kind: 'only', types: new Set(this.rhsValues(e.right)) };
        else return ALL_TYPES;
        return negated ? complement(set) : set;
      }
    }
  }

  // ---- outputs

  /**
   * Falco output format: `%field`, `%field[arg]` or `%(field)`; `%%` is a
   * literal '%'. `%container.info` is dropped, as Falco now does.
   */
  private outputTemplate(raw: string, loc: RulesLocation): OutputTemplate {
    const text = raw.replace(/(^|[^%])%container\.info(?![a-zA-Z0-9_.])/g, '$1').trim();
    const parts: (string | OutputField)[] = [];
    const byToken = new Map<string, OutputField>();
    const scope: Scope = { visibility: Number.POSITIVE_INFINITY, locate: () => loc };
    const re = /%(?:\(([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?)\)|([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+)(\[[^\]]*\])?)/y;
    let literal = '';
    let i = 0;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch !== '%') {
        literal += ch;
        i++;
        continue;
      }
      if (text[i + 1] === '%') {
        literal += '%';
        i += 2;
        continue;
      }
      re.lastIndex = i;
      const m = re.exec(text);
      if (!m) {
        const got = text.slice(i, i + 16);
        throw new RulesLoadError('OUTPUT_SYNTAX', `expected a field name after '%' at offset ${i}, got '${got}' (write %% for a literal %)`, loc);
      }
      i = re.lastIndex;
      const token = m[1] ?? `${m[2]}${m[3] ?? ''}`;
      if (literal) parts.push(literal);
      literal = '';
      let field = byToken.get(token);
      if (!field) {
        field = { token, get: this.outputGetter(token, scope) };
        byToken.set(token, field);
      }
      parts.push(field);
    }
    if (literal) parts.push(literal);
    return { parts, fields: [...byToken.values()] };
  }

  private outputGetter(token: string, scope: Scope): (e: AuditEvent) => FieldValue {
    if (OUTPUT_ONLY_FIELDS.has(token)) return (e) => e[token];
    const node = fieldFromText(token);
    let acc: Accessor | undefined;
    try {
      acc = this.fieldAccessor(node, scope);
    } catch (err) {
      if (err instanceof ConditionError) throw new RulesLoadError('OUTPUT_SYNTAX', `%${token}: ${err.what}`, scope.locate(-1));
      throw err;
    }
    if (!acc) return () => undefined;
    if (acc.listStart > 0) {
      const start = acc.listStart;
      const get = acc.get;
      return (e) => {
        const v = get(e);
        return Array.isArray(v) ? v.slice(start) : v;
      };
    }
    return acc.get;
  }
}

// ---- helpers: k8s_audit fields

/**
 * The accessor of a k8s_audit field (k8saudit.ts): extracted from the
 * event's audit.k8s.io/v1 Event object; for events given as flat field
 * records (JSON lines, admission decisions), the field's own key.
 */
function k8sAccessor(f: FieldNode, text: string): Accessor | undefined {
  const spec = K8S_AUDIT_FIELDS[f.name];
  if (!spec) return undefined;
  const arg = f.arg?.trim();
  if (arg === undefined && spec.argRequired) throw new ConditionError('BAD_VALUE', `field '${f.name}' needs an argument, e.g. ${f.name}[...]`, f.at);
  if (arg !== undefined && !spec.arg) throw new ConditionError('BAD_VALUE', `field '${f.name}' takes no argument, got '[${f.arg}]'`, f.at);
  if (arg !== undefined && spec.arg === 'index' && !/^\d+$/.test(arg)) {
    throw new ConditionError('BAD_VALUE', `field '${f.name}' takes a number as argument, got '[${f.arg}]'`, f.at);
  }
  const extract = k8sAuditExtractor(f.name, arg)!;
  const name = f.name;
  const index = arg !== undefined && spec.arg === 'index' ? Number(arg) : undefined;
  return {
    type: spec.list ? 'list' : 'string',
    text,
    listStart: 0,
    get: (e) => {
      const o = k8sAuditObject(e);
      if (o) return extract(o);
      const flat = e[name];
      if (index !== undefined) return Array.isArray(flat) && index < flat.length ? [flat[index] as string] : undefined;
      return arg === undefined || spec.arg === 'index' ? flat : undefined;
    },
  };
}

// ---- helpers: locations and errors

/** Whether Falco has a field, per source; undefined for sources the lab does not know. */
function fieldCatalogue(source: string): ((name: string) => boolean) | undefined {
  if (source === 'syscall') return falcoKnowsSyscallField;
  if (source === 'k8s_audit') return (name) => falcoKnowsPluginField(name, K8S_AUDIT_FIELDS);
  return undefined;
}

/** The `%field` tokens of an output format (the same grammar as outputTemplate). */
function outputTokens(raw: string): string[] {
  const out: string[] = [];
  const re = /%%|%(?:\(([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+(?:\[[^\]]*\])?)\)|([a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+)(\[[^\]]*\])?)/g;
  for (const m of raw.matchAll(re)) {
    if (m[0] === '%%') continue;
    const token = m[1] ?? `${m[2]}${m[3] ?? ''}`;
    if (token !== 'container.info') out.push(token);
  }
  return out;
}

function locateIn(text: ConditionText, at: number): RulesLocation {
  let piece = text.pieces[0]!;
  let end = text.text.length;
  for (let i = 0; i < text.pieces.length; i++) {
    const p = text.pieces[i]!;
    if (p.start <= at) {
      piece = p;
      end = i + 1 < text.pieces.length ? text.pieces[i + 1]!.start - 1 : text.text.length;
    }
  }
  if (at < 0) return piece.loc;
  const pieceText = text.text.slice(piece.start, end);
  return { ...piece.loc, condition: positionOf(pieceText, at - piece.start) };
}

function toLoadError(err: ConditionError, loc: RulesLocation): RulesLoadError {
  return new RulesLoadError(err.code, err.what, loc, { cause: err });
}

function asLoadError(err: unknown, loc: RulesLocation, what: string): unknown {
  if (err instanceof ConditionError) return new RulesLoadError(err.code, `${what}: ${err.what}`, loc, { cause: err });
  return err;
}

const FIELD_SPLIT = /^([^[\]]+)(?:\[([^\]]*)\])?$/;

function fieldFromText(text: string): FieldNode {
  const m = FIELD_SPLIT.exec(text.trim());
  if (!m) throw new ConditionError('BAD_VALUE', `'${text}' is not a field name`, -1);
  const node: FieldNode = { kind: 'field', name: m[1]!, at: -1 };
  if (m[2] !== undefined) node.arg = m[2];
  return node;
}

// ---- helpers: boolean algebra on compiled conditions

function and(parts: Compiled[]): Compiled {
  const fns: Predicate[] = [];
  for (const p of parts) {
    if (p === false) return false;
    if (p !== true) fns.push(p);
  }
  if (fns.length === 0) return true;
  if (fns.length === 1) return fns[0]!;
  if (fns.length === 2) {
    const [a, b] = fns as [Predicate, Predicate];
    return (e) => a(e) && b(e);
  }
  if (fns.length === 3) {
    const [a, b, c] = fns as [Predicate, Predicate, Predicate];
    return (e) => a(e) && b(e) && c(e);
  }
  return (e) => {
    for (let i = 0; i < fns.length; i++) if (!fns[i]!(e)) return false;
    return true;
  };
}

function or(parts: Compiled[]): Compiled {
  const fns: Predicate[] = [];
  for (const p of parts) {
    if (p === true) return true;
    if (p !== false) fns.push(p);
  }
  if (fns.length === 0) return false;
  if (fns.length === 1) return fns[0]!;
  if (fns.length === 2) {
    const [a, b] = fns as [Predicate, Predicate];
    return (e) => a(e) || b(e);
  }
  return (e) => {
    for (let i = 0; i < fns.length; i++) if (fns[i]!(e)) return true;
    return false;
  };
}

function not(p: Compiled): Compiled {
  if (typeof p === 'boolean') return !p;
  return (e) => !p(e);
}

// ---- helpers: event-type sets

function intersect(a: TypeSet, b: TypeSet): TypeSet {
  if (a.kind === 'only' && b.kind === 'only') return { kind: 'only', types: new Set([...a.types].filter((t) => b.types.has(t))) };
  if (a.kind === 'only') return { kind: 'only', types: new Set([...a.types].filter((t) => !b.types.has(t))) };
  if (b.kind === 'only') return intersect(b, a);
  return { kind: 'except', types: new Set([...a.types, ...b.types]) };
}

function union(a: TypeSet, b: TypeSet): TypeSet {
  if (a.kind === 'only' && b.kind === 'only') return { kind: 'only', types: new Set([...a.types, ...b.types]) };
  if (a.kind === 'only') return { kind: 'except', types: new Set([...b.types].filter((t) => !a.types.has(t))) };
  if (b.kind === 'only') return union(b, a);
  return { kind: 'except', types: new Set([...a.types].filter((t) => b.types.has(t))) };
}

function complement(s: TypeSet): TypeSet {
  return { kind: s.kind === 'only' ? 'except' : 'only', types: s.types };
}

/** Whether a rule with these types can see an event of this type (undefined: an event without evt.type). */
export function typeSetHas(s: TypeSet, type: string | undefined): boolean {
  if (type === undefined) return s.kind === 'except';
  return s.kind === 'only' ? s.types.has(type) : !s.types.has(type);
}

// ---- helpers: checks

function toNumber(v: Scalar): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return Number.NaN;
}

function toBool(v: Scalar): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

function fail(code: AuditErrorCode, what: string, at: number): never {
  throw new ConditionError(code, what, at);
}

const NUMERIC_OK = new Set<CheckOp>(['=', '==', '!=', '<', '<=', '>', '>=', 'in', 'intersects']);
const BOOLEAN_OK = new Set<CheckOp>(['=', '==', '!=', 'in', 'intersects']);

function checkOperatorFits(op: CheckOp, type: FieldType, field: string, at: number): void {
  if (type === 'number' && !NUMERIC_OK.has(op)) {
    fail('BAD_OPERATOR', `operator '${op}' does not apply to numeric field '${field}' (use one of ${[...NUMERIC_OK].join(', ')}, exists)`, at);
  }
  if (type === 'boolean' && !BOOLEAN_OK.has(op)) {
    fail('BAD_OPERATOR', `operator '${op}' does not apply to boolean field '${field}' (use one of ${[...BOOLEAN_OK].join(', ')}, exists)`, at);
  }
}

function coerceNumber(v: string, field: string, at: number): number {
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (Number.isNaN(n)) fail('BAD_VALUE', `numeric field '${field}' needs a number, got '${v}'`, at);
  return n;
}

function coerceBool(v: string, field: string, at: number): boolean {
  const l = v.trim().toLowerCase();
  if (l === 'true') return true;
  if (l === 'false') return false;
  return fail('BAD_VALUE', `boolean field '${field}' needs true or false, got '${v}'`, at);
}

function hexBytes(v: string, at: number): Buffer {
  const clean = v.trim();
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) fail('BAD_VALUE', `expected an even number of hex digits, got '${v}'`, at);
  return Buffer.from(clean, 'hex');
}

/**
 * The test one (non-absent, non-list) value must pass. `values` is the
 * right-hand side: one value, or the items for list operators.
 */
function scalarTest(op: CheckOp, type: FieldType, values: string[], field: string, at: number): (v: Scalar) => boolean {
  if (op === 'in' || op === 'intersects') {
    if (type === 'number') {
      const set = new Set(values.map((v) => coerceNumber(v, field, at)));
      return (v) => set.has(toNumber(v));
    }
    if (type === 'boolean') {
      const set = new Set(values.map((v) => coerceBool(v, field, at)));
      return (v) => { const b = toBool(v); return b !== undefined && set.has(b); };
    }
    const set = new Set(values);
    return (v) => set.has(typeof v === 'string' ? v : String(v));
  }
  if (op === 'pmatch') {
    const match = pathPrefixMatcher(values);
    return (v) => match(String(v));
  }
  const r = values[0] ?? '';
  if (type === 'number' || (type === 'dynamic' && (NUM_OPS as readonly string[]).includes(op))) {
    const n = coerceNumber(r, field, at);
    switch (op) {
      case '=': case '==': return (v) => toNumber(v) === n;
      case '!=': return (v) => { const x = toNumber(v); return x === x && x !== n; };
      case '<': return (v) => toNumber(v) < n;
      case '<=': return (v) => toNumber(v) <= n;
      case '>': return (v) => toNumber(v) > n;
      case '>=': return (v) => toNumber(v) >= n;
      default: return fail('BAD_OPERATOR', `operator '${op}' does not apply to numbers`, at);
    }
  }
  if (type === 'boolean') {
    const b = coerceBool(r, field, at);
    if (op === '!=') return (v) => { const x = toBool(v); return x !== undefined && x !== b; };
    return (v) => toBool(v) === b;
  }
  const str = (v: Scalar): string => (typeof v === 'string' ? v : String(v));
  switch (op) {
    case '=': case '==': return (v) => str(v) === r;
    case '!=': return (v) => str(v) !== r;
    case '<': return (v) => str(v) < r;
    case '<=': return (v) => str(v) <= r;
    case '>': return (v) => str(v) > r;
    case '>=': return (v) => str(v) >= r;
    case 'contains': return (v) => str(v).includes(r);
    case 'icontains': { const lr = r.toLowerCase(); return (v) => str(v).toLowerCase().includes(lr); }
    case 'startswith': return (v) => str(v).startsWith(r);
    case 'endswith': return (v) => str(v).endsWith(r);
    case 'glob': { const re = globToRegExp(r); return (v) => re.test(str(v)); }
    case 'iglob': { const re = globToRegExp(r, true); return (v) => re.test(str(v)); }
    case 'regex': {
      let re: RegExp;
      try {
        // RE2 in POSIX mode, full match; JS RegExp agrees on the egrep subset rules use.
        re = new RegExp(`^(?:${r})$`, 's');
      } catch (err) {
        return fail('BAD_VALUE', `invalid regular expression '${r}': ${(err as Error).message}`, at);
      }
      return (v) => re.test(str(v));
    }
    case 'bcontains': { const needle = hexBytes(r, at); return (v) => Buffer.from(str(v), 'utf8').includes(needle); }
    case 'bstartswith': { const needle = hexBytes(r, at); return (v) => Buffer.from(str(v), 'utf8').subarray(0, needle.length).equals(needle); }
    default: return fail('BAD_OPERATOR', `operator '${op}' is not supported here`, at);
  }
}

/** Applies a scalar test to what the accessor yields: absent is false; lists use any/all. */
function wrapTest(op: CheckOp, acc: Accessor, type: FieldType, values: string[], test: (v: Scalar) => boolean): Predicate {
  if (acc.type !== 'list') {
    const key = acc.key;
    if (key !== undefined && type === 'string') {
      // Hot paths: direct property reads, no intermediate closure.
      const r = values[0] ?? '';
      switch (op) {
        case '=': case '==': return (e) => e[key] === r;
        case '!=': return (e) => { const v = e[key]; return typeof v === 'string' && v !== r; };
        case 'in': case 'intersects': { const set = new Set(values); return (e) => set.has(e[key] as string); }
        case 'startswith': return (e) => { const v = e[key]; return typeof v === 'string' && v.startsWith(r); };
        case 'endswith': return (e) => { const v = e[key]; return typeof v === 'string' && v.endsWith(r); };
        case 'contains': return (e) => { const v = e[key]; return typeof v === 'string' && v.includes(r); };
        default: break;
      }
    }
    if (key !== undefined) {
      return (e) => {
        const v = e[key];
        return v !== undefined && !Array.isArray(v) && test(v as Scalar);
      };
    }
    const get = acc.get;
    return (e) => {
      const v = get(e);
      if (v === undefined) return false;
      if (Array.isArray(v)) return v.some((x) => test(x));
      return test(v as Scalar);
    };
  }
  const get = acc.get;
  const start = acc.listStart;
  if (op === 'in' && !acc.anyForIn) {
    // Every element must be in the set (Falco: the first set is contained in the second).
    return (e) => {
      const v = get(e);
      if (v === undefined) return false;
      if (!Array.isArray(v)) return test(v as Scalar);
      if (v.length <= start) return false;
      for (let i = start; i < v.length; i++) if (!test(v[i] as string)) return false;
      return true;
    };
  }
  return (e) => {
    const v = get(e);
    if (v === undefined) return false;
    if (!Array.isArray(v)) return test(v as Scalar);
    for (let i = start; i < v.length; i++) if (test(v[i] as string)) return true;
    return false;
  };
}

/**
 * `field op oneof|anyof|allof (v1, v2, ...)` (libs sinsp_filtercheck.cpp
 * compare_rhs_with_mod): exactly one, at least one, or every value passes
 * `field op value`; an empty list never holds; absent is false. On a list
 * field, some element must satisfy the whole check.
 */
function modifierCheck(node: CheckNode, acc: Accessor, type: FieldType, values: string[]): Compiled {
  if (node.right?.kind === 'operand') fail('CONDITION_SYNTAX', `'${node.op} ${node.mod}' needs a list of values, not a field`, node.right.at);
  if (values.length === 0) return false;
  const tests = values.map((v) => scalarTest(node.op, type, [v], acc.text, node.right!.at));
  const mod = node.mod!;
  const one = (v: Scalar): boolean => {
    let n = 0;
    for (const t of tests) {
      if (t(v)) {
        if (mod === 'anyof') return true;
        n++;
      } else if (mod === 'allof') return false;
    }
    return mod === 'allof' ? true : mod === 'oneof' ? n === 1 : false;
  };
  const get = acc.get;
  const start = acc.listStart;
  return (e) => {
    const v = get(e);
    if (v === undefined) return false;
    if (!Array.isArray(v)) return one(v as Scalar);
    for (let i = start; i < v.length; i++) if (one(v[i] as string)) return true;
    return false;
  };
}

function existsPredicate(acc: Accessor): Predicate {
  const get = acc.get;
  if (acc.type === 'list') {
    const start = acc.listStart;
    return (e) => {
      const v = get(e);
      return v !== undefined && (!Array.isArray(v) || v.length > start);
    };
  }
  return (e) => get(e) !== undefined;
}

function transformAccessor(fn: string, inner: Accessor): Accessor {
  const f: (s: string) => string | number =
    fn === 'tolower' ? (s) => s.toLowerCase()
    : fn === 'toupper' ? (s) => s.toUpperCase()
    : fn === 'b64' ? (s) => Buffer.from(s, 'base64').toString('utf8')
    : fn === 'basename' ? (s) => (s.endsWith('/') ? '' : s.slice(s.lastIndexOf('/') + 1))
    : (s) => s.length;
  const get = inner.get;
  const start = inner.listStart;
  if (fn === 'len') {
    return {
      type: 'number',
      text: `len(${inner.text})`,
      listStart: 0,
      get: (e) => {
        const v = get(e);
        if (v === undefined) return undefined;
        if (Array.isArray(v)) return Math.max(0, v.length - start);
        return String(v).length;
      },
    };
  }
  return {
    type: inner.type === 'list' ? 'list' : 'string',
    text: `${fn}(${inner.text})`,
    listStart: 0,
    get: (e) => {
      const v = get(e);
      if (v === undefined) return undefined;
      if (Array.isArray(v)) return v.slice(start).map((x) => String(f(String(x))));
      return String(f(String(v)));
    },
  };
}

/** `left op val(right)`: both sides read per event; absent on either side is false. */
function fieldToField(op: CheckOp, left: Accessor, right: Accessor): Predicate {
  const numeric = left.type === 'number' || right.type === 'number';
  const values = (v: FieldValue, start: number): Scalar[] =>
    v === undefined ? [] : Array.isArray(v) ? (v.slice(start) as string[]) : [v as Scalar];
  return (e) => {
    const ls = values(left.get(e), left.listStart);
    const rs = values(right.get(e), right.listStart);
    if (ls.length === 0 || rs.length === 0) return false;
    if (op === 'in' || op === 'intersects') {
      const set = new Set(rs.map(String));
      return op === 'in' ? ls.every((l) => set.has(String(l))) : ls.some((l) => set.has(String(l)));
    }
    return ls.some((l) => rs.some((r) => compareDynamic(op, l, r, numeric)));
  };
}

function compareDynamic(op: CheckOp, l: Scalar, r: Scalar, numeric: boolean): boolean {
  if (numeric) {
    const a = toNumber(l);
    const b = toNumber(r);
    if (Number.isNaN(a) || Number.isNaN(b)) return false;
    switch (op) {
      case '=': case '==': return a === b;
      case '!=': return a !== b;
      case '<': return a < b;
      case '<=': return a <= b;
      case '>': return a > b;
      case '>=': return a >= b;
      default: return false;
    }
  }
  const a = String(l);
  const b = String(r);
  switch (op) {
    case '=': case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    case 'contains': return a.includes(b);
    case 'icontains': return a.toLowerCase().includes(b.toLowerCase());
    case 'startswith': return a.startsWith(b);
    case 'endswith': return a.endsWith(b);
    case 'glob': return globToRegExp(b).test(a);
    case 'iglob': return globToRegExp(b, true).test(a);
    case 'pmatch': return pathPrefixMatcher([b])(a);
    default: return false;
  }
}
