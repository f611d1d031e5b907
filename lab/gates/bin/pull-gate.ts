// Entry point of the pull gate executable, bundled into the node.
import { pullGateMain } from '../pull-gate.ts';

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
process.exitCode = await pullGateMain(process.argv.slice(2), Buffer.concat(chunks), (line) => process.stdout.write(line + '\n'));
