/**
 * A thin shell around the real `veritysetup` binary, the peer that tests
 * and the benchmark compare lab/verity against. Only `format`, `verify` and
 * `dump` work on plain files on the lab hosts (no device-mapper).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export const VERITYSETUP_PATH = '/usr/sbin/veritysetup';

export interface PeerRun {
  /** The command line, for messages. */
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function veritysetupAvailable(path = VERITYSETUP_PATH): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Runs veritysetup and resolves with its exit code and output; never rejects on a non-zero exit. */
export function runVeritysetup(args: readonly string[], path = VERITYSETUP_PATH): Promise<PeerRun> {
  const command = [path, ...args].join(' ');
  return new Promise((resolve, reject) => {
    execFile(path, [...args], { encoding: 'utf8', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${command}: could not run (${String(err.code)}): ${err.message}`, { cause: err }));
        return;
      }
      resolve({ command, exitCode: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** The hex root hash from `veritysetup format` output ("Root hash:      \t<hex>"). */
export function rootHashFromOutput(stdout: string): string | undefined {
  return /^Root hash:\s+([0-9a-f]+)\s*$/m.exec(stdout)?.[1];
}

/** Describes a failed peer run: command, exit code and stderr. */
export function describeRun(run: PeerRun): string {
  return `${run.command} exited with ${run.exitCode}: ${run.stderr.trim() || '(no stderr)'}`;
}
