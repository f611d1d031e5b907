/**
 * Running commands: on this host, or inside a lab node. Components that
 * shell out (mkfs.erofs, cosign, veritysetup, ctr) take an `Exec` so that the
 * same code runs locally in tests and inside the node in the lab.
 */
import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { execa } from 'execa';
import { dockerEngine } from './engine.ts';
import { LabError } from './errors.ts';
import { poll } from './wait.ts';

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

/**
 * Runs commands inside a running container, as `docker exec` does, through
 * the Docker Engine API: no docker CLI process per command. A lab scenario
 * runs dozens of commands in its node; each `docker exec` cost a fork of the
 * harness's large process and a docker CLI start, together about as much CPU
 * as the rest of the scenario's harness work (docs/benchmarks.md, "Commands
 * in the node").
 *
 * Results are what the docker CLI gives: the command's exit code, stdout
 * bytes exactly, stderr; a container that does not exist or does not run is
 * exit code 1 with the daemon's message on stderr; a command that cannot be
 * started is 126 or 127 with the runtime's message on stderr. `env` and `cwd`
 * apply inside the container. On timeout the result is EXEC_TIMEOUT; as with
 * the CLI, the command itself is not killed (the Engine API cannot).
 */
export function containerExec(container: string): Exec {
  return { run: (argv, options = {}) => runInContainer(container, argv, options) };
}

async function runInContainer(container: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  if (argv.length === 0) throw new LabError<ExecErrorCode>('EXEC_FAILED', 'empty command');
  const timeoutMs = options.timeoutMs ?? 120_000;
  const withInput = options.input !== undefined;
  const client = await dockerEngine();
  let exec: Docker.Exec;
  let stream: Duplex;
  try {
    exec = await client.getContainer(container).exec({
      Cmd: [...argv],
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: withInput,
      Env: options.env && Object.entries(options.env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: options.cwd,
    });
    stream = (await exec.start({ hijack: true, stdin: withInput })) as Duplex;
  } catch (err) {
    const e = err as { statusCode?: number; json?: { message?: string }; message: string; code?: string };
    if (e.statusCode === undefined) {
      throw new LabError<ExecErrorCode>('EXEC_FAILED', `cannot reach the Docker engine to run \`${argv.join(' ')}\` in ${container}: ${e.message}`, { cause: err });
    }
    return { exitCode: 1, stdout: Buffer.alloc(0), stderr: `Error response from daemon: ${e.json?.message ?? e.message}\n` };
  }
  const out: Buffer[] = [];
  const errOut: Buffer[] = [];
  const stdout = new PassThrough().on('data', (b: Buffer) => out.push(b));
  const stderr = new PassThrough().on('data', (b: Buffer) => errOut.push(b));
  client.modem.demuxStream(stream, stdout, stderr);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve, reject) => {
        stream.once('end', resolve).once('close', resolve).once('error', reject);
        if (withInput) stream.end(options.input);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LabError<ExecErrorCode>('EXEC_TIMEOUT', `command timed out after ${timeoutMs} ms: ${argv.join(' ')}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    stream.destroy();
  }
  // The exit code is recorded as the stream closes; wait the moment it may take.
  const info = (await poll(() => exec.inspect(), (i) => !i.Running, { timeoutMs: 1000, intervalMs: 5 })).value!;
  let stdoutBytes = Buffer.concat(out);
  let stderrText = Buffer.concat(errOut).toString('utf8');
  const exitCode = info.ExitCode ?? 128;
  if ((exitCode === 126 || exitCode === 127) && stderrText === '' && stdoutBytes.toString('utf8').startsWith('OCI runtime exec failed')) {
    // The runtime's own refusal arrives on the output stream; the CLI shows it on stderr.
    stderrText = stdoutBytes.toString('utf8');
    stdoutBytes = Buffer.alloc(0);
  }
  return { exitCode, stdout: stdoutBytes, stderr: stderrText };
}
