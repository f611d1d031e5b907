// Entry point of the application image checker, bundled into the node and
// started by the gate daemon once per application container (app-checker.ts).
import { appCheckerMain, nodeAppCheckDeps } from '../app-checker.ts';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const outcome = await appCheckerMain(Buffer.concat(chunks).toString('utf8'), nodeAppCheckDeps());
process.stdout.write(JSON.stringify(outcome) + '\n');
