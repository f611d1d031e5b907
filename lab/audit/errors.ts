import { LabError } from '../errors.ts';

/**
 * Every way loading rules, reading audit records or reading alerts can fail.
 * Tests assert on these codes; people read the message.
 */
export type AuditErrorCode =
  /** A rules file could not be read from disk. */
  | 'RULES_READ'
  /** The YAML itself does not parse. */
  | 'YAML_SYNTAX'
  /** The YAML parses but is not a Falco rules document: unknown key, wrong type, missing key. */
  | 'RULES_SCHEMA'
  /** A condition does not follow the filter grammar. */
  | 'CONDITION_SYNTAX'
  /** An operator that does not exist, or that does not apply to the field's type. */
  | 'BAD_OPERATOR'
  /** A value that cannot be used: bad escape, bad regex, a word where a number is needed. */
  | 'BAD_VALUE'
  /** A condition names a macro that is not defined (or not yet visible). */
  | 'UNKNOWN_MACRO'
  /** A condition, exception or output names a field Falco does not have for the rule's source. */
  | 'UNKNOWN_FIELD'
  /** Macros refer to each other in a loop. */
  | 'MACRO_CYCLE'
  /** Lists refer to each other in a loop. */
  | 'LIST_CYCLE'
  /** append, override or enabled names a list, macro or rule that was never defined. */
  | 'NO_PREVIOUS'
  /** An output format that cannot be parsed. */
  | 'OUTPUT_SYNTAX'
  /** required_engine_version or required_plugin_versions cannot be met or parsed. */
  | 'ENGINE_VERSION'
  /** A Linux audit record line that does not follow auditd's format. */
  | 'AUDIT_RECORD'
  /** A line of an alerts file that is not a Falco JSON alert. */
  | 'ALERT_FORMAT'
  /** A line of an events file that is not a JSON object of fields. */
  | 'EVENT_FORMAT'
  /** `audit check --explain` names a rule the files do not define. */
  | 'RULE_NOT_FOUND'
  /** Node side: a bad lab id, container id, sensitive path or daemon configuration. */
  | 'AUDIT_CONFIG'
  /** Node side: the audit sidecar did not start, did not answer, or failed a command. */
  | 'AUDIT_SIDECAR'
  /** Node side: kernel audit rules of the lab were still set after its teardown. */
  | 'AUDIT_RULES_LEFT'
  /** Node side: a scenario names audit rules that scenarios/audit-rules/ does not have. */
  | 'AUDIT_RULES_UNKNOWN';

/** Where in the rules a problem is. Every part is optional except the file. */
export interface RulesLocation {
  /** The rules file name as given to the loader. */
  file: string;
  /** 1-based line and column of the YAML node in the file. */
  line?: number;
  column?: number;
  /** The list, macro, rule or other item the problem belongs to. */
  item?: { kind: ItemKind; name: string };
  /** Which key of the item, e.g. `condition`, `output`, `exceptions`. */
  key?: string;
  /** 1-based line and column, and 0-based offset, inside the condition text. */
  condition?: { line: number; column: number; offset: number };
}

export type ItemKind =
  | 'rule'
  | 'macro'
  | 'list'
  | 'required_engine_version'
  | 'required_plugin_versions'
  | 'item';

/**
 * The Falco load error each code corresponds to (falco_load_result.cpp), so
 * that every refusal says which Falco behaviour it follows. LIST_CYCLE has
 * none: Falco expands a self-referencing list one level instead of refusing.
 */
export const FALCO_LOAD_ERRORS: Partial<Record<AuditErrorCode, string>> = {
  RULES_READ: 'LOAD_ERR_FILE_READ',
  YAML_SYNTAX: 'LOAD_ERR_YAML_PARSE',
  RULES_SCHEMA: 'LOAD_ERR_YAML_VALIDATE',
  CONDITION_SYNTAX: 'LOAD_ERR_COMPILE_CONDITION',
  BAD_OPERATOR: 'LOAD_ERR_COMPILE_CONDITION',
  BAD_VALUE: 'LOAD_ERR_COMPILE_CONDITION',
  UNKNOWN_FIELD: 'LOAD_ERR_COMPILE_CONDITION',
  UNKNOWN_MACRO: 'LOAD_ERR_COMPILE_CONDITION',
  MACRO_CYCLE: 'LOAD_ERR_COMPILE_CONDITION',
  NO_PREVIOUS: 'LOAD_ERR_VALIDATE',
  OUTPUT_SYNTAX: 'LOAD_ERR_COMPILE_OUTPUT',
  ENGINE_VERSION: 'LOAD_ERR_VALIDATE',
};

const RULES_CODES: ReadonlySet<AuditErrorCode> = new Set([...Object.keys(FALCO_LOAD_ERRORS), 'LIST_CYCLE'] as AuditErrorCode[]);

/** The one error type thrown by the rules loader: a LabError that also says where, and what Falco does. */
export class RulesLoadError extends LabError<AuditErrorCode> {
  readonly location: RulesLocation;
  /** Falco's error code for the same input; undefined where the lab is stricter than Falco or it is not a rules error. */
  readonly falcoCode: string | undefined;

  /** `options.falco` names Falco's code where it differs from the code's usual one (FALCO_LOAD_ERRORS). */
  constructor(code: AuditErrorCode, what: string, location: RulesLocation, options?: { cause?: unknown; falco?: string }) {
    const falco = options?.falco ?? FALCO_LOAD_ERRORS[code];
    const note = falco ? ` [Falco refuses this too: ${falco}]` : RULES_CODES.has(code) ? ' [stricter than Falco]' : '';
    super(code, `${formatLocation(location)}: ${what}${note}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.location = location;
    this.falcoCode = falco;
  }
}

/** `rules.yaml:12:3: rule "Shell in container": condition at 1:17 (offset 16)` */
export function formatLocation(loc: RulesLocation): string {
  let out = loc.file;
  if (loc.line !== undefined) out += `:${loc.line}:${loc.column ?? 1}`;
  if (loc.item) out += `: ${loc.item.kind} "${loc.item.name}"`;
  if (loc.key) out += `: ${loc.key}`;
  if (loc.condition) {
    const c = loc.condition;
    out += ` at ${c.line}:${c.column} (offset ${c.offset})`;
  }
  return out;
}

export { LabError };
