/**
 * `integrity-lab`: one binary, one subcommand per component.
 */
import { describeError, isLabError } from '../errors.ts';
import { processIo, type Command, type CliIo } from './command.ts';
import { command as lab } from './lab-command.ts';
import { command as sign } from './sign-command.ts';

async function loadCommands(): Promise<Command[]> {
  const commands: Command[] = [lab, sign];
  // Component commands are optional at load time so that one broken
  // component does not take the whole CLI down.
  for (const path of ['../verity/cli.ts', '../admission/cli.ts', '../audit/cli.ts', '../watchdog/cli.ts']) {
    try {
      const mod = (await import(path)) as { command?: Command };
      if (mod.command) commands.push(mod.command);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  return commands;
}

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const commands = await loadCommands();
  const [name, ...rest] = argv;
  const help = () => {
    io.err('usage: integrity-lab <command> [args]\n\ncommands:');
    for (const c of commands) io.err(`  ${c.name.padEnd(10)} ${c.summary}`);
  };
  if (!name || name === '--help' || name === '-h') {
    help();
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`unknown command "${name}"`);
    help();
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
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
