/**
 * JSON Schema validation with readable errors.
 *
 * ajv reports `instancePath` (a JSON pointer) and a keyword; this turns each
 * into `path.to.field: should be …, got …`, the form the lab uses everywhere,
 * and lets the caller prefix a file and line.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from 'typebox';

const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
const compiled = new WeakMap<TSchema, ValidateFunction>();

export interface SchemaIssue {
  /** Path segments into the document, e.g. ['spec', 'policies', 'runAsUser', 'rule']. */
  path: (string | number)[];
  /** `should be …, got …`. */
  message: string;
}

/** Compiled validator for a typebox schema (compiled once per schema object). */
export function validatorFor(schema: TSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (fn === undefined) {
    fn = ajv.compile(schema as object);
    compiled.set(schema, fn);
  }
  return fn;
}

/** Validates `value`; returns the issues, empty when it conforms. */
export function validateAgainst(schema: TSchema, value: unknown): SchemaIssue[] {
  const fn = validatorFor(schema);
  if (fn(value)) return [];
  return summarize(fn.errors ?? [], value);
}

/** Renders a path as `spec.policies[0].name`; the root is `(document)`. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(document)';
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** A short rendering of an offending value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') {
    const keys = Object.keys(value as object);
    return `an object with keys ${keys.length === 0 ? '(none)' : keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', …' : ''}`;
  }
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean (true or false)',
  array: 'a list',
  object: 'a mapping',
  null: 'null',
};

function phrase(err: ErrorObject, value: unknown): { path: (string | number)[]; message: string } {
  const path = pointerToPath(err.instancePath);
  const got = `got ${describeValue(value)}`;
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'type': {
      const types = String(p['type']).split(',');
      return { path, message: `should be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}, ${got}` };
    }
    case 'enum':
      return { path, message: `should be one of ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, ${got}` };
    case 'const':
      return { path, message: `should be ${JSON.stringify(p['allowedValue'])}, ${got}` };
    case 'required':
      return { path: [...path, String(p['missingProperty'])], message: 'should be present, got nothing' };
    case 'additionalProperties': {
      const extra = String(p['additionalProperty']);
      return { path: [...path, extra], message: `should not be here (unknown field), got ${describeValue(valueAt(value, [extra]))}` };
    }
    case 'pattern':
      return { path, message: `should match /${String(p['pattern'])}/, ${got}` };
    case 'minimum':
      return { path, message: `should be ≥ ${String(p['limit'])}, ${got}` };
    case 'maximum':
      return { path, message: `should be ≤ ${String(p['limit'])}, ${got}` };
    case 'minItems':
      return { path, message: `should have at least ${String(p['limit'])} item(s), ${got}` };
    case 'minLength':
      return { path, message: `should not be empty, ${got}` };
    case 'maxLength':
      return { path, message: `should be at most ${String(p['limit'])} characters, got ${String(value).length}` };
    default:
      return { path, message: `${err.message ?? 'is invalid'}, ${got}` };
  }
}

/**
 * Turns ajv's errors into issues, one per offending path. A failed `anyOf`
 * (union) reports every branch; the branch errors are kept and the generic
 * "must match a schema in anyOf" dropped when a more specific one exists.
 */
function summarize(errors: ErrorObject[], root: unknown): SchemaIssue[] {
  const seen = new Set<string>();
  const out: SchemaIssue[] = [];
  const specific = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  for (const err of specific.length > 0 ? specific : errors) {
    const path = pointerToPath(err.instancePath);
    const issue = phrase(err, valueAt(root, path));
    const key = `${formatPath(issue.path)}: ${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(issue);
  }
  return out;
}
