/**
 * Long commands (image builds, `go build`, `kind create cluster`): their
 * output lines become throttled progress, and the tail is kept so that a
 * failure names the command, its exit code and its last lines.
 */
import { spawn } from 'node:child_process';
import { LabError } from './errors.ts';
import type { Phase, ProgressListener } from './progress.ts';

export interface StreamedOptions<Code extends string> {
  progress: ProgressListener;
  /** Phase of the progress lines. */
  phase: Phase;
  /** What the command is doing, for progress lines and the error message. */
  label: string;
  /** Error code thrown when the command cannot run or exits non-zero. */
  errorCode: Code;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A stream piped to the command's stdin. */
  input?: NodeJS.ReadableStream;
  /** Minimum time between two progress lines. Default 5000 ms. */
  everyMs?: number;
  /** Lines kept for the error message. Default 15. */
  tailLines?: number;
}

/** Runs `argv`; resolves with the kept tail of its output on exit code 0. */
export function runStreamed<Code extends string>(argv: readonly string[], options: StreamedOptions<Code>): Promise<string[]> {
  const { progress, phase, label, errorCode } = options;
  const everyMs = options.everyMs ?? 5_000;
  const keep = options.tailLines ?? 15;
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    if (options.input && child.stdin) options.input.pipe(child.stdin);
    const tail: string[] = [];
    let lastShown = 0;
    let lines = 0;
    const onLine = (line: string) => {
      lines++;
      tail.push(line);
      if (tail.length > keep) tail.shift();
      const now = Date.now();
      if (now - lastShown > everyMs && line.trim()) {
        lastShown = now;
        progress({ phase, status: 'INFO', message: `${label}: ${line.trim().slice(0, 100)} (${lines} lines)` });
      }
    };
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      parts.forEach(onLine);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('error', (e) => reject(new LabError<Code>(errorCode, `${label}: cannot run ${file}: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      if (buffered) onLine(buffered);
      if (code === 0) return resolve(tail);
      const how = code === null ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new LabError<Code>(errorCode, `${label} failed: \`${argv.join(' ')}\` ${how}. Last output:\n${tail.join('\n')}`));
    });
  });
}
