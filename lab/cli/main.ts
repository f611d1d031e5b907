/**
 * `integrity-lab`: one binary, one subcommand per component.
 *
 * Each subcommand's module is imported only when that subcommand runs:
 * `lab` pulls in testcontainers and gRPC (about a second of module loading),
 * which `--help` or `verity format` must not pay for. The one-line summaries
 * therefore live here, next to the loader.
 */
import { describeError, isLabError } from '../errors.ts';
import { processIo, type Command, type CliIo } from './command.ts';

interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'lab', summary: 'start, inspect, enter and remove lab nodes by hand', load: async () => (await import('./lab-command.ts')).command },
  {
    name: 'sign',
    summary: 'Lab PKI, attached image signatures with dm-verity root hashes, and their verification',
    load: async () => (await import('./sign-command.ts')).command,
  },
  {
    name: 'verity',
    summary: 'dm-verity hash trees compatible with veritysetup: format, verify, root-hash',
    load: async () => (await import('../verity/cli.ts')).command,
  },
  {
    name: 'admission',
    summary: 'Validating admission webhook: serve it, or run policy suites offline',
    load: async () => (await import('../admission/cli.ts')).command,
  },
  {
    name: 'audit',
    summary: 'Falco-format rules engine: check rules, evaluate events, read alerts',
    load: async () => (await import('../audit/cli.ts')).command,
  },
  { name: 'watchdog', summary: 'alerts and status of the mount watchdog on a lab node', load: async () => (await import('../watchdog/cli.ts')).command },
  { name: 'results', summary: "verify a conformance run's results bundle (reports/latest/results.tar)", load: async () => (await import('./results-command.ts')).command },
];

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  const help = () => {
    io.err('usage: integrity-lab <command> [args]\n\ncommands:');
    for (const c of COMMANDS) io.err(`  ${c.name.padEnd(10)} ${c.summary}`);
  };
  if (!name || name === '--help' || name === '-h') {
    help();
    return name ? 0 : 2;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.err(`unknown command "${name}"`);
    help();
    return 2;
  }
  const command = await entry.load();
  // Options after `--` belong to the command being run (`lab shell ID -- ls --help`).
  const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (own.includes('--help') || own.includes('-h')) {
    io.err(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    io.err(`integrity-lab ${name}: ${describeError(err)}`);
    return isLabError(err) ? 1 : 70;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
