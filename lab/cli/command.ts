/**
 * The shape of one `integrity-lab` subcommand. Each component exports its
 * own from `lab/<component>/cli.ts`; `lab/cli/main.ts` dispatches to them.
 */
export interface CliIo {
  /** Machine-readable output (results, JSON lines). */
  out(line: string): void;
  /** Human progress and errors. */
  err(line: string): void;
}

export interface Command {
  /** The word after `integrity-lab`, e.g. `verity`. */
  name: string;
  /** One line for `integrity-lab --help`. */
  summary: string;
  /** Full usage text, printed on `--help` and on a usage error. */
  usage: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: string[], io: CliIo): Promise<number>;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};
