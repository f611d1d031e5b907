/**
 * Pattern matchers for the `glob` and `pmatch` operators.
 *
 * `glob` follows fnmatch(3) with no flags, as libsinsp calls it: `*` and `?`
 * also match '/', `[...]` is a bracket expression (`[!...]` or `[^...]`
 * negates), and a backslash quotes the next character. The whole string
 * must match.
 *
 * `pmatch` follows falco.org/docs/concepts/rules/conditions ("pmatch
 * operator"): true when one of the prefixes is the path itself or a parent
 * directory of it. A prefix may hold glob wildcards, which match within one
 * path component only (glob(7)).
 */

/** Compiles an fnmatch pattern to an anchored RegExp. */
export function globToRegExp(pattern: string, ignoreCase = false): RegExp {
  return new RegExp(`^${globBody(pattern, false)}$`, ignoreCase ? 'is' : 's');
}

/** The RegExp source for a pattern; with `component`, wildcards stop at '/'. */
function globBody(pattern: string, component: boolean): string {
  const any = component ? '[^/]' : '.';
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      out += `${any}*`;
    } else if (c === '?') {
      out += any;
    } else if (c === '\\' && i + 1 < pattern.length) {
      out += escapeRe(pattern[++i]!);
    } else if (c === '[') {
      const end = bracketEnd(pattern, i);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      let negate = false;
      if (body[0] === '!' || body[0] === '^') {
        negate = true;
        body = body.slice(1);
      }
      // Inside a RegExp class only \, ] and ^ need care; '-' keeps its range meaning.
      const cls = body.replace(/[\\\]^]/g, (m) => `\\${m}`);
      out += negate ? `[^${cls}${component ? '/' : ''}]` : `[${cls}]`;
      i = end;
    } else {
      out += escapeRe(c);
    }
  }
  return out;
}

/** Index of the ']' closing the bracket expression at `start`, or -1. A ']' first in the set is literal. */
function bracketEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === '!' || pattern[i] === '^') i++;
  if (pattern[i] === ']') i++;
  for (; i < pattern.length; i++) if (pattern[i] === ']') return i;
  return -1;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function hasWildcard(s: string): boolean {
  return /[*?[]/.test(s);
}

/** A predicate: does some prefix in the set cover this path? */
export function pathPrefixMatcher(prefixes: readonly string[]): (path: string) => boolean {
  const plain = new Set<string>();
  const patterned: RegExp[][] = [];
  let matchesAll = false;
  for (const raw of prefixes) {
    const p = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
    if (p === '/') {
      matchesAll = true;
    } else if (hasWildcard(p)) {
      patterned.push(p.split('/').map((part) => new RegExp(`^${globBody(part, true)}$`, 's')));
    } else {
      plain.add(p);
    }
  }
  return (path: string) => {
    if (matchesAll) return path.startsWith('/');
    if (plain.has(path)) return true;
    // Walk up the parents: /a/b/c → /a/b → /a.
    let end = path.lastIndexOf('/');
    while (end > 0) {
      if (plain.has(path.slice(0, end))) return true;
      end = path.lastIndexOf('/', end - 1);
    }
    if (patterned.length === 0) return false;
    const parts = path.split('/');
    return patterned.some((pat) => pat.length <= parts.length && pat.every((re, i) => re.test(parts[i]!)));
  };
}
