/**
 * Entry point of the webhook as it runs inside a lab node: the same
 * `integrity-lab admission serve` command, bundled (lab/node/bundle.ts) for
 * the node's own Node.js. Decision records go to stdout (the component
 * appends them to a JSONL log), progress to stderr.
 */
import { processIo } from '../../cli/command.ts';
import { command } from '../cli.ts';

process.exitCode = await command.run(['serve', ...process.argv.slice(2)], processIo);
