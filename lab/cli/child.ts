/**
 * Runs a child process on this terminal, as the runners do (cucumber-js,
 * node --test, the Allure CLI). SIGINT and SIGTERM are passed on to it,
 * and this process waits for it: cucumber-js removes its labs when it is
 * interrupted, and dying first would leave its output (and a Ctrl-C user's
 * prompt) in the middle of that, or, for a SIGTERM sent to the runner
 * alone, leave its labs running. A child that got the signal from the
 * terminal as well takes it once (the lab's handler ignores a second).
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';

let interrupted: NodeJS.Signals | undefined;

/** The signal this process got while a child ran, if any. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return interrupted;
}

/** Resolves with the child's exit code: 130 when a signal ended it, 127 when it could not start. */
export function runChild(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: options.cwd, stdio: 'inherit', env: { ...process.env, ...options.env } });
    const passOn = (signal: NodeJS.Signals) => {
      if (!interrupted) process.stderr.write(`CLEANUP   RUN   ${signal}: waiting for ${basename(file)} to stop and remove what it started\n`);
      interrupted ??= signal;
      child.kill(signal);
    };
    process.on('SIGINT', passOn).on('SIGTERM', passOn);
    const done = (code: number) => {
      process.off('SIGINT', passOn).off('SIGTERM', passOn);
      resolve(code);
    };
    child.on('close', (code, signal) => done(code ?? (signal ? 130 : 1)));
    child.on('error', (e) => {
      process.stderr.write(`cannot run ${file}: ${e.message}\n`);
      done(127);
    });
  });
}
