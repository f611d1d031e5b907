/**
 * `integrity-lab watchdog events|status [LAB_ID]`: the watchdog's alerts
 * (and, on request, its activity) as JSON lines, or its status, read from a
 * running lab node.
 */
import { parseArgs } from 'node:util';
import type { Command, CliIo } from '../cli/command.ts';
import { containerExec, type Exec } from '../exec.ts';
import { listLabs } from '../node/lab-node.ts';
import { ACTIVITY_LOG, ALERT_LOG, STATUS_FILE } from './config.ts';
import { readActivity, readAlerts, readStatus } from './component.ts';
import { watchdogError } from './errors.ts';

const usage = `usage:
  integrity-lab watchdog events [LAB_ID] [--since TIME] [--activity]
      the watchdog's alerts as JSON lines (one object per alert), oldest first;
      --since: an ISO 8601 time, or a duration back from now (30s, 5m, 2h);
      --activity: also what it did besides alerting (containers watched,
      enforcement, leftover mounts released, errors), marked "record":"activity"
  integrity-lab watchdog status [LAB_ID]
      the daemon's status: how it notices mounts (fanotify or polling), the
      containers it watches, scan and re-verification counters
LAB_ID may be left out when exactly one lab runs (\`integrity-lab lab status\` lists them).`;

export interface WatchdogCommandDeps {
  /** The ids of the labs on this engine (each once, whatever containers it has). */
  labs(): Promise<string[]>;
  /** Runs commands in a lab's node. */
  nodeExec(labId: string): Exec;
  now(): Date;
}

/** `2026-11-22T13:00:00Z`, or `30s` / `5m` / `2h` before now. */
export function parseSince(text: string, now: Date): Date {
  const rel = /^(\d+)(s|m|h)$/.exec(text);
  if (rel) return new Date(now.getTime() - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[rel[2] as 's' | 'm' | 'h']);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw watchdogError('WATCHDOG_CONFIG_INVALID', `--since: expected an ISO 8601 time or a duration such as 30s, 5m or 2h, got "${text}"`);
  return new Date(t);
}

async function resolveLab(deps: WatchdogCommandDeps, id: string | undefined): Promise<string> {
  const labs = [...new Set(await deps.labs())];
  if (id) {
    if (labs.includes(id)) return id;
    throw watchdogError('WATCHDOG_LAB_NOT_FOUND', `no lab "${id}"; labs: ${labs.join(', ') || '(none)'}`);
  }
  if (labs.length === 1) return labs[0]!;
  throw watchdogError('WATCHDOG_LAB_NOT_FOUND', labs.length === 0 ? 'no lab is running: `integrity-lab lab up --profile integrity`' : `several labs run; name one: ${labs.join(', ')}`);
}

export function createWatchdogCommand(deps: WatchdogCommandDeps): Command {
  return {
    name: 'watchdog',
    summary: 'alerts and status of the mount watchdog on a lab node',
    usage,
    async run(argv: string[], io: CliIo): Promise<number> {
      const [sub, ...rest] = argv;
      let parsed;
      try {
        parsed = parseArgs({ args: rest, allowPositionals: true, options: { since: { type: 'string' }, activity: { type: 'boolean', default: false } } });
      } catch (err) {
        io.err(`${(err as Error).message}\n${usage}`);
        return 2;
      }
      const { values, positionals } = parsed;
      if ((sub !== 'events' && sub !== 'status') || positionals.length > 1) {
        io.err(usage);
        return 2;
      }
      const labId = await resolveLab(deps, positionals[0]);
      const node = deps.nodeExec(labId);
      if (sub === 'status') {
        const status = await readStatus(node, { statusFile: STATUS_FILE });
        if (!status) {
          io.err(`lab ${labId} has no watchdog status at ${STATUS_FILE}: its profile does not run the watchdog, or the daemon has not started`);
          return 1;
        }
        io.out(JSON.stringify(status));
        return 0;
      }
      const since = values.since === undefined ? undefined : parseSince(values.since, deps.now());
      // Alone, alerts are printed exactly as logged; mixed with activity, each line says which it is.
      const tag = values.activity;
      const lines: { at: number; text: string }[] = (await readAlerts(node, { alertLog: ALERT_LOG }, since)).map((a) => ({ at: a.detectedAt, text: JSON.stringify(tag ? { record: 'alert', ...a } : a) }));
      if (values.activity) {
        for (const r of await readActivity(node, { activityLog: ACTIVITY_LOG }, since)) lines.push({ at: Date.parse(r.time), text: JSON.stringify({ record: 'activity', ...r }) });
      }
      lines.sort((a, b) => a.at - b.at);
      for (const l of lines) io.out(l.text);
      return 0;
    },
  };
}

export const command: Command = createWatchdogCommand({
  labs: async () => (await listLabs()).map((l) => l.labId),
  nodeExec: (labId) => containerExec(`integrity-lab-${labId}`),
  now: () => new Date(),
});
