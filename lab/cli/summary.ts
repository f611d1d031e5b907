/**
 * The terminal summary of a conformance run: one row per attack carried out,
 * naming its scenario (an outline's example included), the outcome, the
 * component that earned it, and the expectation, read from the outcomes the
 * steps recorded (reports/outcomes.jsonl).
 */
import { readFile } from 'node:fs/promises';

export interface OutcomeLine {
  attack: string;
  profile: string;
  outcome: string;
  expected?: string;
  scenario: string;
  /** The component that earned a blocked or detected verdict. */
  earnedBy?: string;
}

export async function readOutcomes(path: string): Promise<OutcomeLine[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutcomeLine);
}

export function renderSummaryTable(lines: OutcomeLine[]): string {
  if (lines.length === 0) return 'No attack was carried out in this run.';
  const rows = lines.map((l) => [
    l.scenario,
    l.attack,
    l.profile,
    l.outcome,
    l.earnedBy ?? '-',
    l.expected ?? '(none stated)',
    l.expected === l.outcome ? 'ok' : 'MISMATCH',
  ]);
  const header = ['scenario', 'attack', 'profile', 'outcome', 'earned by', 'expected', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}
