/**
 * "Did you mean …?": the known names closest to a misspelt one, for error
 * messages (an unknown YAML field, an undefined step).
 */

/** Levenshtein distance: insertions, deletions and substitutions, each costing 1. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Up to `limit` candidates closest to `word`, nearest first (ties keep the
 * candidates' order). Only candidates within `maxRatio` of the longer
 * string's length count: a suggestion that shares nothing helps nobody.
 */
export function closest(word: string, candidates: Iterable<string>, { limit = 1, maxRatio = 0.5 } = {}): string[] {
  const w = word.toLowerCase();
  return [...new Set(candidates)]
    .map((c, i) => ({ c, i, d: editDistance(w, c.toLowerCase()) }))
    .filter(({ c, d }) => d <= Math.max(1, Math.floor(maxRatio * Math.max(w.length, c.length))))
    .sort((x, y) => x.d - y.d || x.i - y.i)
    .slice(0, limit)
    .map(({ c }) => c);
}
