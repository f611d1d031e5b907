/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools): root on the
 * node who knows that the watchdog reports changes of the node gates stops
 * it first, then switches the gates off (the target's namespace out of
 * gates.json, the runtime wrapper replaced by one that execs runc), and
 * starts the watchdog again exactly as it was started (its command line,
 * read from /proc). A watchdog that pinned the gates at its own start would
 * pin the tampered state and take its protected namespaces from the edited
 * gates.json: the protected workload started next runs ungated, root writes
 * into its upperdir, and nothing is reported.
 *
 * What must catch it: the restarted watchdog, which compares with the pins
 * taken at lab start (lab/watchdog/defences.ts), not with what it finds.
 */
import { poll } from '../../wait.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import { replaceRuntimeWrapper, unprotectNamespace, ungatedWriteAfter } from './defence-tamper.ts';

/** Where the watchdog keeps its pid (lab/watchdog/config.ts): what root on the node finds with `ls /run`. */
const WATCHDOG_PID_FILE = '/run/integrity-lab/watchdog/watchdog.pid';

/** Stops the watchdog by its pid file; its command line, or undefined when none runs. */
export async function stopWatchdog(node: LabNodeHandle): Promise<{ pid: number; argv: string[] } | undefined> {
  const r = await node.exec.run(['sh', '-c', `pid=$(cat ${WATCHDOG_PID_FILE} 2>/dev/null) && [ -r /proc/$pid/cmdline ] && echo "$pid" && tr '\\0' '\\n' < /proc/$pid/cmdline`]);
  const [pid, ...argv] = r.stdout.toString().split('\n').filter(Boolean);
  if (r.exitCode !== 0 || !pid || !argv.some((a) => a.endsWith('watchdog.mjs'))) return undefined;
  await node.run(['sh', '-c', `kill ${pid}; for i in $(seq 50); do [ -d /proc/${pid} ] || exit 0; sleep 0.1; done; echo "pid ${pid} still runs after 5 s" >&2; exit 1`]);
  return { pid: Number(pid), argv };
}

/** Starts it again with the same command line; its new pid once it wrote its pid file. */
export async function startWatchdog(node: LabNodeHandle, argv: string[], previous: number): Promise<number | undefined> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await node.run(['sh', '-c', `setsid ${quoted} >>/var/log/integrity-lab/watchdog.log 2>&1 </dev/null &`]);
  const r = await poll(
    async () => Number((await node.exec.run(['cat', WATCHDOG_PID_FILE])).stdout.toString().trim()),
    (pid) => Number.isInteger(pid) && pid > 0 && pid !== previous,
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  return r.ok ? r.value : undefined;
}

export const watchdogRestartLaunder = ungatedWriteAfter('watchdog-restart-launder', async ({ node, workload }) => {
  const stopped = await stopWatchdog(node);
  const evidence: Record<string, unknown> = { watchdog: stopped ? { stoppedPid: stopped.pid, commandLine: stopped.argv } : 'none on this node' };
  Object.assign(evidence, await unprotectNamespace(node, workload.spec.namespace), await replaceRuntimeWrapper(node));
  if (stopped) evidence.restartedPid = (await startWatchdog(node, stopped.argv, stopped.pid)) ?? 'did not write its pid file within 15 s';
  return { evidence, what: stopped ? 'the watchdog was stopped, the gates switched off and the watchdog started again' : 'the gates (if any) were switched off' };
});
