// Entry point of the mount watchdog daemon, bundled into the node and
// started by the watchdog component (lab/watchdog/component.ts).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { localExec } from '../../exec.ts';
import { describeError } from '../../errors.ts';
import { loadWatchdogConfig, parseWatchdogConfig, PINS_FILE, WATCHDOG_CONFIG_PATH } from '../config.ts';
import { configToRun, defenceFiles, parsePins, takePins } from '../defences.ts';
import { pinLocalhostProfiles } from '../../gates/seccomp-reference.ts';
import { realDaemonDeps, WatchdogDaemon } from '../daemon.ts';
import { apiRecords } from '../../gates/containerd-records.ts';
import { criIdentities } from '../../cri/identity.ts';
import { startNotifier } from '../notify.ts';
import { nodeView } from '../proc.ts';
import { fileIdentity, rootHashOf } from '../reverify.ts';
import { applicationTrust } from '../../gates/app-image.ts';
import { nodeAppCheckDeps } from '../../gates/app-checker.ts';

// `--pin CONFIG`: take the lab-start pins (defences.ts), once; an existing pin file is never replaced.
const pinOnly = process.argv[2] === '--pin';
let config;
try {
  const path = process.argv[pinOnly ? 3 : 2] ?? WATCHDOG_CONFIG_PATH;
  if (pinOnly) config = loadWatchdogConfig(path);
  else {
    // The lab-start pins (at their fixed place: an edited config could name another) carry the configuration the lab wrote.
    const read = (p: string) => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    };
    const pinsText = read(PINS_FILE);
    let pins;
    try {
      pins = pinsText === undefined ? undefined : parsePins(pinsText, PINS_FILE);
    } catch {
      pins = undefined; // the daemon reports unusable pins itself (pins-missing)
    }
    const chosen = configToRun(read(path), pins);
    if (chosen.note) process.stderr.write(`watchdog: ${chosen.note}\n`);
    config = chosen.source === 'pins' ? parseWatchdogConfig(chosen.text!, `${PINS_FILE} (watchdogConfig)`) : loadWatchdogConfig(path);
  }
} catch (err) {
  process.stderr.write(`watchdog: ${describeError(err)}\n`);
  process.exit(2);
}
if (pinOnly) {
  // The node's Localhost seccomp profiles are pinned with the gates' files.
  const pins = takePins((p) => nodeView.readBytes(p), config.gatesConfigFile, new Date(), defenceFiles([...pinLocalhostProfiles().keys()]), process.argv[3] ?? WATCHDOG_CONFIG_PATH);
  try {
    mkdirSync(dirname(config.pinsFile), { recursive: true, mode: 0o700 });
    writeFileSync(config.pinsFile, JSON.stringify(pins, null, 2), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    process.stderr.write(`watchdog: cannot write the pins to ${config.pinsFile}: ${describeError(err)}\n`);
    process.exit(1);
  }
  process.stdout.write(`watchdog: pinned ${Object.keys(pins.files).length} files in ${config.pinsFile}\n`);
  process.exit(0);
}
const daemon = new WatchdogDaemon(
  config,
  realDaemonDeps(nodeView, localExec, {
    startNotifier,
    hash: rootHashOf,
    // The same references the start gate's application check derives (and caches by blob identity).
    applicationTrust: (image) => applicationTrust(image, nodeAppCheckDeps(localExec)),
    // Over containerd's API, one connection for the daemon's life: a task's identity and recorded spec at discovery.
    records: apiRecords(config.containerd),
    // And CRI's memory of each workload container, on the same socket.
    cri: criIdentities(config.containerd.address),
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
