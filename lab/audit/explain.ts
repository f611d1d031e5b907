/**
 * `integrity-lab audit check --explain RULE`: why a rule can or cannot fire
 * with the lab's event sources. Pure: a loaded rule set in, lines out.
 */
import type { CompiledRule } from './compile.ts';
import type { RuleSet } from './engine.ts';
import { formatLocation, LabError, type AuditErrorCode } from './errors.ts';
import { EVENT_SOURCES } from './fields.ts';

export interface Explanation {
  rule: string;
  /** True when some event the lab's sources produce can make the rule fire. */
  canFire: boolean;
  lines: string[];
}

export interface ExplainOptions {
  /**
   * The syscall event types the lab's sources record (the node's kernel
   * audit rules plus `container` from the CRI inventory). When given, a
   * syscall rule none of whose event types is among them cannot fire.
   */
  producedEventTypes?: ReadonlySet<string>;
}

/** Explains one rule of a loaded set. Throws LabError RULE_NOT_FOUND naming the closest names. */
export function explainRule(set: RuleSet, name: string, options: ExplainOptions = {}): Explanation {
  const rule = set.rules.find((r) => r.name === name);
  if (!rule) {
    const lower = name.toLowerCase();
    const close = set.rules.filter((r) => r.name.toLowerCase().includes(lower) || lower.includes(r.name.toLowerCase())).map((r) => `"${r.name}"`);
    throw new LabError<AuditErrorCode>('RULE_NOT_FOUND', `no rule named "${name}" in these files${close.length > 0 ? `; did you mean ${close.slice(0, 5).join(', ')}?` : ''}`);
  }
  const lines: string[] = [];
  const reasons: string[] = [];
  lines.push(`rule "${rule.name}" (${formatLocation(rule.loc)}), source ${rule.source}, priority ${rule.priority}, ${rule.enabled ? 'enabled' : 'disabled'}`);
  lines.push(`event types: ${describeTypes(rule)}`);
  const fed = (EVENT_SOURCES as readonly string[]).includes(rule.source);
  if (!fed) reasons.push(`no lab event source produces '${rule.source}' events`);
  if (!rule.enabled) reasons.push('the rule is disabled (enabled: false)');
  for (const f of rule.explain.fields) {
    lines.push(`field ${f.name} (${f.where}): ${f.produced ? 'produced by the lab' : 'a Falco field the lab does not produce: checks on it are false, their negation true'}`);
  }
  for (const m of rule.explain.constantMacros) {
    lines.push(`macro ${m.name} is constantly ${m.value} with the lab's fields`);
  }
  if (rule.explain.constant === false) {
    const absent = rule.explain.fields.filter((f) => !f.produced && (f.where === 'in the condition' || f.where.startsWith('in macro'))).map((f) => f.name);
    const falseMacros = rule.explain.constantMacros.filter((m) => !m.value).map((m) => m.name);
    const why = [
      absent.length > 0 ? `it needs ${absent.join(', ')}, which the lab does not produce` : '',
      falseMacros.length > 0 ? `macro${falseMacros.length > 1 ? 's' : ''} ${falseMacros.join(', ')} ${falseMacros.length > 1 ? 'are' : 'is'} constantly false` : '',
    ].filter(Boolean);
    reasons.push(`the condition is constantly false: ${why.join('; ') || 'its checks contradict each other (for example two different evt.type values under and)'}`);
  } else if (rule.evttypes.kind === 'only' && rule.evttypes.types.size === 0) {
    reasons.push('no event type can satisfy the condition');
  } else if (rule.source === 'syscall' && options.producedEventTypes && rule.evttypes.kind === 'only') {
    const produced = options.producedEventTypes;
    if (![...rule.evttypes.types].some((t) => produced.has(t))) {
      reasons.push(`the lab records none of its event types (it records ${[...produced].sort().join(', ')})`);
    }
  }
  const canFire = reasons.length === 0;
  lines.push(canFire ? 'verdict: can fire on events the lab produces' : `verdict: cannot fire with the lab's sources: ${reasons.join('; ')}`);
  return { rule: rule.name, canFire, lines };
}

function describeTypes(rule: CompiledRule): string {
  const t = rule.evttypes;
  const list = [...t.types].sort().join(', ');
  if (t.kind === 'only') return t.types.size === 0 ? 'none' : `evt.type in (${list})`;
  return t.types.size === 0 ? 'every event type' : `every event type except ${list}`;
}
