/**
 * Running commands: on this host, or inside a lab node. Components that
 * shell out (mkfs.erofs, cosign, veritysetup, ctr) take an `Exec` so that the
 * same code runs locally in tests and inside the node in the lab.
 */
import { execa } from 'execa';
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

/** Runs commands on this machine (execa: no shell, bytes kept exactly as the command wrote them). */
export const localExec: Exec = {
  async run(argv, options = {}) {
    const [file, ...args] = argv;
    if (file === undefined) throw new LabError<ExecErrorCode>('EXEC_FAILED', 'empty command');
    const timeoutMs = options.timeoutMs ?? 120_000;
    const r = await execa(file, args, {
      cwd: options.cwd,
      env: options.env,
      // stdin is closed after the input (or at once), as a command reading it would expect.
      input: options.input ?? '',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      reject: false,
      encoding: 'buffer',
      stripFinalNewline: false,
      maxBuffer: Number.MAX_SAFE_INTEGER,
    });
    if (r.timedOut) throw new LabError<ExecErrorCode>('EXEC_TIMEOUT', `command timed out after ${timeoutMs} ms: ${argv.join(' ')}`);
    if (r.exitCode === undefined && r.signal === undefined) {
      // The command never ran (not found, not executable).
      const cause = r.cause as NodeJS.ErrnoException | undefined;
      const code = cause?.code === 'ENOENT' ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED';
      throw new LabError<ExecErrorCode>(code, `cannot run ${file}: ${cause?.message ?? r.shortMessage}`, { cause });
    }
    return {
      exitCode: r.exitCode ?? 128,
      stdout: Buffer.from(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength),
      stderr: Buffer.from(r.stderr.buffer, r.stderr.byteOffset, r.stderr.byteLength).toString('utf8'),
    };
  },
};
