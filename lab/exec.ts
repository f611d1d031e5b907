/**
 * Running commands: on this host, or inside a lab node. Components that
 * shell out (mkfs.erofs, cosign, veritysetup, ctr) take an `Exec` so that the
 * same code runs locally in tests and inside the node in the lab.
 */
import { spawn } from 'node:child_process';
import { LabError } from './errors.ts';

export type ExecErrorCode = 'EXEC_FAILED' | 'EXEC_TIMEOUT' | 'EXEC_NOT_FOUND';

export interface ExecOptions {
  /** Bytes written to the command's stdin, then closed. */
  input?: Buffer | string;
  /** Kill the command after this many milliseconds. Default: 120000. */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

export interface Exec {
  /** Runs `argv` and resolves with its result whatever the exit code. */
  run(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}

/** Like `exec.run`, but a non-zero exit throws EXEC_FAILED with the command, code and stderr. */
export async function runChecked(exec: Exec, argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
  const result = await exec.run(argv, options);
  if (result.exitCode !== 0) {
    throw new LabError<ExecErrorCode>(
      'EXEC_FAILED',
      `command failed with exit code ${result.exitCode}: ${argv.join(' ')}\n${result.stderr.trim()}`,
    );
  }
  return result;
}

/** Runs commands on this machine. */
export const localExec: Exec = {
  run(argv, options = {}) {
    const [file, ...args] = argv;
    if (file === undefined) throw new LabError<ExecErrorCode>('EXEC_FAILED', 'empty command');
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const timeoutMs = options.timeoutMs ?? 120_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new LabError<ExecErrorCode>('EXEC_TIMEOUT', `command timed out after ${timeoutMs} ms: ${argv.join(' ')}`));
      }, timeoutMs);
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = e.code === 'ENOENT' ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED';
        reject(new LabError<ExecErrorCode>(code, `cannot run ${file}: ${e.message}`, { cause: e }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({
          exitCode: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(out),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
      child.stdin.on('error', () => {}); // the command may exit before reading its input
      child.stdin.end(options.input ?? '');
    });
  },
};
