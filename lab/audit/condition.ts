/**
 * Parser for Falco's condition (filter) language.
 *
 * Grammar: the EBNF in falcosecurity/libs userspace/libsinsp/filter/parser.h
 * (read, not copied), with the operators and transformers listed on
 * falco.org/docs/concepts/rules/conditions: `regex`, `iglob` and `len()`
 * come from newer libs than that header.
 *
 *     Expr        ::= OrExpr
 *     OrExpr      ::= AndExpr ('or' (blank AndExpr | '(' Expr ')'))*
 *     AndExpr     ::= NotExpr ('and' (blank NotExpr | '(' Expr ')'))*
 *     NotExpr     ::= ('not' blank)* ('not(' Expr ')' | Check)
 *     Check       ::= '(' Expr ')' | Operand Condition | Identifier
 *     Operand     ::= Field | Transformer '(' Operand ')'
 *     Condition   ::= 'exists' | NumOp (Number | RhsField) | StrOp (String | RhsField)
 *                   | ListOp ('(' (String (',' String)*)? ')' | Identifier | RhsField)
 *     RhsField    ::= 'val(' Field ')' | Transformer '(' Operand ')'
 *     Field       ::= FieldName ('[' (Quoted | [^][\"' ]+) ']')?
 *
 * Keywords are matched by prefix as libsinsp does, so `x=1 andy` fails with
 * "expected blank or '(' after 'and'". Every node keeps its offset in the
 * condition so errors can point at it.
 */
import { LabError, type AuditErrorCode } from './errors.ts';

export type CheckOp =
  | 'exists'
  | '='
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'intersects'
  | 'pmatch'
  | 'contains'
  | 'icontains'
  | 'bcontains'
  | 'startswith'
  | 'bstartswith'
  | 'endswith'
  | 'glob'
  | 'iglob'
  | 'regex';

export type Transformer = 'tolower' | 'toupper' | 'b64' | 'basename' | 'len';

export interface FieldNode {
  kind: 'field';
  name: string;
  /** The text between `[` and `]`, when present. */
  arg?: string;
  at: number;
}

export interface TransformNode {
  kind: 'transform';
  fn: Transformer;
  operand: Operand;
  at: number;
}

export type Operand = FieldNode | TransformNode;

export interface ValueNode {
  kind: 'value';
  value: string;
  /** Quoted values are never taken as list names. */
  quoted: boolean;
  at: number;
}

export interface ListNode {
  kind: 'list';
  items: ValueNode[];
  at: number;
}

/** A bare identifier after a list operator: `fd.name in sensitive_files`. */
export interface ListRefNode {
  kind: 'listref';
  name: string;
  at: number;
}

/** `val(field)` or a transformer on the right-hand side: compare two fields. */
export interface RhsOperandNode {
  kind: 'operand';
  operand: Operand;
  at: number;
}

export type Rhs = ValueNode | ListNode | ListRefNode | RhsOperandNode;

/**
 * A string operator's list modifier (libs 0.25, Falco 0.44:
 * `proc.name startswith oneof (sshd, sudo)`): the check holds when exactly
 * one (oneof), at least one (anyof) or every (allof) value of the list passes.
 */
export type OpModifier = 'oneof' | 'anyof' | 'allof';
export const OP_MODIFIERS: readonly OpModifier[] = ['oneof', 'anyof', 'allof'];

export interface CheckNode {
  kind: 'check';
  left: Operand;
  op: CheckOp;
  /** A list modifier after a string operator; the right side is then a list. */
  mod?: OpModifier;
  /** Absent only for `exists`. */
  right?: Rhs;
  at: number;
  opAt: number;
}

export type Expr =
  | { kind: 'and'; children: Expr[]; at: number }
  | { kind: 'or'; children: Expr[]; at: number }
  | { kind: 'not'; child: Expr; at: number }
  | { kind: 'macro'; name: string; at: number }
  | CheckNode;

export const NUM_OPS: readonly CheckOp[] = ['<=', '<', '>=', '>'];
export const STR_OPS: readonly CheckOp[] = [
  '==',
  '=',
  '!=',
  'glob',
  'iglob',
  'contains',
  'icontains',
  'bcontains',
  'startswith',
  'bstartswith',
  'endswith',
  'regex',
];
export const LIST_OPS: readonly CheckOp[] = ['intersects', 'in', 'pmatch'];

/**
 * An exception's comp: an operator, or a string operator with a list
 * modifier (`startswith oneof`, Falco 0.44's rule_loader_cmpop.h: only
 * string operators take one). Undefined when it is neither.
 */
export function parseComp(text: string): { op: CheckOp; mod?: OpModifier } | undefined {
  const parts = text.trim().split(/\s+/);
  const op = parts[0] as CheckOp;
  if (parts.length === 1) return ALL_OPS.includes(op) ? { op } : undefined;
  const mod = parts[1] as OpModifier;
  if (parts.length === 2 && STR_OPS.includes(op) && OP_MODIFIERS.includes(mod)) return { op, mod };
  return undefined;
}
export const ALL_OPS: readonly CheckOp[] = ['exists', ...NUM_OPS, ...STR_OPS, ...LIST_OPS];
export const TRANSFORMERS: readonly Transformer[] = ['tolower', 'toupper', 'b64', 'basename', 'len'];

/** Word operators must be followed by a blank; symbolic ones need not be. */
const WORD_STR_OPS = new Set<CheckOp>(STR_OPS.filter((op) => /^[a-z]/.test(op)));

const RGX_IDENTIFIER = /[a-zA-Z]+[a-zA-Z0-9_]*/y;
const RGX_FIELDNAME = /[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+/y;
const RGX_FIELDARG_BARESTR = /[^\][\"'\s]+/y;
const RGX_HEXNUM = /0[xX][0-9a-zA-Z]+/y;
const RGX_NUMBER = /[+-]?[0-9]+\.?[0-9]*(?:[eE][+-][0-9]+)?/y;
const RGX_BARESTR = /[^()"'\s=,]+/y;
const RGX_NOT_BLANK = /not\s+/y;

/** Thrown by the parser; the loader turns it into a RulesLoadError with file and item. */
export class ConditionError extends LabError<AuditErrorCode> {
  /** 0-based offset in the condition text. */
  readonly offset: number;
  /** The message without the position. */
  readonly what: string;

  constructor(code: AuditErrorCode, what: string, offset: number) {
    super(code, `${what} (at offset ${offset})`);
    this.what = what;
    this.offset = offset;
  }
}

/** 1-based line and column of an offset in a text. CRLF counts as one line break. */
export function positionOf(text: string, offset: number): { line: number; column: number; offset: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, offset };
}

/** Parses a whole condition. Throws ConditionError. */
export function parseCondition(text: string): Expr {
  return new Parser(text).parse();
}

/**
 * Parses one string as the filter grammar reads a string value: a quoted
 * string is unquoted and unescaped, anything else is taken as is. Used for
 * list items and exception values, which Falco pastes into conditions.
 */
export function parseStringItem(item: string): { value: string; quoted: boolean } {
  const first = item[0];
  if ((first === '"' || first === "'") && item.length >= 2) {
    const p = new Parser(item);
    const token = p.tryQuoted();
    if (token !== undefined && p.atEnd()) return { value: token, quoted: true };
  }
  return { value: item, quoted: false };
}

const MAX_DEPTH = 1000;

class Parser {
  private pos = 0;
  private depth = 0;
  private lastToken = '';

  private readonly src: string;

  constructor(src: string) {
    this.src = src;
  }

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  parse(): Expr {
    if (this.src.length === 0) this.fail('CONDITION_SYNTAX', 'condition is empty');
    const expr = this.parseOr();
    if (this.pos !== this.src.length) {
      this.fail(
        'CONDITION_SYNTAX',
        `unexpected token after '${this.lastToken}': expected 'and', 'or' or the end, got ${this.got()}`,
      );
    }
    return expr;
  }

  private fail(code: AuditErrorCode, what: string, at = this.pos): never {
    throw new ConditionError(code, what, at);
  }

  /** A short description of the text at the cursor, for "got ..." in errors. */
  private got(at = this.pos): string {
    if (at >= this.src.length) return 'the end of the condition';
    const m = /^\S{1,24}/.exec(this.src.slice(at));
    return `'${m ? m[0] : this.src[at]}'`;
  }

  private enter(): void {
    if (++this.depth >= MAX_DEPTH) this.fail('CONDITION_SYNTAX', `nesting deeper than ${MAX_DEPTH} levels`);
  }

  private leave(): void {
    this.depth--;
  }

  private blank(): boolean {
    const start = this.pos;
    while (this.pos < this.src.length) {
      const c = this.src.charCodeAt(this.pos);
      // space, \t, \n, \r, \b as in libsinsp's lex_blank; also \v and \f.
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 8 || c === 11 || c === 12) this.pos++;
      else break;
    }
    return this.pos > start;
  }

  private isBlankAt(i: number): boolean {
    const c = this.src.charCodeAt(i);
    return c === 32 || c === 9 || c === 10 || c === 13 || c === 8 || c === 11 || c === 12;
  }

  private str(s: string): boolean {
    if (this.src.startsWith(s, this.pos)) {
      this.pos += s.length;
      this.lastToken = s;
      return true;
    }
    return false;
  }

  private rgx(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.src);
    if (!m) return undefined;
    this.pos += m[0].length;
    this.lastToken = m[0];
    return m[0];
  }

  private parseOr(): Expr {
    this.enter();
    const at = this.pos;
    this.blank();
    const children: Expr[] = [this.parseAnd()];
    this.blank();
    while (this.str('or')) {
      if (!this.blank()) {
        if (this.str('(')) children.push(this.parseEmbedded());
        else this.fail('CONDITION_SYNTAX', `expected a blank or '(' after 'or', got ${this.got()}`);
      } else {
        children.push(this.parseAnd());
      }
      this.blank();
    }
    this.leave();
    return children.length > 1 ? { kind: 'or', children, at } : children[0]!;
  }

  private parseAnd(): Expr {
    this.enter();
    const at = this.pos;
    this.blank();
    const children: Expr[] = [this.parseNot()];
    this.blank();
    while (this.str('and')) {
      if (!this.blank()) {
        if (this.str('(')) children.push(this.parseEmbedded());
        else this.fail('CONDITION_SYNTAX', `expected a blank or '(' after 'and', got ${this.got()}`);
      } else {
        children.push(this.parseNot());
      }
      this.blank();
    }
    this.leave();
    return children.length > 1 ? { kind: 'and', children, at } : children[0]!;
  }

  private parseNot(): Expr {
    this.enter();
    this.blank();
    const at = this.pos;
    let negate = false;
    while (this.rgx(RGX_NOT_BLANK) !== undefined) negate = !negate;
    let child: Expr;
    if (this.str('not(')) {
      negate = !negate;
      child = this.parseEmbedded();
    } else {
      child = this.parseCheck();
    }
    this.leave();
    return negate ? { kind: 'not', child, at } : child;
  }

  /** The rest of a parenthesised expression, after its '('. */
  private parseEmbedded(): Expr {
    this.enter();
    const open = this.pos - 1;
    this.blank();
    const child = this.parseOr();
    this.blank();
    if (!this.str(')')) {
      this.fail('CONDITION_SYNTAX', `expected ')' to close the '(' at offset ${open}, got ${this.got()}`);
    }
    this.leave();
    return child;
  }

  private parseCheck(): Expr {
    this.enter();
    this.blank();
    const at = this.pos;
    let result: Expr;
    if (this.str('(')) {
      result = this.parseEmbedded();
    } else if (this.rgx(RGX_FIELDNAME) !== undefined) {
      const left = this.parseFieldRemainder(this.lastToken, at);
      result = this.parseCondition(left, at);
    } else {
      const fn = this.transformerStart();
      if (fn !== undefined) {
        const left = this.parseTransformerRemainder(fn, at);
        result = this.parseCondition(left, at);
      } else if (this.rgx(RGX_IDENTIFIER) !== undefined) {
        result = { kind: 'macro', name: this.lastToken, at };
      } else {
        this.fail('CONDITION_SYNTAX', `expected '(', a field check or a macro name, got ${this.got()}`);
      }
    }
    this.leave();
    return result;
  }

  private transformerStart(): Transformer | undefined {
    for (const fn of TRANSFORMERS) {
      if (this.str(`${fn}(`)) return fn;
    }
    return undefined;
  }

  private parseFieldRemainder(name: string, at: number): FieldNode {
    if (!this.str('[')) return { kind: 'field', name, at };
    const arg = this.tryQuoted() ?? this.rgx(RGX_FIELDARG_BARESTR);
    if (arg === undefined) {
      this.fail('CONDITION_SYNTAX', `expected a field argument (a quoted or bare string) after '${name}[', got ${this.got()}`);
    }
    if (!this.str(']')) this.fail('CONDITION_SYNTAX', `expected ']' after '${name}[${arg}', got ${this.got()}`);
    return { kind: 'field', name, arg, at };
  }

  /** After `fn(`: a field or a nested transformer, then ')'. */
  private parseTransformerRemainder(fn: Transformer, at: number): TransformNode {
    this.enter();
    this.blank();
    const argAt = this.pos;
    let operand: Operand;
    const nested = this.transformerStart();
    if (nested !== undefined) {
      operand = this.parseTransformerRemainder(nested, argAt);
    } else if (this.rgx(RGX_FIELDNAME) !== undefined) {
      operand = this.parseFieldRemainder(this.lastToken, argAt);
    } else {
      this.fail('CONDITION_SYNTAX', `expected a field or a transformer inside '${fn}(', got ${this.got()}`);
    }
    this.blank();
    if (!this.str(')')) this.fail('CONDITION_SYNTAX', `expected ')' to close '${fn}(', got ${this.got()}`);
    this.leave();
    return { kind: 'transform', fn, operand, at };
  }

  private parseCondition(left: Operand, at: number): CheckNode {
    this.enter();
    this.blank();
    const opAt = this.pos;
    let result: CheckNode;
    if (this.str('exists')) {
      result = { kind: 'check', left, op: 'exists', at, opAt };
    } else {
      const num = NUM_OPS.find((op) => this.str(op));
      if (num !== undefined) {
        result = { kind: 'check', left, op: num, right: this.parseNumValue(), at, opAt };
      } else {
        const strOp = this.strOp();
        const mod = strOp === undefined ? undefined : this.opModifier();
        if (strOp !== undefined && mod !== undefined) {
          result = { kind: 'check', left, op: strOp, mod, right: this.parseListValue(), at, opAt };
        } else if (strOp !== undefined) {
          result = { kind: 'check', left, op: strOp, right: this.parseStrValue(false), at, opAt };
        } else {
          const listOp = LIST_OPS.find((op) => this.str(op));
          if (listOp !== undefined) {
            result = { kind: 'check', left, op: listOp, right: this.parseListValue(), at, opAt };
          } else {
            this.fail(
              'BAD_OPERATOR',
              `expected an operator (one of ${ALL_OPS.join(', ')}), got ${this.got()}`,
            );
          }
        }
      }
    }
    this.leave();
    return result;
  }

  /**
   * libsinsp's parse_condition: after a string operator and a blank, a
   * modifier word and one blank, when a list or list name follows (not
   * and/or/not). Otherwise nothing is consumed and `oneof` is a value.
   */
  private opModifier(): OpModifier | undefined {
    let i = this.pos;
    if (!this.isBlankAt(i)) return undefined;
    while (this.isBlankAt(i)) i++;
    const mod = OP_MODIFIERS.find((m) => this.src.startsWith(m, i) && this.isBlankAt(i + m.length));
    if (mod === undefined) return undefined;
    const next = i + mod.length + 1;
    const rest = this.src.slice(next);
    const listFollows = rest.startsWith('(') || (/^[a-zA-Z]/.test(rest) && !/^(and|or|not)(?![a-zA-Z0-9])/.test(rest));
    if (!listFollows) return undefined;
    this.pos = next;
    this.lastToken = mod;
    return mod;
  }

  private strOp(): CheckOp | undefined {
    for (const op of STR_OPS) {
      if (!this.src.startsWith(op, this.pos)) continue;
      if (WORD_STR_OPS.has(op)) {
        // libsinsp lexes "contains " with its blank; any blank will do here.
        if (!this.isBlankAt(this.pos + op.length)) continue;
      }
      this.pos += op.length;
      this.lastToken = op;
      return op;
    }
    return undefined;
  }

  private parseNumValue(): Rhs {
    this.enter();
    this.blank();
    const at = this.pos;
    const operand = this.tryRhsOperand();
    let result: Rhs;
    if (operand) {
      result = operand;
    } else {
      const num = this.rgx(RGX_HEXNUM) ?? this.rgx(RGX_NUMBER);
      if (num === undefined) this.fail('BAD_VALUE', `expected a number or val(field), got ${this.got()}`);
      result = { kind: 'value', value: num, quoted: false, at };
    }
    this.leave();
    return result;
  }

  private parseStrValue(noOperand: boolean): ValueNode | RhsOperandNode {
    this.enter();
    this.blank();
    const at = this.pos;
    let result: ValueNode | RhsOperandNode | undefined = noOperand ? undefined : this.tryRhsOperand();
    if (!result) {
      const quoted = this.tryQuoted();
      if (quoted !== undefined) {
        result = { kind: 'value', value: quoted, quoted: true, at };
      } else {
        const bare = this.rgx(RGX_BARESTR);
        if (bare === undefined) {
          this.fail('CONDITION_SYNTAX', `expected a string value${noOperand ? '' : ' or val(field)'}, got ${this.got()}`);
        }
        result = { kind: 'value', value: bare, quoted: false, at };
      }
    }
    this.leave();
    return result;
  }

  private parseListValue(): Rhs {
    this.enter();
    this.blank();
    const at = this.pos;
    let result: Rhs;
    if (this.str('(')) {
      const items: ValueNode[] = [];
      this.blank();
      if (!this.src.startsWith(')', this.pos)) {
        items.push(this.parseStrValue(true) as ValueNode);
        this.blank();
        while (this.str(',')) {
          items.push(this.parseStrValue(true) as ValueNode);
          this.blank();
        }
      }
      if (!this.str(')')) {
        this.fail('CONDITION_SYNTAX', `expected ',' or ')' in the list opened at offset ${at}, got ${this.got()}`);
      }
      result = { kind: 'list', items, at };
    } else {
      const operand = this.tryRhsOperand();
      if (operand) {
        result = operand;
      } else if (this.rgx(RGX_IDENTIFIER) !== undefined) {
        result = { kind: 'listref', name: this.lastToken, at };
      } else {
        this.fail('CONDITION_SYNTAX', `expected a list '(...)', a list name or val(field), got ${this.got()}`);
      }
    }
    this.leave();
    return result;
  }

  /** `val(field)` or `transformer(...)` on the right-hand side, or undefined. */
  private tryRhsOperand(): RhsOperandNode | undefined {
    this.blank();
    const at = this.pos;
    if (this.str('val(')) {
      this.blank();
      const fieldAt = this.pos;
      if (this.rgx(RGX_FIELDNAME) === undefined) {
        this.fail('CONDITION_SYNTAX', `expected a field inside 'val(', got ${this.got()}`);
      }
      const field = this.parseFieldRemainder(this.lastToken, fieldAt);
      this.blank();
      if (!this.str(')')) this.fail('CONDITION_SYNTAX', `expected ')' to close 'val(', got ${this.got()}`);
      return { kind: 'operand', operand: field, at };
    }
    const fn = this.transformerStart();
    if (fn !== undefined) return { kind: 'operand', operand: this.parseTransformerRemainder(fn, at), at };
    return undefined;
  }

  /**
   * A '...' or "..." string, unescaped as libsinsp's unescape_str does:
   * \b \f \n \r \t \\ \/ \xHH, \" only inside "...", \' only inside '...',
   * and the legacy "\ " which yields a lone backslash.
   */
  tryQuoted(): string | undefined {
    const delim = this.src[this.pos];
    if (delim !== '"' && delim !== "'") return undefined;
    const start = this.pos;
    let out = '';
    let i = start + 1;
    while (i < this.src.length) {
      const c = this.src[i]!;
      if (c === delim) {
        this.pos = i + 1;
        this.lastToken = this.src.slice(start, i + 1);
        return out;
      }
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = this.src[i + 1];
      switch (e) {
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case ' ':
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case '"':
        case "'":
          if (e !== delim) {
            this.fail('BAD_VALUE', `invalid \\${e} escape in a ${delim}-quoted string`, i);
          }
          out += e;
          break;
        case 'x': {
          const hex = this.src.slice(i + 2, i + 4);
          if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
            this.fail('BAD_VALUE', `expected two hex digits after \\x, got '${hex}'`, i);
          }
          out += String.fromCharCode(parseInt(hex, 16));
          i += 2;
          break;
        }
        case undefined:
          this.fail('CONDITION_SYNTAX', `unterminated string opened at offset ${start}`, start);
        default:
          this.fail('BAD_VALUE', `unsupported escape sequence \\${e} in a quoted string`, i);
      }
      i += 2;
    }
    this.fail('CONDITION_SYNTAX', `unterminated string opened at offset ${start}: expected a closing ${delim}`, start);
  }
}
