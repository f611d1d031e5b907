/**
 * Attack (T1562.001 Impair Defenses: Disable or Modify Tools, for T1525 and
 * T1565.001): root on the node kills the mount watchdog (SIGKILL, by the pid
 * of the process that runs its daemon file: no clean stop), then edits a
 * layer file of a running protected container in place, as
 * running-layer-tamper does. Only the watchdog re-verifies the layers of
 * running containers, so with it gone nothing on the node notices the
 * edit, and nothing says the watchdog is gone: the gates and the admission
 * webhook fail closed when they are gone, the watchdog fails silent.
 *
 * What must catch it: the audit daemon, which watches the watchdog's
 * process from outside the node (its own container, in the host's PID
 * namespace: lab/audit/node/defence-liveness.ts) and raises a Critical
 * alert when it stops, naming the containers left unwatched.
 */
import { DAEMON_PATH } from '../../watchdog/config.ts';
import { awaitAuditAlerts, WATCHDOG_STOPPED_RULE } from '../../audit/index.ts';
import { awaitWatchdogAlerts, watchdogGraceMs } from '../../watchdog/index.ts';
import type { LabNodeHandle } from '../../node/index.ts';
import type { Technique, TechniqueContext, TechniqueResult } from '../technique.ts';
import { requirePod } from './common.ts';
import { tamperLayerFile } from './layer-file-tamper.ts';

/** Pids of the node's processes whose argv[1] is the watchdog's daemon file, as root finds them (/proc). */
const FIND = `for p in /proc/[0-9]*; do
  [ "$(tr '\\0' '\\n' < "$p/cmdline" 2>/dev/null | sed -n 2p)" = "$1" ] && echo "\${p#/proc/}"
done; true`;

/** The pids of every process of the node that runs the watchdog's daemon file (none on a node without a watchdog). */
export async function watchdogPids(node: LabNodeHandle): Promise<number[]> {
  const found = await node.exec.run(['sh', '-c', FIND, 'find', DAEMON_PATH]);
  return found.stdout.toString().split('\n').filter((l) => /^[1-9][0-9]*$/.test(l)).map(Number);
}

/** How root puts the watchdog out of action, and (when the lab could not tear the node down otherwise) how the harness lets it go afterwards. */
export interface WatchdogSilencer {
  /** What was done, for the reason and the evidence: "killed with SIGKILL". */
  done: string;
  /** Puts every watchdog process of the node out of action and waits until it is; throws when it could not. */
  apply(node: LabNodeHandle, pids: readonly number[]): Promise<Record<string, unknown>>;
  /** Run once the evidence is in, whatever happened: the harness's cleanup, not the attacker's. */
  release?(node: LabNodeHandle, pids: readonly number[]): Promise<void>;
  /**
   * The watchdog still runs afterwards (starved, not stopped): the attack
   * gives it one re-verification period to report the edit before it is let
   * go, so that the evidence shows what the starvation did.
   */
  stillRuns?: boolean;
}

/** What each signal leaves of the watchdog, as /proc/<pid>/status says: gone or a zombie after KILL, state T after STOP. */
const AFTER = { KILL: 'grep -qs "^State:[[:space:]]*[^Z]" "/proc/$1/status" || exit 0', STOP: 'grep -qs "^State:[[:space:]]*T" "/proc/$1/status" && exit 0' } as const;

/** SIGKILL or SIGSTOP to each watchdog process, waiting until it is dead or stopped. */
export function signalling(signal: keyof typeof AFTER, done: string): WatchdogSilencer {
  return {
    done: `${done} with SIG${signal}`,
    async apply(node, pids) {
      for (const pid of pids) {
        const r = await node.exec.run(['sh', '-c', `kill -${signal} "$1" && for i in $(seq 50); do ${AFTER[signal]}; sleep 0.1; done; exit 1`, 'signal', String(pid)]);
        if (r.exitCode !== 0) throw new Error(`the watchdog (pid ${pid}) on ${node.name} was not ${done} 5 s after SIG${signal}: ${r.stderr.toString().trim() || 'no error from kill'}`);
      }
      return { signal: `SIG${signal}` };
    },
  };
}

/**
 * The attack once the watchdog is out of action: a running layer edited in
 * place, and the audit daemon's alert waited for (when the node has one).
 */
export async function tamperWithoutWatchdog(ctx: TechniqueContext, silencer: WatchdogSilencer): Promise<TechniqueResult> {
  const { node, attack, pods } = ctx;
  const since = new Date(Date.now() - 1000);
  const pod = requirePod(pods, attack);
  const pids = await watchdogPids(node);
  try {
    const how = await silencer.apply(node, pids);
    const result = await tamperLayerFile(node, pod, attack);
    // The audit daemon checks twice a second; its alert, when the node has one.
    const auditAlerts = await awaitAuditAlerts(node, since, { rule: WATCHDOG_STOPPED_RULE });
    // What the watchdog itself reported meanwhile (nothing, when it was put out of action): evidence, not a verdict.
    const watchdogReports = !pids.length
      ? []
      : silencer.stillRuns
        ? (await awaitWatchdogAlerts(node, { since, timeoutMs: watchdogGraceMs(node, 'layer', ctx.workload.spec.namespace), predicate: (a) => a.kind === 'layer' && a.container === pod.containers[0]?.id })).map((a) => JSON.stringify(a))
        : (await node.detections(since)).filter((d) => d.component === 'watchdog').map((d) => `${d.time} ${d.message}`);
    const what = pids.length ? `the mount watchdog (pid ${pids.join(', ')}) was ${silencer.done}` : 'no mount watchdog runs on this node';
    return {
      effect: result.effect,
      reason: result.effect
        ? `${what}; then the running container read the attacker's bytes from ${attack.spec.target.path}`
        : `${what}; the running container still reads the original ${attack.spec.target.path}`,
      evidence: { watchdogSilenced: { ...how, pids, reportsWhileSilenced: watchdogReports }, ...result.evidence, auditAlerts },
    };
  } finally {
    if (pids.length) await silencer.release?.(node, pids);
  }
}

export const watchdogKill: Technique = {
  name: 'watchdog-kill',
  run: (ctx) => tamperWithoutWatchdog(ctx, signalling('KILL', 'killed')),
};
