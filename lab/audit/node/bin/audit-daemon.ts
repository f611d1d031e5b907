// Entry point of the audit daemon, bundled and run inside the audit sidecar:
//   node audit-daemon.mjs run [CONFIG]     evaluate the lab's events until stopped
//   node audit-daemon.mjs cleanup LAB_ID   remove the lab's kernel rules, print a JSON report
import { describeError } from '../../../errors.ts';
import { cleanupLab, runDaemon } from '../daemon-main.ts';

const [command, arg] = process.argv.slice(2);
try {
  if (command === 'run') {
    await runDaemon(arg);
  } else if (command === 'cleanup' && arg) {
    const report = await cleanupLab(arg);
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exitCode = report.remaining.length === 0 ? 0 : 1;
  } else {
    process.stderr.write('usage: audit-daemon.mjs run [CONFIG] | cleanup LAB_ID\n');
    process.exitCode = 2;
  }
} catch (err) {
  process.stderr.write(`audit-daemon: ${describeError(err)}\n`);
  process.exitCode = 1;
}
