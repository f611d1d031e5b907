/**
 * Alerts as data: one JSON object per line in the node's alert log
 * (/var/log/integrity-lab/watchdog-alerts.jsonl), and what the watchdog did
 * besides alerting in its activity log. Both are append-only; readers take
 * whole lines only, so a line being written is never half-read.
 */
import type { WatchdogMode } from './config.ts';
import { watchdogError } from './errors.ts';

export type NotifyMode = 'fanotify-mnt' | 'poll';
export type ScanTrigger = 'fanotify' | 'poll' | 'full-scan' | 'discovery' | 'reverify';

export interface WatchdogAlert {
  /** When the alert was written (ISO 8601). */
  time: string;
  component: 'watchdog';
  /**
   * `mount`: the namespace differs from its expected set; `layer`: a layer in
   * use no longer matches its signed root hash; `gate`: a container in a
   * protected namespace did not pass the start gate; `defence`: a file the
   * node gates are made of changed (container `node`).
   */
  kind: 'mount' | 'layer' | 'gate' | 'defence';
  container: string;
  containerName?: string;
  pod?: string;
  namespace?: string;
  image?: string;
  mode: WatchdogMode;
  /** `stop`: enforce mode stopped the container (see the activity log for how it went). */
  action: 'alert' | 'stop';
  /** Most specific first, e.g. ["overmount-file", "host-bind", "unverified-source"]. */
  reasons: string[];
  reason: string;
  mount?: { line: string; mountPoint: string; fstype: string; source: string; root: string; majmin: string; hostPath?: string };
  layer?: { file: string; digest?: string; signed: string; actual?: string; bytes?: number };
  /** `kind: "defence"`: the file, and its pinned and current sha256 (or `missing`). */
  defence?: { file: string; pinned?: string; now?: string };
  /** How mount changes reach the watchdog. */
  notify: NotifyMode;
  trigger: ScanTrigger;
  /** When the kernel's mount event was read (ms since the epoch), for fanotify triggers. */
  eventTime?: number;
  /** When the finding was made (ms since the epoch). */
  detectedAt: number;
  watchdog: { pid: number; startedAt: string };
}

export type ActivityKind =
  | 'started'
  | 'stopping'
  | 'notify'
  | 'container-added'
  | 'container-removed'
  | 'container-ignored'
  | 'enforced'
  | 'namespace-freed'
  | 'namespace-held'
  | 'leftovers-released'
  | 'reverified'
  | 'trust'
  | 'pins'
  | 'error';

export interface ActivityRecord {
  time: string;
  kind: ActivityKind;
  container?: string;
  message: string;
  data?: unknown;
}

/** Parses JSON lines; a torn last line (no newline yet) is left for the next read. */
export function parseJsonLines<T>(text: string, source: string): T[] {
  const lines = text.split('\n');
  if (!text.endsWith('\n')) lines.pop();
  const out: T[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      throw watchdogError('WATCHDOG_ALERT_LOG_INVALID', `${source}:${i + 1}: not a JSON line: ${line.slice(0, 120)}`, err);
    }
  }
  return out;
}

export function alertsSince(alerts: readonly WatchdogAlert[], since?: Date): WatchdogAlert[] {
  if (!since) return [...alerts];
  const t = since.getTime();
  return alerts.filter((a) => a.detectedAt >= t);
}

/** One line for people: `mount overmount-file kube-system/system-agent/system-agent: …`. */
export function formatAlert(a: WatchdogAlert): string {
  const who = [a.namespace, a.pod, a.containerName].filter(Boolean).join('/') || a.container.slice(0, 12);
  return `${a.time} ${a.kind} ${a.reasons[0] ?? ''} ${who} [${a.mode}${a.action === 'stop' ? ', stopped' : ''}]: ${a.reason}`;
}
