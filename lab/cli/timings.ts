/**
 * `--repeat N`: each scenario's durations over the repetitions, read from
 * the JUnit XML of each repetition, as a distribution (for detection
 * latencies and flake hunting: a scenario that failed some of the runs is
 * flaky).
 */

export interface CaseRun {
  name: string;
  seconds: number;
  passed: boolean;
}

const attr = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The test cases of one JUnit XML document, as cucumber-js writes it. */
export function parseJunitCases(xml: string): CaseRun[] {
  const out: CaseRun[] = [];
  // Attribute values may hold '>' (cucumber-js writes an outline's "<attack> (<profile>)" that way): skip quoted text.
  const re = /<testcase\b((?:[^>"]|"[^"]*")*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const tag = m[1]!;
    const body = m[3] ?? '';
    const classname = attr(tag, 'classname');
    const name = unescape(attr(tag, 'name') ?? '?');
    out.push({ name: classname ? `${unescape(classname)}: ${name}` : name, seconds: Number(attr(tag, 'time') ?? 'NaN'), passed: !/<(failure|error|skipped)\b/.test(body) });
  }
  return out;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function renderTimings(runs: readonly CaseRun[][]): string {
  const byName = new Map<string, CaseRun[]>();
  for (const run of runs) for (const c of run) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
  if (byName.size === 0) return 'No scenario ran.';
  const header = ['scenario', 'runs', 'failed', 'min s', 'median s', 'p90 s', 'max s'];
  const rows = [...byName].map(([name, list]) => {
    const s = list.map((c) => c.seconds).filter(Number.isFinite).sort((a, b) => a - b);
    const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
    return [name, String(list.length), String(list.filter((c) => !c.passed).length), f(s[0]), f(s.length ? percentile(s, 50) : undefined), f(s.length ? percentile(s, 90) : undefined), f(s.at(-1))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}
