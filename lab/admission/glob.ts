/**
 * Shell-style globs as the Deckhouse policies use them: `d8-*` for
 * namespaces, `kernel.*` for sysctls, `localhost/*` for AppArmor profiles,
 * `registry.example.com/app/*` for image references. Only `*` is special and
 * it matches any run of characters, `/` included; everything else is literal.
 */

const cache = new Map<string, RegExp>();

/** Compiles a glob into an anchored RegExp (memoised: policies reuse a handful of patterns). */
export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re === undefined) {
    const body = glob
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${body}$`, 's');
    if (cache.size > 4096) cache.clear();
    cache.set(glob, re);
  }
  return re;
}

/** True when `value` matches `glob` in full. */
export function globMatch(glob: string, value: string): boolean {
  if (!glob.includes('*')) return glob === value;
  return globToRegExp(glob).test(value);
}

/** True when `value` matches at least one of `globs`. */
export function anyGlobMatch(globs: readonly string[], value: string): boolean {
  for (const glob of globs) if (globMatch(glob, value)) return true;
  return false;
}
