// Entry point of the run-time gate, bundled into the node; called by the
// integrity-runc wrapper on `runc create` only.
import { runtimeGateMain } from '../runtime-gate.ts';

process.exitCode = await runtimeGateMain(process.argv.slice(2));
