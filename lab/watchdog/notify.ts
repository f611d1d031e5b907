/**
 * Mount notification: the fanotify helper (native/mntnotify.c) as a child
 * process speaking JSON lines. Where the kernel lacks fanotify mount events
 * (before 6.15), the helper is missing or it dies, the watchdog polls.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface MountEvent {
  type: 'mount';
  event: 'attach' | 'detach' | 'move';
  mntId: string;
  key: string | null;
  time: number;
}

export type HelperLine =
  | { type: 'ready'; notify: 'fanotify-mnt' }
  | { type: 'unavailable'; error: string }
  | { type: 'watching'; key: string; nsId: string | null }
  | { type: 'watch-failed'; key: string; error: string }
  | { type: 'unwatched'; key: string }
  | MountEvent
  | { type: 'overflow'; time: number };

export interface MountNotifier {
  readonly pid: number | undefined;
  watch(key: string, nsPath: string): void;
  unwatch(key: string, nsPath?: string): void;
  close(): void;
}

export interface NotifyHandlers {
  onLine(line: HelperLine): void;
  /** The helper exited after it was ready: the watchdog falls back to polling. */
  onExit(reason: string): void;
}

/**
 * Starts the helper; resolves once it reports ready, or with the reason it
 * cannot be used (then it is not running). `program` is what is executed
 * (the watchdog's descriptor of the pinned file), `helper` names it in
 * reasons.
 */
export function startNotifier(program: string, handlers: NotifyHandlers, helper = program, timeoutMs = 3000): Promise<{ ok: true; notifier: MountNotifier } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(program, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ ok: false, reason: `cannot start ${helper}: ${(err as Error).message}` });
      return;
    }
    let settled = false;
    const settle = (v: { ok: true; notifier: MountNotifier } | { ok: false; reason: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle({ ok: false, reason: `${helper} did not report ready within ${timeoutMs} ms` });
    }, timeoutMs);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('error', (err) => settle({ ok: false, reason: `cannot start ${helper}: ${err.message}` }));
    child.stdin.on('error', () => {});
    const notifier: MountNotifier = {
      pid: child.pid,
      watch: (key, nsPath) => child.stdin.write(`watch ${key} ${nsPath}\n`),
      unwatch: (key, nsPath) => child.stdin.write(`unwatch ${key}${nsPath ? ` ${nsPath}` : ''}\n`),
      close: () => {
        child.stdin.end();
        child.kill('SIGTERM');
      },
    };
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line: HelperLine;
      try {
        line = JSON.parse(text) as HelperLine;
      } catch {
        return;
      }
      if (!settled) {
        if (line.type === 'ready') settle({ ok: true, notifier });
        else if (line.type === 'unavailable') settle({ ok: false, reason: line.error });
        return;
      }
      handlers.onLine(line);
    });
    child.on('exit', (code, signal) => {
      const reason = `${helper} exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`;
      if (!settled) settle({ ok: false, reason });
      else handlers.onExit(reason);
    });
  });
}
