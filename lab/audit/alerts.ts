/**
 * Reading alerts back: a JSON-lines file with one Falco JSON alert per
 * line, as Falco writes with json_output (and as the lab's node writes its
 * alert log). Each line is decoded and checked before it is trusted.
 */
import type { Alert } from './engine.ts';
import { LabError, type AuditErrorCode } from './errors.ts';
import { PRIORITIES, type Priority } from './loader.ts';

function fail(line: number, what: string): never {
  throw new LabError<AuditErrorCode>('ALERT_FORMAT', `alert at line ${line}: ${what}`);
}

/** Decodes one JSON line into an Alert. Throws LabError ALERT_FORMAT. */
export function parseAlertLine(text: string, line = 1): Alert {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    fail(line, `not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(line, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  const o = value as Record<string, unknown>;
  const str = (key: string, required: boolean): string | undefined => {
    const v = o[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string') fail(line, `'${key}' should be a string, got ${v === undefined ? 'nothing' : JSON.stringify(v)}`);
    return v;
  };
  const priorityText = str('priority', true)!;
  const priority = PRIORITIES.find((p) => p.toLowerCase() === priorityText.toLowerCase()) as Priority | undefined;
  if (!priority) fail(line, `'priority' should be one of ${PRIORITIES.join(', ')}, got '${priorityText}'`);
  const tags = o.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) fail(line, `'tags' should be a list of strings`);
  const fields = o.output_fields ?? {};
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) fail(line, `'output_fields' should be an object`);
  return {
    output: str('output', true)!,
    priority,
    rule: str('rule', true)!,
    time: str('time', true)!,
    output_fields: fields as Alert['output_fields'],
    source: str('source', false) ?? 'syscall',
    tags: tags as string[],
    hostname: str('hostname', false) ?? '',
  };
}

/** Decodes a JSON-lines text; blank lines are skipped. */
export function parseAlertsJsonl(text: string): Alert[] {
  const out: Alert[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() !== '') out.push(parseAlertLine(line, i + 1));
  });
  return out;
}

/** Priority rank: 0 is Emergency, 7 is Debug. */
export function priorityRank(p: Priority): number {
  return PRIORITIES.indexOf(p);
}
