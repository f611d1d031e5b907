// Entry point of the mount watchdog daemon, bundled into the node and
// started by the watchdog component (lab/watchdog/component.ts).
import { localExec } from '../../exec.ts';
import { describeError } from '../../errors.ts';
import { loadWatchdogConfig } from '../config.ts';
import { realDaemonDeps, WatchdogDaemon } from '../daemon.ts';
import { startNotifier } from '../notify.ts';
import { nodeView } from '../proc.ts';
import { fileIdentity, rootHashOf } from '../reverify.ts';
import { applicationTrust } from '../../gates/app-image.ts';
import { nodeAppCheckDeps } from '../../gates/app-checker.ts';

let config;
try {
  config = loadWatchdogConfig(process.argv[2]);
} catch (err) {
  process.stderr.write(`watchdog: ${describeError(err)}\n`);
  process.exit(2);
}
const daemon = new WatchdogDaemon(
  config,
  realDaemonDeps(nodeView, localExec, {
    startNotifier,
    hash: rootHashOf,
    // The same references the start gate's application check derives (and caches by blob identity).
    applicationTrust: (image) => applicationTrust(image, nodeAppCheckDeps(localExec)),
    fileIdentity: (f) => {
      try {
        return fileIdentity(f);
      } catch {
        return undefined;
      }
    },
  }),
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    daemon.stop();
    process.exit(0);
  });
}
process.on('uncaughtException', (err) => daemon.error(undefined, `uncaught: ${describeError(err)}`));
process.on('unhandledRejection', (err) => daemon.error(undefined, `unhandled rejection: ${describeError(err)}`));
await daemon.start();
