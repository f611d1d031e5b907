/**
 * Writes docs/steps.md: every step definition with where it is defined and
 * an example from the features, from cucumber-js's own usage report, so the
 * list cannot drift from the code. `npm run docs:steps`; `--check` fails
 * when the committed file is out of date (used by lint:features).
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

interface Usage {
  pattern: string;
  patternType: string;
  uri: string;
  line: number;
  matches: { text: string; uri: string; line: number }[];
}

const root = join(import.meta.dirname, '..');
const out = join(root, 'docs/steps.md');

export function renderStepDocs(usage: Usage[]): string {
  const byFile = new Map<string, Usage[]>();
  for (const u of usage) byFile.set(u.uri, [...(byFile.get(u.uri) ?? []), u]);
  const lines = [
    '# Step reference',
    '',
    'Generated from cucumber-js\'s usage report by `npm run docs:steps`; do not edit by hand.',
    'Each step shows where it is defined and one place a feature uses it. `{profile}`,',
    '`{workload}` and `{attack}` are quoted names from `scenarios/`.',
    '',
  ];
  for (const [file, steps] of [...byFile].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`## ${file}`, '');
    lines.push('| step | example |', '| --- | --- |');
    for (const s of [...steps].sort((a, b) => a.line - b.line)) {
      const example = s.matches[0];
      const ex = example ? `\`${example.text.replace(/\|/g, '\\|')}\` (${example.uri}:${example.line})` : '_unused_';
      lines.push(`| \`${s.pattern.replace(/\|/g, '\\|')}\` | ${ex} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

if (import.meta.main) {
  const r = spawnSync(join(root, 'node_modules/.bin/cucumber-js'), ['--dry-run', '--format', 'usage-json'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '--import tsx' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    console.error(`cucumber-js --dry-run failed (${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  const text = renderStepDocs(JSON.parse(r.stdout) as Usage[]);
  if (process.argv.includes('--check')) {
    if ((await readFile(out, 'utf8').catch(() => '')) !== text) {
      console.error('docs/steps.md is out of date: run npm run docs:steps');
      process.exit(1);
    }
  } else {
    await writeFile(out, text);
    console.log(`wrote ${out}`);
  }
}
